// Command bench measures Streamline's raw-track recording capacity on this
// machine (`make bench`, which runs `go run ./cmd/bench $(BENCHFLAGS)`).
//
// For each track count it starts a fresh `bin/streamline serve`, creates
// rooms of -tracks-per-room tracks (participants with one Opus and one
// ~1 Mbit/s VP8 track), starts a tracks recording in every room and has
// cmd/loadgen — a separate process — replay pre-encoded RTP to every track in
// real time. Over a steady window it measures the server's CPU
// (/proc/<pid>/stat), memory (VmHWM), kernel UDP drops of the room sockets
// (/proc/net/udp), the server's own counters (datagrams, push_dropped, lost),
// and, after stopping the recordings, whether every file holds the media
// that was sent (durations from the manifest, frame counts of a sample with
// ffprobe). In the same run it sends the same load to a baseline process that
// only reads the same number of sockets the same way (recvmmsg) and discards
// the datagrams, so the figures come with a ratio against "just reading the
// sockets". Each count is repeated -runs times; the table shows medians.
//
// A count passes when most of its runs are clean: no kernel drops, no
// push_dropped, every datagram sent counted by the server, every file final
// and as long as its media, the probed files holding every frame. The series
// stops at the first count that does not pass (-keep-going to go on).
//
// With -mode composite it measures composite recordings instead (comp.go):
// CPU per media-second against a floor of gst-launch-1.0 pipelines and
// against ffmpeg, memory per room, and simultaneous real-time rooms.
// With -mode mcu (mcu.go): glass-to-glass latency RTP in → MCU RTP out and
// the server CPU of each extra live output.
//
// With -mode control it measures the control plane (control.go): WebSocket
// fan-out of layout_changed to 1000 clients, and the latency from a layout
// message to the first composite frame built with it.
//
//	go run ./cmd/bench -quick                 # smoke run: 20 and 40 tracks, 5 s, 1 run
//	go run ./cmd/bench -mode composite -quick # smoke run: one room of 4, 6 s
//	go run ./cmd/bench -mode control          # fan-out and layout → frame latencies
//	go run ./cmd/bench -counts 100,200 -runs 5
//	make bench BENCHFLAGS='-perf'              # add a perf profile of the server
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if sinkMain() {
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	counts         []int
	window         time.Duration
	baselineWindow time.Duration
	warmup         time.Duration
	stagger        time.Duration
	drain          time.Duration
	runs           int
	perRoom        int
	workers        int
	probe          int
	baseline       bool
	keepGoing      bool
	keep           bool
	perf           bool
	quick          bool
	serverPath     string
	serverArgs     []string
	jsonOut        string
}

type bench struct {
	cfg        config
	root       string
	serverBin  string
	loadgenBin string
	mediaPath  string
	media      mediaInfo
	tmp        string
	ffprobe    string
	perf       string
	self       string
	selfArgs   []string
	kids       children
	rng        *rand.Rand
	out, log   io.Writer
}

type mediaInfo struct {
	Video struct {
		BitrateKbps float64 `json:"bitrate_kbps"`
		PacketRate  float64 `json:"packets_per_s"`
	} `json:"video"`
	Audio struct {
		BitrateKbps float64 `json:"bitrate_kbps"`
		PacketRate  float64 `json:"packets_per_s"`
	} `json:"audio"`
	EncodeS float64 `json:"encode_s"`
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 2 {
			return nil, fmt.Errorf("-counts: %q is not a track count ≥ 2", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("-counts: empty")
	}
	return out, nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	counts := fs.String("counts", "50,100,200,300,400,600,800,1000", "track counts to try, in order")
	fs.DurationVar(&c.window, "seconds", 20*time.Second, "steady measuring window per run (media seconds measured)")
	fs.DurationVar(&c.baselineWindow, "baseline-seconds", 10*time.Second, "measuring window of the baseline runs")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "sending before the window opens (covers -stagger and the jitterbuffer)")
	fs.DurationVar(&c.stagger, "stagger", 2*time.Second, "track starts are spread over this span (one VP8 keyframe interval)")
	fs.DurationVar(&c.drain, "drain", 1500*time.Millisecond, "wait after the load ends before reading counters and stopping recordings")
	fs.IntVar(&c.runs, "runs", 3, "runs per track count (the table shows medians)")
	fs.IntVar(&c.perRoom, "tracks-per-room", 10, "tracks per room (half audio, half video)")
	fs.IntVar(&c.workers, "loadgen-workers", 2, "sending goroutines of the load generator")
	fs.IntVar(&c.probe, "probe", 6, "files per run whose frames are counted with ffprobe")
	fs.BoolVar(&c.baseline, "baseline", true, "also measure the plain UDP reader baseline for the ratio")
	fs.BoolVar(&c.keepGoing, "keep-going", false, "try every count even after one failed")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (recordings, logs)")
	fs.BoolVar(&c.perf, "perf", false, "finish with a perf profile of the server at the largest clean count")
	fs.BoolVar(&c.quick, "quick", false, "smoke run: -counts 20,40 -seconds 5s -baseline-seconds 5s -runs 1 -warmup 2s -stagger 1s")
	fs.StringVar(&c.serverPath, "server", "", "streamline binary (default: bin/streamline of this module)")
	fs.Var((*stringList)(&c.serverArgs), "server-arg", "extra argument for `streamline serve` (repeatable), e.g. -server-arg=--jitter-ms=100")
	fs.StringVar(&c.jsonOut, "json", "", "also write every run's measurements to this JSON file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.quick {
		if !set["counts"] {
			*counts = "20,40"
		}
		if !set["seconds"] {
			c.window = 5 * time.Second
		}
		if !set["baseline-seconds"] {
			c.baselineWindow = 5 * time.Second
		}
		if !set["runs"] {
			c.runs = 1
		}
		if !set["warmup"] {
			c.warmup = 2 * time.Second
		}
		if !set["stagger"] {
			c.stagger = time.Second
		}
	}
	var err error
	if c.counts, err = parseCounts(*counts); err != nil {
		return c, err
	}
	switch {
	case c.window < time.Second || c.baselineWindow < time.Second:
		return c, errors.New("-seconds and -baseline-seconds must be at least 1s")
	case c.runs < 1:
		return c, errors.New("-runs must be at least 1")
	case c.perRoom < 2:
		return c, errors.New("-tracks-per-room must be at least 2")
	case c.warmup < c.stagger:
		return c, errors.New("-warmup must cover -stagger, or the window would see tracks still starting")
	case c.workers < 1:
		return c, errors.New("-loadgen-workers must be at least 1")
	}
	return c, nil
}

// moduleRoot finds the directory of this module's go.mod from dir upwards.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/streamline-media/streamline") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("not inside the streamline module (no go.mod above %s)", dir)
		}
	}
}

func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", errors.New("the go command is not on PATH (needed to build cmd/loadgen)")
}

func run(args []string, stdout, stderr io.Writer) int {
	mode, args, err := splitMode(args)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	switch mode {
	case "composite":
		return runComposite(args, stdout, stderr)
	case "control":
		return runControl(args, stdout, stderr)
	}
	if mode == "mcu" {
		return runMCU(args, stdout, stderr) // mcu.go
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{cfg: cfg, out: stdout, log: stderr, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))}
	err = b.main(ctx, stop)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

func (b *bench) main(ctx context.Context, stopSignals func()) error {
	if err := b.prepare(ctx); err != nil {
		if b.tmp != "" {
			os.RemoveAll(b.tmp)
		}
		return err
	}
	defer func() {
		b.kids.killAll()
		if b.cfg.keep {
			fmt.Fprintf(b.log, "bench: kept %s\n", b.tmp)
		} else {
			os.RemoveAll(b.tmp)
		}
	}()
	b.header()
	results := b.series(ctx)
	interrupted := ctx.Err() != nil
	stopSignals() // a second Ctrl-C during the report ends the bench at once
	b.report(results, interrupted)
	if b.cfg.jsonOut != "" {
		if err := writeJSONFile(b.cfg.jsonOut, results); err != nil {
			return err
		}
	}
	if b.cfg.perf && !interrupted {
		b.profileRun(context.Background(), results)
	}
	if interrupted {
		return errors.New("interrupted")
	}
	return nil
}

// prepare finds the tools, builds cmd/loadgen and encodes the media once.
func (b *bench) prepare(ctx context.Context) error {
	var err error
	if b.root, b.serverBin, err = locateServer(b.cfg.serverPath); err != nil {
		return err
	}
	if b.ffprobe, err = exec.LookPath("ffprobe"); err != nil {
		return errors.New("ffprobe not found (it checks the recorded files): run `make deps-test` (Debian package ffmpeg)")
	}
	if _, err := exec.LookPath("gst-launch-1.0"); err != nil {
		return errors.New("gst-launch-1.0 not found (it pre-encodes the media): run `make deps` (Debian package gstreamer1.0-tools)")
	}
	if b.cfg.perf {
		if b.perf, err = exec.LookPath("perf"); err != nil {
			fmt.Fprintln(b.log, "bench: perf not found (Debian package linux-perf): no profile")
		}
	}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "streamline-bench-"); err != nil {
		return err
	}
	gocmd, err := goTool()
	if err != nil {
		return err
	}
	b.loadgenBin = filepath.Join(b.tmp, "loadgen")
	build := exec.CommandContext(ctx, gocmd, "build", "-o", b.loadgenBin, "./cmd/loadgen")
	build.Dir = b.root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build cmd/loadgen: %v: %s", err, out)
	}
	b.mediaPath = filepath.Join(b.tmp, "media.gob")
	enc := exec.CommandContext(ctx, b.loadgenBin, "encode", "-out", b.mediaPath)
	out, err := enc.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("loadgen encode: %v: %s", err, ee.Stderr)
		}
		return fmt.Errorf("loadgen encode: %w", err)
	}
	if err := json.Unmarshal(out, &b.media); err != nil {
		return fmt.Errorf("loadgen encode output: %w", err)
	}
	return nil
}

func (b *bench) header() {
	c := b.cfg
	fmt.Fprintf(b.out, "Streamline raw-track capacity benchmark\n")
	fmt.Fprintf(b.out, "  machine: %s\n", machineLine())
	fmt.Fprintf(b.out, "  load: loadgen (separate process) replays VP8 %.0f kbit/s (%.0f packets/s) + Opus %.0f kbit/s (%.0f packets/s) per participant, RTP+RTCP SR\n",
		b.media.Video.BitrateKbps, b.media.Video.PacketRate, b.media.Audio.BitrateKbps, b.media.Audio.PacketRate)
	fmt.Fprintf(b.out, "  rooms of %d tracks, one tracks recording each; counts %v; %d run(s) each; window %s after %s warm-up; baseline window %s\n",
		c.perRoom, c.counts, c.runs, c.window, c.warmup, c.baselineWindow)
	fmt.Fprintf(b.out, "  server %s %s\n\n", b.serverBin, strings.Join(c.serverArgs, " "))
}

// countResult gathers the runs of one track count.
type countResult struct {
	Count    int          `json:"tracks"`
	Server   []*runResult `json:"server"`
	Baseline []*runResult `json:"baseline"`
}

func (c *countResult) cleanRuns() int {
	n := 0
	for _, r := range c.Server {
		if r.clean() {
			n++
		}
	}
	return n
}

func (c *countResult) passed() bool { return len(c.Server) > 0 && 2*c.cleanRuns() > len(c.Server) }

// hopeless: a run so far from clean that repeating it is a waste of time.
func hopeless(r *runResult) bool {
	if r.Err != "" {
		return true
	}
	lossy := r.Sent > 0 && float64(r.KernelDrops+r.PushDropped)+float64(r.Sent)-float64(r.Received) > 0.01*float64(r.Sent)
	return lossy || (r.Files > 0 && r.DurRatioMin < 0.9)
}

func (b *bench) series(ctx context.Context) []*countResult {
	var out []*countResult
	for _, count := range b.cfg.counts {
		cr := &countResult{Count: count}
		out = append(out, cr)
		for run := 1; run <= b.cfg.runs; run++ {
			if b.cfg.baseline {
				r := b.baselineRun(ctx, count, run)
				if r.Err != "" && ctx.Err() == nil {
					b.progress(r)
					fmt.Fprintf(b.log, "  retrying the run once\n")
					r = b.baselineRun(ctx, count, run)
				}
				if ctx.Err() != nil {
					return trimEmpty(out)
				}
				cr.Baseline = append(cr.Baseline, r)
				b.progress(r)
			}
			r := b.serverRun(ctx, count, run, false)
			if r.Err != "" && ctx.Err() == nil {
				// A failure of the machinery (not a drop): one more try.
				b.progress(r)
				fmt.Fprintf(b.log, "  retrying the run once\n")
				r = b.serverRun(ctx, count, run, false)
			}
			if ctx.Err() != nil {
				return trimEmpty(out)
			}
			cr.Server = append(cr.Server, r)
			cr.Count = r.Count
			b.progress(r)
			if !r.clean() && hopeless(r) {
				if run < b.cfg.runs {
					fmt.Fprintf(b.log, "  %d tracks: far from clean, skipping the remaining runs\n", r.Count)
				}
				break
			}
		}
		if !cr.passed() && !b.cfg.keepGoing {
			fmt.Fprintf(b.log, "  %d tracks: not clean in most runs; stopping the series (-keep-going to go on)\n", cr.Count)
			break
		}
	}
	return out
}

func trimEmpty(list []*countResult) []*countResult {
	if n := len(list); n > 0 && len(list[n-1].Server) == 0 {
		return list[:n-1]
	}
	return list
}

func (b *bench) progress(r *runResult) {
	if r.Err != "" {
		fmt.Fprintf(b.log, "  %4d tracks run %d %-8s ERROR: %s\n", r.Count, r.Run, r.Receiver, r.Err)
		return
	}
	verdict := "clean"
	if !r.clean() {
		verdict = "NOT CLEAN: " + strings.Join(problems(r), "; ")
	}
	fmt.Fprintf(b.log, "  %4d tracks run %d %-8s %.2f cores, %.5f CPU-s/track/s, sent %d recv %d, kernel drops %d",
		r.Count, r.Run, r.Receiver, r.CPU/r.WindowS, r.CPUPerTrack(), r.Sent, r.Received, r.KernelDrops)
	if r.Receiver == "server" {
		fmt.Fprintf(b.log, ", push_dropped %d, files %d/%d final, duration ≥%.3f, frames %d/%d, peak RSS %s, setup %.1fs",
			r.PushDropped, r.FilesFinal, r.Files, r.DurRatioMin, r.FramesInFiles, r.FramesSent, mib(r.PeakRSS), r.SetupS)
	}
	fmt.Fprintf(b.log, ", loadgen %.2f cores (lag p99 %.1f ms), softirq %.2f, kernel threads %.2f, other processes %.2f cores",
		r.LoadgenCPU/r.WindowS, r.LagP99MS, r.IRQCPU/r.WindowS, r.KthreadCPU/r.WindowS, r.OtherLoad())
	if r.TopOther != "" {
		fmt.Fprintf(b.log, " (mostly %s)", r.TopOther)
	}
	fmt.Fprintf(b.log, " [%s]\n", verdict)
}

// problems lists why a run is not clean.
func problems(r *runResult) []string {
	var p []string
	if r.Err != "" {
		p = append(p, r.Err)
	}
	if r.KernelDrops > 0 {
		p = append(p, fmt.Sprintf("kernel dropped %d", r.KernelDrops))
	}
	if r.PushDropped > 0 {
		p = append(p, fmt.Sprintf("push_dropped %d", r.PushDropped))
	}
	if r.Received != r.Sent {
		p = append(p, fmt.Sprintf("received %d of %d datagrams", r.Received, r.Sent))
	}
	if r.Receiver == "server" {
		if r.FilesFinal != r.Files {
			p = append(p, fmt.Sprintf("%d of %d files final", r.FilesFinal, r.Files))
		}
		if r.Files > 0 && r.DurRatioMin < minDurationRatio {
			p = append(p, fmt.Sprintf("shortest file %.1f%% of its media", 100*r.DurRatioMin))
		}
		if r.FramesInFiles < r.FramesSent {
			p = append(p, fmt.Sprintf("probed files miss %d of %d frames", r.FramesSent-r.FramesInFiles, r.FramesSent))
		}
		for _, e := range r.ProbeErrors {
			p = append(p, e)
		}
	}
	return p
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func medianOf(rs []*runResult, f func(*runResult) float64) float64 {
	var v []float64
	for _, r := range rs {
		if r.Err == "" {
			v = append(v, f(r))
		}
	}
	return median(v)
}

func maxOf(rs []*runResult, f func(*runResult) float64) float64 {
	m := 0.0
	for _, r := range rs {
		m = max(m, f(r))
	}
	return m
}

// ratios pairs each server run with the baseline run of the same index.
func ratios(c *countResult) []float64 {
	var out []float64
	for i, s := range c.Server {
		if i < len(c.Baseline) && s.Err == "" && c.Baseline[i].Err == "" && c.Baseline[i].CPUPerTrack() > 0 {
			out = append(out, s.CPUPerTrack()/c.Baseline[i].CPUPerTrack())
		}
	}
	return out
}

// liveKitCPUPerTrack is LiveKit egress's CPU reservation for one
// single-track egress (a reference figure, not measured here).
const liveKitCPUPerTrack = 0.5

func (b *bench) report(results []*countResult, interrupted bool) {
	w := b.out
	fmt.Fprintln(w)
	if len(results) == 0 {
		fmt.Fprintln(w, "no run completed")
		return
	}
	fmt.Fprintln(w, "medians over the runs of each count (drop columns: worst run); CPU-s/trk/s = server CPU-seconds per track per media-second")
	fmt.Fprintf(w, "%6s %5s %10s %6s %6s %6s %7s %5s %6s %11s %11s %6s %8s %7s %8s %7s %6s %6s\n",
		"tracks", "clean", "sent/s", "kdrop", "pdrop", "lost", "missed", "dur", "cores", "CPU-s/trk/s", "baseline", "ratio",
		"peakRSS", "KiB/trk", "threads", "ctx/pkt", "lag99", "other")
	for _, c := range results {
		s := c.Server
		sentRate := medianOf(s, func(r *runResult) float64 { return float64(r.Sent) / r.SendS })
		missed := maxOf(s, func(r *runResult) float64 {
			return float64(int64(r.Sent)-int64(r.Received)) + float64(r.FramesSent-min(r.FramesSent, r.FramesInFiles))
		})
		baseline := "-"
		ratio := "-"
		if len(c.Baseline) > 0 {
			baseline = fmt.Sprintf("%.6f", medianOf(c.Baseline, (*runResult).CPUPerTrack))
			if rs := ratios(c); len(rs) > 0 {
				ratio = fmt.Sprintf("%.1fx", median(rs))
			}
		}
		fmt.Fprintf(w, "%6d %5s %10.0f %6.0f %6.0f %6.0f %7.0f %5.3f %6.2f %11.6f %11s %6s %8s %7.0f %8.0f %7.2f %6.1f %6.2f\n",
			c.Count, fmt.Sprintf("%d/%d", c.cleanRuns(), len(s)), sentRate,
			maxOf(s, func(r *runResult) float64 { return float64(r.KernelDrops) }),
			maxOf(s, func(r *runResult) float64 { return float64(r.PushDropped) }),
			maxOf(s, func(r *runResult) float64 { return float64(r.Lost) }),
			missed,
			medianOf(s, func(r *runResult) float64 { return r.DurRatioMin }),
			medianOf(s, func(r *runResult) float64 { return r.CPU / r.WindowS }),
			medianOf(s, (*runResult).CPUPerTrack), baseline, ratio,
			mib(uint64(medianOf(s, func(r *runResult) float64 { return float64(r.PeakRSS) }))),
			medianOf(s, func(r *runResult) float64 {
				return float64(r.PeakRSS-min(r.PeakRSS, r.IdleRSS)) / 1024 / float64(r.Count)
			}),
			medianOf(s, func(r *runResult) float64 { return float64(r.Threads) }),
			medianOf(s, func(r *runResult) float64 { return r.CtxPerPkt }),
			medianOf(s, func(r *runResult) float64 { return r.LagP99MS }),
			medianOf(s, (*runResult).OtherLoad))
	}
	fmt.Fprintln(w, "  kdrop: kernel UDP drops on the room sockets (/proc/net/udp); pdrop: server push_dropped; lost: server-counted RTP loss;")
	fmt.Fprintln(w, "  missed: datagrams sent but not counted by the server + frames missing from the ffprobe'd files; dur: shortest file / media sent;")
	fmt.Fprintln(w, "  baseline: CPU-s/track/s of a plain Go recvmmsg reader of the same sockets; ratio: server/baseline (per run, median);")
	fmt.Fprintln(w, "  KiB/trk: (VmHWM - idle RSS) / tracks; ctx/pkt: server context switches per datagram; lag99: loadgen send lateness p99 (ms);")
	fmt.Fprintln(w, "  other: cores used by other processes during the window (other tests on this shared machine)")
	for _, c := range results {
		for _, r := range c.Server {
			if !r.clean() {
				fmt.Fprintf(w, "  %d tracks, run %d not clean: %s\n", r.Count, r.Run, strings.Join(problems(r), "; "))
			}
		}
		for _, r := range c.Baseline {
			if r.Err != "" || !r.zeroDrops() {
				fmt.Fprintf(w, "  %d tracks, baseline run %d: %s (the sender or the machine, not the server, limits this count)\n",
					r.Count, r.Run, strings.Join(problems(r), "; "))
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, b.summary(results, interrupted))
}

func (b *bench) summary(results []*countResult, interrupted bool) string {
	var best *countResult
	var failed *countResult
	for _, c := range results {
		if c.passed() {
			if best == nil || c.Count > best.Count {
				best = c
			}
		} else if failed == nil {
			failed = c
		}
	}
	note := ""
	if interrupted {
		note = " (interrupted: partial series)"
	}
	if best == nil {
		return fmt.Sprintf("raw-track capacity: below %d tracks — no count tried ran clean%s", results[0].Count, note)
	}
	cpu := medianOf(best.Server, (*runResult).CPUPerTrack)
	rss := medianOf(best.Server, func(r *runResult) float64 { return float64(r.PeakRSS-min(r.PeakRSS, r.IdleRSS)) / float64(r.Count) })
	var sb strings.Builder
	fmt.Fprintf(&sb, "raw-track capacity: %d tracks with zero drops, recorded in real time (%d/%d runs clean)%s; ",
		best.Count, best.cleanRuns(), len(best.Server), note)
	fmt.Fprintf(&sb, "%.5f CPU-s per track per media-second (median of %d); peak RSS %.2f MiB/track",
		cpu, len(best.Server), rss/(1<<20))
	if rs := ratios(best); len(rs) > 0 {
		fmt.Fprintf(&sb, "; server/baseline CPU ratio %.1fx", median(rs))
	}
	if cpu > 0 {
		fmt.Fprintf(&sb, "; %.0fx below LiveKit egress's %.1f CPU/track reservation; at that cost, %d cores given to the server alone would carry ~%.0f tracks",
			liveKitCPUPerTrack/cpu, liveKitCPUPerTrack, runtime.NumCPU(), float64(runtime.NumCPU())/cpu)
	}
	var others []float64
	for _, c := range results {
		for _, r := range c.Server {
			if r.Err == "" {
				others = append(others, r.OtherLoad())
			}
		}
	}
	if o := median(others); o >= 0.25 {
		fmt.Fprintf(&sb, "; note: other processes used %.2f cores (median) during the windows, so figures are noisier and the capacity may be understated", o)
	}
	switch {
	case failed != nil && failed.Count > best.Count:
		fmt.Fprintf(&sb, "; %d tracks failed (%s)", failed.Count, firstProblem(failed))
	case best.Count == b.cfg.counts[len(b.cfg.counts)-1]:
		sb.WriteString("; the largest count tried passed (try higher -counts)")
	}
	return sb.String()
}

func firstProblem(c *countResult) string {
	for _, r := range c.Server {
		if !r.clean() {
			if p := problems(r); len(p) > 0 {
				return p[0]
			}
		}
	}
	return "most runs not clean"
}

// profileRun runs the server once more at the largest clean count (or the
// first count tried) with perf attached after the measured window.
func (b *bench) profileRun(ctx context.Context, results []*countResult) {
	if b.perf == "" || len(results) == 0 {
		return
	}
	count := results[0].Count
	for _, c := range results {
		if c.passed() {
			count = max(count, c.Count)
		}
	}
	fmt.Fprintf(b.log, "  profiling the server at %d tracks…\n", count)
	r := b.serverRun(ctx, count, 0, true)
	fmt.Fprintln(b.out)
	if r.Profile == "" {
		fmt.Fprintf(b.out, "profile run failed: %s\n", r.Err)
		return
	}
	fmt.Fprintf(b.out, "profile at %d tracks (extra run, not in the table):\n%s", r.Count, r.Profile)
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// locateServer finds the module root and the streamline binary to run:
// serverPath when given, else bin/streamline of the module.
func locateServer(serverPath string) (root, bin string, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	if root, err = moduleRoot(wd); err != nil {
		return "", "", err
	}
	bin = serverPath
	if bin == "" {
		bin = filepath.Join(root, "bin", "streamline")
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return "", "", fmt.Errorf("%s not found: run `make build` first (or pass -server PATH)", bin)
	}
	return root, bin, nil
}
