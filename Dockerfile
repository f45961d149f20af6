# syntax=docker/dockerfile:1
#
# scorestream images, both running as the unprivileged uid 65532:
#
#   default (last stage, "static"): a static Go binary on scratch, plus CA
#     certificates for TLS. Serves logistic, XGBoost and LightGBM models.
#       docker build -t scorestream/scorestream:dev .
#   "onnx": a cgo build with -tags onnx on a glibc base (Debian) carrying the
#     onnxruntime C library. Serves ONNX models as well.
#       docker build --target onnx -t scorestream/scorestream:dev-onnx .
#
#   docker run --rm scorestream/scorestream:dev --help
#   docker run --rm scorestream/scorestream:dev-onnx version   # formats: ..., onnx
#
# Both binaries are built by scripts/build.sh, the same command the ONNX test
# (scripts/test-onnx.sh) builds and scores with. The config and the model are not
# baked in: mount them (see deploy/kubernetes and docker-compose.yml). Default
# command: scorestream run -c /etc/scorestream/config.yaml.
#
# VERSION and REVISION (build args) stamp `scorestream version` and the
# scorestream_build_info metric, e.g.
#   docker build --build-arg VERSION=v1.2.0 --build-arg REVISION=$(git rev-parse HEAD) .

FROM golang:1.26-trixie AS build
WORKDIR /src
# Dependencies first, so a source change does not re-download modules.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    VERSION=$VERSION REVISION=$REVISION scripts/build.sh /out/scorestream
# state.dir's mount point, owned by the runtime user: a volume mounted there (compose
# named volume) starts with this ownership, so checkpoints can be written.
RUN mkdir -p /out/state

# The ONNX build: cgo against glibc, and the onnxruntime library the Go binding
# expects (scripts/onnxruntime.sh takes it from the onnxruntime wheel).
FROM golang:1.26-trixie AS build-onnx
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    VERSION=$VERSION REVISION=$REVISION scripts/build.sh --onnx /out/scorestream && \
    cp "$(SCORESTREAM_CACHE=/tmp/ort PIP_BREAK_SYSTEM_PACKAGES=1 scripts/onnxruntime.sh)" /out/libonnxruntime.so

FROM debian:trixie-slim AS onnx
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build-onnx /out/libonnxruntime.so /usr/local/lib/libonnxruntime.so
COPY --from=build-onnx /out/scorestream /usr/local/bin/scorestream
ENV SCORESTREAM_ONNXRUNTIME_LIB=/usr/local/lib/libonnxruntime.so
RUN mkdir -p /var/lib/scorestream && chown 65532:65532 /var/lib/scorestream
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/scorestream"]
CMD ["run", "-c", "/etc/scorestream/config.yaml"]

FROM scratch AS static
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/scorestream /usr/local/bin/scorestream
COPY --from=build --chown=65532:65532 /out/state /var/lib/scorestream
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/scorestream"]
CMD ["run", "-c", "/etc/scorestream/config.yaml"]
