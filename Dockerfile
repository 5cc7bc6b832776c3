# Multi-stage build: compile in the Rust image, run in a slim Debian.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY config config
# The login page's templates and stylesheet are compiled into the binary.
COPY templates templates
COPY assets assets
# Declared in Cargo.toml, so cargo wants them present even to build the binary alone.
COPY benches benches
RUN cargo build --release --locked --bin tessera

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/tessera --create-home tessera
WORKDIR /var/lib/tessera
COPY --from=build /src/target/release/tessera /usr/local/bin/tessera
COPY config config
RUN mkdir -p data keys && chown tessera:tessera data keys
USER tessera
ENV TESSERA_SERVER__LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["tessera"]
CMD ["serve"]
