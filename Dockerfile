# syntax=docker/dockerfile:1
# One image, one program: `boltfleet`, the entrypoint; the arguments pick the role
# (`worker run`, `collector run`, `dashboard`, `train --wait`, ...).
# Dependencies are compiled in their own layer (cargo-chef), so a source change rebuilds
# only the workspace's crates.

FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked -p boltfleet --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p boltfleet \
    && cp target/release/boltfleet /usr/local/bin/

FROM debian:bookworm-slim AS runtime
# CA certificates for S3 and Postgres over TLS; nothing else is needed at run time. Left
# unpinned on purpose: certificate updates should reach every rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin boltfleet
COPY --from=builder /usr/local/bin/boltfleet /usr/local/bin/
COPY data/sample /usr/share/boltfleet/sample
USER 10001
# `boltfleet demo` ingests these when given no file.
ENV RUST_LOG=info BOLTFLEET_SAMPLES=/usr/share/boltfleet/sample
ENTRYPOINT ["boltfleet"]
CMD ["worker", "run"]
