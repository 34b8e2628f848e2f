# berth in a container, driving the host's docker daemon through its
# socket (Docspell's "Within Docker", docs/addons/control.md): see
# docs/daemon.md, "In a container", and examples/compose/.
#
#   docker build -t berth .
#
# Every image it starts from is an argument, so a machine without a
# registry can build it from images it made itself (berth's own test,
# dist/docker, does).
#   GO_IMAGE          has the Go toolchain on PATH and /bin/sh
#   BASE_IMAGE        what the final image is: any image with /bin/sh
#   DOCKER_CLI_IMAGE  has a static docker client at /usr/local/bin/docker
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=debian:12-slim
ARG DOCKER_CLI_IMAGE=docker:28-cli

FROM ${DOCKER_CLI_IMAGE} AS docker-cli

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY . .
ARG VERSION=devel
ARG COMMIT=unknown
# Where the modules come from: the public proxy by default; a company
# proxy, or a file:// proxy in the context for an offline build (the
# test passes the host's module cache that way). go.sum checks them all.
ARG GOPROXY=https://proxy.golang.org,direct
ARG GOFLAGS=
# Static binaries (no cgo: SQLite is pure Go), so any base runs them:
# berth, berthd (the daemon `berth serve` runs, cmd/berth with -tags
# daemon) and berth-sandbox-init.
RUN CGO_ENABLED=0 GOPROXY="${GOPROXY}" GOFLAGS="${GOFLAGS}" go build -trimpath \
      -ldflags "-s -w -X github.com/berth-dev/berth/internal/buildinfo.version=${VERSION} -X github.com/berth-dev/berth/internal/buildinfo.commit=${COMMIT}" \
      -o /out/ ./cmd/berth ./cmd/berth-sandbox-init \
 && CGO_ENABLED=0 GOPROXY="${GOPROXY}" GOFLAGS="${GOFLAGS}" go build -trimpath -tags daemon \
      -ldflags "-s -w -X github.com/berth-dev/berth/internal/buildinfo.version=${VERSION} -X github.com/berth-dev/berth/internal/buildinfo.commit=${COMMIT}" \
      -o /out/berthd ./cmd/berth

FROM ${BASE_IMAGE}
COPY --from=build /out/berth /out/berthd /out/berth-sandbox-init /usr/local/bin/
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
# For addons fetched over https.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# A user of its own (uid/gid 10001 unless told otherwise), written
# without useradd so that any base with /bin/sh will do. /srv/berth
# holds the working dir, the cache and the data: addon containers bind
# the first two, so the host must see them at the same path (bind
# /srv/berth:/srv/berth) or be told where with docker.path-map.
ARG BERTH_UID=10001
ARG BERTH_GID=10001
RUN echo "berth:x:${BERTH_GID}:" >>/etc/group \
 && echo "berth:x:${BERTH_UID}:${BERTH_GID}:berth:/srv/berth:/sbin/nologin" >>/etc/passwd \
 && mkdir -p /srv/berth/work /srv/berth/cache /srv/berth/data /etc/berth \
 && chown -R ${BERTH_UID}:${BERTH_GID} /srv/berth \
 && chmod 0750 /srv/berth
ENV BERTH_WORKING_DIR=/srv/berth/work \
    BERTH_CACHE_DIR=/srv/berth/cache \
    BERTH_DATA_DIR=/srv/berth/data \
    BERTH_SERVE_LISTEN=0.0.0.0:8470 \
    HOME=/srv/berth
USER berth
WORKDIR /srv/berth
EXPOSE 8470
ENTRYPOINT ["/usr/local/bin/berth"]
CMD ["serve"]
