# Build stage: a release binary (migrations are embedded in it).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tessera

# Runtime stage: the binary alone, run as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/tessera tessera
COPY --from=build /src/target/release/tessera /usr/local/bin/tessera
USER tessera
WORKDIR /var/lib/tessera
ENV TESSERA_LISTEN=0.0.0.0:4000
EXPOSE 4000
# The runtime image's /bin/sh is dash (no /dev/tcp): the binary checks itself, asking
# TESSERA_LISTEN's /healthz (tests/api/container.rs runs this very command).
HEALTHCHECK CMD ["tessera", "healthcheck"]
ENTRYPOINT ["tessera"]
CMD ["serve"]
