# Multi-stage build: compile in the Rust image, ship the binary alone in a
# distroless image (glibc, CA certificates, no shell): about 25 MB.
#
#   docker build -t logagent:0.1.0 .
#   docker run --rm -v /var/log:/var/log:ro -v logagent-data:/var/lib/logagent \
#     -v $PWD/pipelines/elasticsearch.toml:/etc/logagent/pipeline.toml:ro logagent:0.1.0
FROM rust:1-bookworm AS build
WORKDIR /src
# The workspace: the application (src/) and its library crates (crates/). The
# registry and target caches persist between builds (BuildKit), so a source
# edit does not rebuild the dependencies.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY src ./src
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin logagent \
    && strip target/release/logagent && cp target/release/logagent /logagent

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /logagent /usr/local/bin/logagent
COPY pipelines/ /etc/logagent/examples/
# Reading node logs under hostPath usually needs root; override with
# securityContext.runAsUser where the files allow it.
USER 0
ENV LOGAGENT_PIPELINE=/etc/logagent/pipeline.toml
EXPOSE 8686
ENTRYPOINT ["/usr/local/bin/logagent"]
