# syntax=docker/dockerfile:1
#
# scorestream image: a static Go binary on scratch (plus CA certificates for TLS),
# running as the unprivileged uid 65532.
#
#   docker build -t scorestream/scorestream:dev .
#   docker run --rm scorestream/scorestream:dev --help
#
# The config and the model are not baked in: mount them (see deploy/kubernetes and
# docker-compose.yml). Default command: scorestream run -c /etc/scorestream/config.yaml.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so a source change does not re-download modules.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" \
      -o /out/scorestream ./cmd/scorestream
# state.dir's mount point, owned by the runtime user: a volume mounted there (compose
# named volume) starts with this ownership, so checkpoints can be written.
RUN mkdir -p /out/state

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/scorestream /usr/local/bin/scorestream
COPY --from=build --chown=65532:65532 /out/state /var/lib/scorestream
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/scorestream"]
CMD ["run", "-c", "/etc/scorestream/config.yaml"]
