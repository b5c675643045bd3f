#!/usr/bin/env bash
# Builds the go-oidc relying party offline, from Debian's packages only, as
# tests/verifiers/go/build.sh does: Debian's Go and its packaged libraries in
# /usr/share/gocode, in GOPATH mode (no modules, no module proxy).
#
# usage: tests/rps/go/build.sh [OUTPUT]   (default: target/rps/tessera-rp-go)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$repo/target/rps/tessera-rp-go}"

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
  GOCACHE="${GOCACHE:-$repo/target/rps/go-build-cache}" \
  go build -o "$out" main.go
echo "$out"
