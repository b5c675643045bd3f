#!/usr/bin/env bash
# Builds the go-oidc verifier offline, from Debian's packages only: Debian's Go toolchain
# and its packaged Go libraries in /usr/share/gocode, in GOPATH mode (no modules, so no
# module proxy is ever asked for anything).
#
# usage: tests/verifiers/go/build.sh [OUTPUT]   (default: target/verifiers/tessera-verifier-go)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$repo/target/verifiers/tessera-verifier-go}"

# golang-go (Go 1.19 on bookworm) and go-oidc v2 with its dependencies
# (go-jose.v2, x/oauth2, pquerna/cachecontrol, ...), all as Debian packages.
if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/github.com/coreos/go-oidc ]; then
  export DEBIAN_FRONTEND=noninteractive
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends golang-go golang-github-coreos-go-oidc-dev >/dev/null
fi

mkdir -p "$(dirname "$out")"
cd "$here"
GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOTOOLCHAIN=local \
  GOCACHE="${GOCACHE:-$repo/target/verifiers/go-build-cache}" \
  go build -o "$out" main.go
echo "$out"
