# Seshat host as a container: a static binary on distroless, run as the
# non-root user 65532, its data in the /data volume, listening on every
# interface (inside a container the loopback default is unreachable).
#
#   make image                       # or: docker build -t seshat .
#   docker run -p 8090:8090 -v seshat-data:/data seshat
#
# Settings come from SESHAT_* variables (docker run -e) or a mounted
# configuration file (-e SESHAT_CONFIG=/etc/seshat/seshat.toml).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/seshat ./cmd/seshat
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/seshat /usr/local/bin/seshat
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV SESHAT_DATA_DIR=/data SESHAT_ADDR=:8090
VOLUME ["/data"]
EXPOSE 8090
HEALTHCHECK --interval=30s --timeout=6s --start-period=10s --retries=3 CMD ["/usr/local/bin/seshat", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/seshat"]
CMD ["-addr", ":8090"]
