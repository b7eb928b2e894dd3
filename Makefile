# Streamline — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED := 1
GO ?= go
BIN := bin
# A count of executions, not a duration: with -fuzztime=10s Go's fuzz
# coordinator can race its own deadline and fail a target that found nothing
# ("context deadline exceeded", golang/go#75804). A count has no deadline.
FUZZTIME ?= 300000x
FUZZMINIMIZE ?= 20000x

.PHONY: all deps deps-test build demo test unit fuzz bench bench-tracks bench-composite bench-control bench-mcu vet docker clean avsync

all: build

deps:
	@scripts/install-deps.sh runtime

deps-test:
	@scripts/install-deps.sh test

build: deps
	$(GO) build -o $(BIN)/streamline ./cmd/streamline
	$(GO) build -o $(BIN)/mocker ./cmd/mocker

## demo: server with the embedded store + a mock SFU sending four participants.
demo: build
	@scripts/demo.sh

vet:
	$(GO) vet ./...

## test: everything — unit, integration against real GStreamer/ffmpeg/redis, and brief fuzzing.
## One package at a time (-p 1): the end-to-end tests record in real time and
## check frame timing and lip-sync, which a second package's test binary
## competing for the two cores would disturb; e2e dominates the time anyway.
test: deps-test vet
	$(GO) test -p 1 -count=1 -timeout 40m ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

fuzz:
	$(GO) test ./ingest -run='^$$' -fuzz='^FuzzRouteRTP$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE)
	$(GO) test ./ingest -run='^$$' -fuzz='^FuzzKeyframeDetect$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE)
	$(GO) test ./layouts -run='^$$' -fuzz='^FuzzLayoutSpec$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE)
	$(GO) test ./internal/cpupin -run='^$$' -fuzz='^FuzzPlannerBudget$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE)

## bench: every benchmark. bench-tracks: raw-track capacity (flags: BENCHFLAGS);
## bench-composite: composite recordings against a gst-launch floor, ffmpeg and the same composite in gst-launch (free-running and paced),
## memory per room, simultaneous real-time rooms (flags: COMPBENCHFLAGS, e.g. -quick or -perf);
## bench-control: WebSocket fan-out to 1000 clients and layout → first frame latency (flags: CTLBENCHFLAGS);
## bench-mcu: glass-to-glass latency RTP in → MCU RTP out, CPU per extra live output (MCUBENCHFLAGS).
bench: bench-tracks bench-composite bench-control bench-mcu

bench-tracks: build deps-test
	$(GO) run ./cmd/bench $(BENCHFLAGS)

bench-composite: build deps-test
	$(GO) run ./cmd/bench -mode composite $(COMPBENCHFLAGS)

bench-control: build deps-test
	$(GO) run ./cmd/bench -mode control $(CTLBENCHFLAGS)

bench-mcu: build deps-test
	$(GO) run ./cmd/bench -mode mcu $(MCUBENCHFLAGS)

docker:
	docker build -t streamline:latest .

clean:
	rm -rf $(BIN)

## avsync: the 60 s flash-and-beep lip-sync measurement of the composite.
avsync: build deps-test
	$(GO) test -count=1 -run TestCompositeAVSync -v ./test/e2e
