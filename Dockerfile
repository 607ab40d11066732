# meshgen's container images: two targets of one Dockerfile, built from the repository root.
#
#   docker build --target meshgen    -t meshgen:0.1.0 .         # the CLI, for CI and laptops
#   docker build --target argocd-cmp -t meshgen-argocd:0.1.0 .  # the Argo CD plugin sidecar
#
# `meshgen`: the binary as ENTRYPOINT with the default features (including the `cluster`
# client of `meshgen diff --cluster`), CA certificates, a non-root user, on Debian slim (a
# shell, so CI systems that run scripts in the image can use it).
# `argocd-cmp`: the binary without the cluster client (the plugin never reads a cluster), as
# user 999 with plugin.yaml where argocd-cmp-server looks for it; argocd-cmp-server itself
# comes from Argo CD's image through the /var/run/argocd volume (docs/argocd.md,
# deploy/argocd/repo-server-patch.yaml).
#
# Each build compiles the dependencies in a layer of their own, keyed on Cargo.toml and
# Cargo.lock only, so a change to meshgen's sources recompiles meshgen alone.
# tests/docker.rs checks these promises statically (no image is built by the tests).

# The crate's rust-version (Cargo.toml): the oldest toolchain that builds it.
ARG RUST_VERSION=1.88
ARG DEBIAN_RELEASE=bookworm

# ---- Manifests and empty targets: what the dependency layers depend on -------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS manifests
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Every target Cargo.toml declares must exist for cargo to read it; empty ones suffice to
# build the dependencies.
RUN mkdir -p src benches examples tests \
 && for f in src/main.rs benches/pipeline.rs examples/gen_inventory.rs tests/main.rs; do echo 'fn main() {}' > "$f"; done \
 && touch src/lib.rs

# ---- The CLI: default features ------------------------------------------------------------
FROM manifests AS build-meshgen
RUN cargo build --release --locked --bin meshgen
COPY src src
COPY templates templates
# COPY keeps the files' modification times, which may be older than the empty targets just
# built: touch the roots so cargo rebuilds meshgen instead of shipping the empty one.
RUN touch src/lib.rs src/main.rs \
 && cargo build --release --locked --bin meshgen \
 && install -D -m 0755 target/release/meshgen /out/meshgen \
 && /out/meshgen --version

# ---- The Argo CD plugin: no cluster client --------------------------------------------------
FROM manifests AS build-argocd-cmp
RUN cargo build --release --locked --bin meshgen --no-default-features --features mimalloc
COPY src src
COPY templates templates
RUN touch src/lib.rs src/main.rs \
 && cargo build --release --locked --bin meshgen --no-default-features --features mimalloc \
 && install -D -m 0755 target/release/meshgen /out/meshgen \
 && /out/meshgen --version

# ---- Target `meshgen` ---------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS meshgen
# CA certificates: `diff --cluster` verifies API servers whose kubeconfig names no CA.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 meshgen \
 && useradd --uid 10001 --gid 10001 --home-dir /home/meshgen --create-home --shell /usr/sbin/nologin meshgen
COPY --from=build-meshgen /out/meshgen /usr/local/bin/meshgen
COPY LICENSE /usr/share/doc/meshgen/LICENSE
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# Mount the project here: docker run --rm -v "$PWD:/work" meshgen:0.1.0 check
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/meshgen"]
CMD ["--help"]

# ---- Target `argocd-cmp` ------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS argocd-cmp
# The user argocd-cmp-server runs as (999), with the home it keeps its socket and
# configuration under.
RUN groupadd --gid 999 argocd \
 && useradd --uid 999 --gid 999 --home-dir /home/argocd --create-home --shell /usr/sbin/nologin argocd \
 && mkdir -p /home/argocd/cmp-server/config /home/argocd/cmp-server/plugins \
 && chown -R 999:999 /home/argocd
COPY --from=build-argocd-cmp /out/meshgen /usr/local/bin/meshgen
COPY LICENSE /usr/share/doc/meshgen/LICENSE
# Also baked in, so the image works without the ConfigMap the kustomize Component mounts
# over it.
COPY deploy/argocd/plugin.yaml /home/argocd/cmp-server/config/plugin.yaml
USER 999:999
WORKDIR /home/argocd
# Mounted from the repo-server's image (the var-files volume); the sidecar's `command` in
# repo-server-patch.yaml says the same.
ENTRYPOINT ["/var/run/argocd/argocd-cmp-server"]
