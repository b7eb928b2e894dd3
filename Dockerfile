# Streamline: build with cgo against GStreamer 1.22 (Debian 12), run on a slim
# Debian 12 with only the GStreamer runtime.

FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev \
      pkg-config gcc \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=1
RUN go build -trimpath -o /out/streamline ./cmd/streamline \
 && go build -trimpath -o /out/mocker ./cmd/mocker

FROM debian:bookworm-slim
# GStreamer runtime and plugins: appsrc/rtpjitterbuffer/depayloaders/muxers
# (base, good), parsers (bad), encoders for the mock SFU (good, ugly), libav
# decoders, graphviz for pipeline.svg.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgstreamer1.0-0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
      gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x \
      graphviz ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --home-dir /home/streamline --shell /usr/sbin/nologin streamline \
 && mkdir -p /data \
 && chown streamline:streamline /data
COPY --from=build /out/streamline /out/mocker /usr/local/bin/
USER streamline
VOLUME ["/data"]
# HTTP API + dashboard; one UDP port per room (--rtp-ports, default 40000-40999).
EXPOSE 8080/tcp 40000-40999/udp
# No curl in the slim image: bash's /dev/tcp asks /healthz. Assumes the
# default --http port 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && grep -q '\"status\": \"ok\"' <&3"]
ENTRYPOINT ["streamline", "serve"]
CMD ["--http", "0.0.0.0:8080", "--data", "/data"]
