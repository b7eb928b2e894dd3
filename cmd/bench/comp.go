package main

// The composite benchmark (`go run ./cmd/bench -mode composite`, `make
// bench-composite`): what a composite recording costs the server, against
// what the same work costs done by the tools that do its parts alone.
//
// Inputs: per participant, -seconds of 640x360@30 VP8 (~-video-kbps) + Opus
// in a WebM file, each a different moving pattern with every frame stamped
// with its number (see comp_media.go). For each room size N (-sizes) and
// each of -runs runs, measured one after the other in the same run of the
// bench:
//
//   - server: a fresh `streamline serve` with one room of N participants;
//     loadgen (a separate process) replays the files as RTP. The server's
//     CPU (/proc/<pid>/stat) is measured over -idle-seconds with the tracks
//     flowing but no recording (RTP ingest alone), then a composite
//     recording (1280x720@30 H.264 x264 veryfast/zerolatency 2.5 Mbit/s +
//     AAC, MP4, the default grid) is started and, after -settle, measured
//     over -seconds. Composite-attributable = composite window − ingest
//     window (per second). Peak memory is VmHWM.
//   - floor: gst-launch-1.0 decoding the N videos alone (vp8dec ! fakesink),
//     the audio path alone (the server's Opus decoder ×N ! audiomixer !
//     AAC ! mp4mux), and x264enc with the server's settings encoding the
//     same grid picture
//     (rendered once, uncompressed, from the same files by ffmpeg in the
//     server's layout; reading that raw file is measured separately and
//     subtracted). CPU from wait4's rusage; per media-second. The same
//     three parts are also run in one pipeline at a live room's pace (the
//     paced floor), and ffmpeg with -re (pace.go measures why it matters).
//   - ffmpeg: the same composite in one ffmpeg (xstack + amix, libx264 with
//     the same settings, AAC), non-realtime, CPU per media-second.
//
// Every composite file is checked: frame times (ffprobe) over the measured
// window, every tile followed frame by frame by its stamps (ffmpeg
// decodes to luma): input frames skipped, frozen runs, order; and every
// participant's tone heard in each 100 ms of the mix (comp_audio.go).
//
// Capacity: K rooms of -room-size participants (-rooms), all recording a
// composite at once; K holds in real time when every room's output has all
// its frames and no tile skips or freezes beyond the limits (comp_check.go),
// the server drops nothing, and the output keeps up with the wall clock.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Targets of the issue, printed beside the measured figures.
const (
	targetRatioN4  = 1.05
	targetRatioN9  = 1.15
	targetMiBPerRm = 150
	targetRoomsOf4 = 3
	compWidth      = 1280
	compHeight     = 720
	compFPS        = 30
	compVideoKbps  = 2500
	compAudioKbps  = 128
	compWarmup     = 2 * time.Second // loadgen sends before the first window
	compTail       = 3 * time.Second // load after the window: the composites stop while it still flows
	maxLagS        = 1.0             // output behind the wall clock at the stop
	// The composites stop this long after the window: a file starts with
	// the first frame mixed after the request and ends the mix's latency
	// before the stop (0.1–0.6 s together), so a stop right at the window's
	// end cut its last frames off the file (reported as missing frames).
	compStopAfter   = time.Second
	compRecordingID = "comp"
)

type compConfig struct {
	sizes     []int
	runs      int
	seconds   int
	idle      time.Duration
	settle    time.Duration
	rooms     []int
	roomSize  int
	capRuns   int
	videoKbps int
	stagger   time.Duration
	workers   int
	keepGoing bool
	keep      bool
	quick     bool
	perf      bool
	server    string
	srvArgs   []string
	holdFirst time.Duration
	jsonOut   string
	haltPoll  time.Duration // -halt-poll; negative: leave the machine as it is
}

// splitMode takes -mode/--mode out of the arguments.
func splitMode(args []string) (mode string, rest []string, err error) {
	mode = "tracks"
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "mode" {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return "", nil, errors.New("-mode needs a value: tracks, composite, control or mcu")
			}
			i++
			val = args[i]
		}
		mode = val
	}
	if mode != "tracks" && mode != "composite" && mode != "control" && mode != "mcu" {
		return "", nil, fmt.Errorf("-mode %q: want tracks, composite, control or mcu", mode)
	}
	return mode, rest, nil
}

// parseIntList parses "4,9"; an empty string or "none" is an empty list.
func parseIntList(flagName, s string, minV int) ([]int, error) {
	var out []int
	if strings.TrimSpace(s) == "none" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < minV {
			return nil, fmt.Errorf("-%s: %q is not a number ≥ %d", flagName, f, minV)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseCompFlags(args []string, stderr io.Writer) (compConfig, error) {
	var c compConfig
	fs := flag.NewFlagSet("bench -mode composite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "4,9", "participants per room of the ratio runs")
	rooms := fs.String("rooms", "1,2,3,4,5,6", "simultaneous room counts of the capacity series, in order (none: skip)")
	fs.IntVar(&c.runs, "runs", 3, "runs per room size (the table shows medians)")
	fs.IntVar(&c.seconds, "seconds", 20, "media length of the inputs = the measured composite window (s)")
	fs.DurationVar(&c.idle, "idle-seconds", 8*time.Second, "window with the tracks flowing and no recording (RTP ingest alone)")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "from starting the composite to its window (first keyframes, every tile decoding)")
	fs.IntVar(&c.roomSize, "room-size", 4, "participants per room of the capacity series")
	fs.IntVar(&c.capRuns, "capacity-runs", 2, "runs per room count; a count holds when most of its runs are clean")
	fs.IntVar(&c.videoKbps, "video-kbps", 600, "VP8 bitrate of each input")
	fs.DurationVar(&c.stagger, "stagger", time.Second, "track starts are spread over this span")
	fs.DurationVar(&c.holdFirst, "hold-first", 0, "participant p01's audio sends its first packet this much late and the ones due meanwhile in a burst after it, as a slow-starting encoder does (0: on time)")
	fs.IntVar(&c.workers, "loadgen-workers", 2, "sending goroutines of the load generator")
	fs.BoolVar(&c.keepGoing, "keep-going", false, "try every room count even after one failed")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (inputs, recordings, logs)")
	fs.BoolVar(&c.perf, "perf", false, "finish with a perf profile of the server recording one room of -room-size (an extra run)")
	fs.BoolVar(&c.quick, "quick", false, "smoke run: -sizes 4 -runs 1 -seconds 6 -idle-seconds 3s -rooms 1 -capacity-runs 1")
	fs.StringVar(&c.server, "server", "", "streamline binary (default: bin/streamline of this module)")
	fs.Var((*stringList)(&c.srvArgs), "server-arg", "extra argument for `streamline serve` (repeatable)")
	fs.StringVar(&c.jsonOut, "json", "", "also write every run's measurements to this JSON file")
	fs.DurationVar(&c.haltPoll, "halt-poll", -1, haltPollUsage)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.quick {
		for name, v := range map[string]string{"sizes": "4", "runs": "1", "seconds": "6", "idle-seconds": "3s",
			"rooms": "1", "capacity-runs": "1"} {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	var err error
	if c.sizes, err = parseIntList("sizes", *sizes, 2); err != nil {
		return c, err
	}
	if c.rooms, err = parseIntList("rooms", *rooms, 1); err != nil {
		return c, err
	}
	switch {
	case len(c.sizes) == 0 && len(c.rooms) == 0:
		return c, errors.New("nothing to do: -sizes and -rooms are both empty")
	case c.runs < 1 || c.capRuns < 1:
		return c, errors.New("-runs and -capacity-runs must be at least 1")
	case c.seconds < 2:
		return c, errors.New("-seconds must be at least 2")
	case c.idle < time.Second:
		return c, errors.New("-idle-seconds must be at least 1s")
	case c.settle < time.Second:
		return c, errors.New("-settle must be at least 1s")
	case c.roomSize < 2:
		return c, errors.New("-room-size must be at least 2")
	case c.videoKbps < 50:
		return c, errors.New("-video-kbps must be at least 50")
	case c.workers < 1:
		return c, errors.New("-loadgen-workers must be at least 1")
	}
	return c, nil
}

// compBench is the composite benchmark's state.
type compBench struct {
	*bench
	cc      compConfig
	launch  string
	ffmpeg  string
	inputs  []input
	grids   map[int]string    // room size → raw grid file
	layouts map[int][]tileRef // room size → tiles, in participant order
}

func runComposite(args []string, stdout, stderr io.Writer) int {
	cc, err := parseCompFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	undoHaltPoll, err := withHaltPoll(cc.haltPoll, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer undoHaltPoll()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{out: stdout, log: stderr, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))}
	// Info: a run that loses a voice quotes what the server logged of that
	// track (its shifts in the mix); -server-arg=--log-level=warn overrides.
	srvArgs := append([]string{"--log-level", "info"}, cc.srvArgs...)
	b.cfg.serverArgs, b.cfg.keep, b.cfg.stagger, b.cfg.workers = srvArgs, cc.keep, cc.stagger, cc.workers
	b.cfg.serverPath = cc.server
	cb := &compBench{bench: b, cc: cc, grids: map[int]string{}, layouts: map[int][]tileRef{}}
	if err := cb.main(ctx, stop); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// compResults is everything the composite bench measured.
type compResults struct {
	Sizes    []*sizeResult `json:"sizes"`
	Capacity []*capResult  `json:"capacity"`
	MediaS   float64       `json:"media_s"`
	InputKbp float64       `json:"input_video_kbps"`
}

type sizeResult struct {
	Size int        `json:"participants"`
	Runs []*compRun `json:"runs"`
}

type capResult struct {
	Rooms int        `json:"rooms"`
	Runs  []*compRun `json:"runs"`
}

func (cb *compBench) main(ctx context.Context, stopSignals func()) error {
	if err := cb.prepare(ctx); err != nil {
		if cb.tmp != "" {
			os.RemoveAll(cb.tmp)
		}
		return err
	}
	defer func() {
		cb.kids.killAll()
		if cb.cc.keep {
			fmt.Fprintf(cb.log, "bench: kept %s\n", cb.tmp)
		} else {
			os.RemoveAll(cb.tmp)
		}
	}()
	cb.compHeader()
	res := &compResults{MediaS: float64(cb.cc.seconds), InputKbp: cb.inputKbps()}
	for _, n := range cb.cc.sizes {
		sr := &sizeResult{Size: n}
		res.Sizes = append(res.Sizes, sr)
		for run := 1; run <= cb.cc.runs && ctx.Err() == nil; run++ {
			r := cb.ratioRun(ctx, n, run)
			sr.Runs = append(sr.Runs, r)
			cb.progressComp(r)
		}
		if g := cb.grids[n]; g != "" && !cb.cc.keep {
			os.Remove(g) // 1280x720 I420 is 1.4 MB a frame
		}
	}
	for _, k := range cb.cc.rooms {
		if ctx.Err() != nil {
			break
		}
		cr := &capResult{Rooms: k}
		res.Capacity = append(res.Capacity, cr)
		for run := 1; run <= cb.cc.capRuns && ctx.Err() == nil; run++ {
			// With an ingest window too: what a room's composite costs on a
			// busy machine, against the floor (capacityReport).
			r := cb.serverRun(ctx, "capacity", k, cb.cc.roomSize, run, true)
			if r.Err != "" && ctx.Err() == nil {
				cb.progressComp(r)
				fmt.Fprintf(cb.log, "  retrying the run once\n")
				r = cb.serverRun(ctx, "capacity", k, cb.cc.roomSize, run, true)
			}
			cr.Runs = append(cr.Runs, r)
			cb.progressComp(r)
			if !r.clean() && 2*(len(cr.Runs)-cleanCount(cr.Runs)) >= cb.cc.capRuns {
				break // a majority can no longer be clean
			}
		}
		if !capPassed(cr) && !cb.cc.keepGoing {
			fmt.Fprintf(cb.log, "  %d rooms: not clean in most runs; stopping the series (-keep-going to go on)\n", k)
			break
		}
	}
	interrupted := ctx.Err() != nil
	stopSignals()
	cb.compReport(res, interrupted)
	if cb.cc.jsonOut != "" {
		if err := writeJSONFile(cb.cc.jsonOut, res); err != nil {
			return err
		}
	}
	if cb.cc.perf && !interrupted {
		if cb.perf, _ = exec.LookPath("perf"); cb.perf == "" {
			fmt.Fprintln(cb.out, "\nperf not found (Debian package linux-perf): no profile")
		} else {
			fmt.Fprintf(cb.log, "  profiling the server recording one room of %d…\n", cb.cc.roomSize)
			r := cb.serverRunOpts(context.Background(), "profile", 1, cb.cc.roomSize, 0, false, true)
			fmt.Fprintln(cb.out)
			if r.profile == "" {
				fmt.Fprintf(cb.out, "profile run failed: %s\n", r.Err)
			} else {
				fmt.Fprintf(cb.out, "profile of one composite of %d participants (extra run, not in the tables):\n%s", cb.cc.roomSize, r.profile)
			}
		}
	}
	if interrupted {
		return errors.New("interrupted")
	}
	return nil
}

func (cb *compBench) prepare(ctx context.Context) error {
	var err error
	if cb.root, cb.serverBin, err = locateServer(cb.cfg.serverPath); err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		dst  *string
		pkg  string
	}{{"ffprobe", &cb.ffprobe, "ffmpeg"}, {"ffmpeg", &cb.ffmpeg, "ffmpeg"}, {"gst-launch-1.0", &cb.launch, "gstreamer1.0-tools"}} {
		if *t.dst, err = exec.LookPath(t.name); err != nil {
			return fmt.Errorf("%s not found: run `make deps-test` (Debian package %s)", t.name, t.pkg)
		}
	}
	if cb.tmp, err = os.MkdirTemp("", "streamline-compbench-"); err != nil {
		return err
	}
	gocmd, err := goTool()
	if err != nil {
		return err
	}
	cb.loadgenBin = filepath.Join(cb.tmp, "loadgen")
	build := exec.CommandContext(ctx, gocmd, "build", "-o", cb.loadgenBin, "./cmd/loadgen")
	build.Dir = cb.root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build cmd/loadgen: %v: %s", err, out)
	}
	n := cb.cc.roomSize
	for _, s := range cb.cc.sizes {
		n = max(n, s)
	}
	if len(cb.cc.rooms) == 0 {
		n = 0
		for _, s := range cb.cc.sizes {
			n = max(n, s)
		}
	}
	t0 := time.Now()
	fmt.Fprintf(cb.log, "  rendering %d inputs of %d s…\n", n, cb.cc.seconds)
	if cb.inputs, err = cb.prepareInputs(ctx, cb.launch, n, cb.cc.seconds, cb.cc.videoKbps); err != nil {
		return err
	}
	// A voice missing from a composite must be the server's doing: every
	// input carries its own tone throughout.
	for i, in := range cb.inputs {
		c := checkAudio(ctx, cb.ffmpeg, in.WebM, []float64{inputTone(i)}, 0, float64(cb.cc.seconds))
		if c.Err != "" {
			return fmt.Errorf("input %s: %s", filepath.Base(in.WebM), c.Err)
		}
		if c.Missing[0] > 0 {
			return fmt.Errorf("input %s: its %.0f Hz tone missing in %d of %d blocks of 100 ms", filepath.Base(in.WebM), inputTone(i), c.Missing[0], c.Blocks)
		}
	}
	fmt.Fprintf(cb.log, "  inputs ready in %.1fs\n", time.Since(t0).Seconds())
	cb.mediaPath = cb.inputs[0].Media
	return nil
}

func (cb *compBench) inputKbps() float64 {
	var sum int64
	for _, in := range cb.inputs {
		sum += in.Bytes
	}
	if len(cb.inputs) == 0 {
		return 0
	}
	return float64(sum) * 8 / 1000 / float64(len(cb.inputs)) / float64(cb.cc.seconds)
}

func (cb *compBench) compHeader() {
	c := cb.cc
	w := cb.out
	fmt.Fprintf(w, "Streamline composite benchmark\n")
	fmt.Fprintf(w, "  machine: %s\n", machineLine())
	period := time.Second / compFPS
	if probes, err := pacePenalty([]int{256 << 10, 4 << 20, 16 << 20}, period, 60, 3); err != nil {
		fmt.Fprintf(w, "  pacing: not measured: %v\n", err)
	} else {
		fmt.Fprintf(w, "  pacing: %s\n", paceLine(probes, period))
	}
	fmt.Fprintf(w, "  inputs: per participant %d s of %dx%d@%d VP8 (target %d kbit/s) + Opus 32 kbit/s in WebM, %.0f kbit/s per file (measured), a different moving pattern each, frames stamped;\n",
		c.seconds, inputW, inputH, inputFPS, c.videoKbps, cb.inputKbps())
	fmt.Fprintf(w, "          replayed as RTP by loadgen (separate process), decoded from the files by the floor and by ffmpeg\n")
	fmt.Fprintf(w, "  output: %dx%d@%d H.264 (x264 veryfast, zerolatency, %d kbit/s, keyframe every 2 s) + AAC %d kbit/s in MP4, grid layout\n",
		compWidth, compHeight, compFPS, compVideoKbps, compAudioKbps)
	fmt.Fprintf(w, "  ratio runs: rooms of %v participants, %d run(s) each: server (ingest window %s, then composite window %d s after %s), floor, ffmpeg\n",
		c.sizes, c.runs, c.idle, c.seconds, c.settle)
	if len(c.rooms) > 0 {
		fmt.Fprintf(w, "  capacity: %v simultaneous rooms of %d, %d run(s) each\n", c.rooms, c.roomSize, c.capRuns)
	}
	fmt.Fprintf(w, "  server %s %s\n\n", cb.serverBin, strings.Join(c.srvArgs, " "))
}

// compRun is one server run (plus, for a ratio run, its floor and ffmpeg).
type compRun struct {
	Kind  string `json:"kind"` // ratio or capacity
	Size  int    `json:"participants_per_room"`
	Rooms int    `json:"rooms"`
	Run   int    `json:"run"`
	Err   string `json:"error,omitempty"`

	IdleS      float64 `json:"ingest_window_s"`
	IdleCPU    float64 `json:"ingest_cpu_s"`
	WindowS    float64 `json:"window_s"`
	CPU        float64 `json:"cpu_s"`
	LoadgenCPU float64 `json:"loadgen_cpu_s"`
	OtherCPU   float64 `json:"other_cpu_s"`
	TopOther   string  `json:"top_other,omitempty"`
	Threads    int     `json:"threads"`
	// CPU-seconds by thread group (threads.go) in each window.
	IdleGroups map[string]float64 `json:"ingest_cpu_by_thread_group,omitempty"`
	Groups     map[string]float64 `json:"cpu_by_thread_group,omitempty"`
	IdleRSS    uint64             `json:"idle_rss"`
	SteadyRSS  uint64             `json:"steady_rss"`
	PeakRSS    uint64             `json:"peak_rss"`

	Sent        uint64  `json:"sent"`
	Received    uint64  `json:"received"`
	KernelDrops uint64  `json:"kernel_drops"`
	PushDropped uint64  `json:"push_dropped"`
	Lost        int64   `json:"lost"`
	LagP99MS    float64 `json:"loadgen_lag_p99_ms"`

	VideoEncoder string        `json:"video_encoder"`
	AudioEncoder string        `json:"audio_encoder"`
	Outputs      []*roomOutput `json:"outputs"`

	Floor     *floorRun `json:"floor,omitempty"`
	FFmpegCPU float64   `json:"ffmpeg_cpu_s,omitempty"`
	FFmpegErr string    `json:"ffmpeg_error,omitempty"`
	// ffmpeg with every input read at its native rate (-re).
	FFmpegPacedCPU float64 `json:"ffmpeg_paced_cpu_s,omitempty"`
	FFmpegPacedErr string  `json:"ffmpeg_paced_error,omitempty"`
	// The same composite as one gst-launch-1.0 pipeline: as fast as it
	// goes, and paced to real time.
	GstCPU      float64 `json:"gst_composite_cpu_s,omitempty"`
	GstErr      string  `json:"gst_composite_error,omitempty"`
	GstPacedCPU float64 `json:"gst_paced_cpu_s,omitempty"`
	GstPacedErr string  `json:"gst_paced_error,omitempty"`
	mediaS      float64
	tiles       []tileRef
	profile     string
}

type roomOutput struct {
	Room     string       `json:"room"`
	File     string       `json:"file"`
	State    string       `json:"state"`
	LagS     float64      `json:"lag_s"` // how far the output was behind the wall clock at the stop
	Check    *outputCheck `json:"check"`
	Audio    *audioCheck  `json:"audio"`
	Problems []string     `json:"problems,omitempty"`
}

type floorRun struct {
	DecodeCPU float64 `json:"decode_cpu_s"`
	AudioCPU  float64 `json:"audio_cpu_s"`
	EncodeCPU float64 `json:"encode_cpu_s"` // reading the raw grid subtracted
	ReadCPU   float64 `json:"read_grid_cpu_s"`
	// OneCPU is the same floor with each gst-launch-1.0 kept on one CPU
	// (taskset), as the server keeps a room's threads (--pin-rooms): 0
	// when that run failed.
	OneCPU float64 `json:"one_cpu_cpu_s,omitempty"`
	// PacedCPU is the same work at a live room's pace (floorPipelines.Paced,
	// reading the grid subtracted): 0 when that run failed.
	PacedCPU float64 `json:"paced_cpu_s,omitempty"`
	Err      string  `json:"error,omitempty"`
}

func (f *floorRun) total() float64 { return f.DecodeCPU + f.AudioCPU + f.EncodeCPU }

// Per media-second rates (= cores while running in real time).
func (r *compRun) serverRate() float64 { return safeDiv(r.CPU, r.WindowS) }
func (r *compRun) ingestRate() float64 { return safeDiv(r.IdleCPU, r.IdleS) }
func (r *compRun) compRate() float64   { return r.serverRate() - r.ingestRate() }
func (r *compRun) floorRate() float64 {
	if r.Floor == nil || r.Floor.Err != "" {
		return 0
	}
	return safeDiv(r.Floor.total(), r.mediaS)
}

// floorOneCPURate is the floor with each part kept on one CPU, 0 when
// not measured.
func (r *compRun) floorOneCPURate() float64 {
	if r.floorRate() == 0 {
		return 0
	}
	return safeDiv(r.Floor.OneCPU, r.mediaS)
}

// floorPacedRate is the floor at a live room's pace, 0 when not measured.
func (r *compRun) floorPacedRate() float64 {
	if r.floorRate() == 0 {
		return 0
	}
	return safeDiv(r.Floor.PacedCPU, r.mediaS)
}
func (r *compRun) ffmpegRate() float64 { return r.peerRate(r.FFmpegCPU, r.FFmpegErr) }
func (r *compRun) ffmpegPacedRate() float64 {
	return r.peerRate(r.FFmpegPacedCPU, r.FFmpegPacedErr)
}
func (r *compRun) gstRate() float64      { return r.peerRate(r.GstCPU, r.GstErr) }
func (r *compRun) gstPacedRate() float64 { return r.peerRate(r.GstPacedCPU, r.GstPacedErr) }

// peerRate is a peer's CPU per media-second, 0 when its run failed.
func (r *compRun) peerRate(cpu float64, err string) float64 {
	if err != "" {
		return 0
	}
	return safeDiv(cpu, r.mediaS)
}
func (r *compRun) otherLoad() float64 { return safeDiv(r.OtherCPU, r.WindowS) }

// mibPerRoom is the peak memory above the idle server, per room.
func (r *compRun) mibPerRoom() float64 {
	return safeDiv(float64(r.PeakRSS-min(r.PeakRSS, r.IdleRSS))/(1<<20), float64(r.Rooms))
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func (r *compRun) problems() []string {
	var p []string
	if r.Err != "" {
		p = append(p, r.Err)
	}
	if r.KernelDrops > 0 {
		p = append(p, fmt.Sprintf("kernel dropped %d datagrams", r.KernelDrops))
	}
	if r.PushDropped > 0 {
		p = append(p, fmt.Sprintf("push_dropped %d", r.PushDropped))
	}
	if r.Err == "" && r.Received != r.Sent {
		p = append(p, fmt.Sprintf("server counted %d of %d datagrams", r.Received, r.Sent))
	}
	for _, o := range r.Outputs {
		for _, q := range o.Problems {
			p = append(p, o.Room+": "+q)
		}
	}
	return p
}

func (r *compRun) clean() bool { return len(r.problems()) == 0 }

func cleanCount(rs []*compRun) int {
	n := 0
	for _, r := range rs {
		if r.clean() {
			n++
		}
	}
	return n
}

func capPassed(c *capResult) bool { return len(c.Runs) > 0 && 2*cleanCount(c.Runs) > len(c.Runs) }

// worstOutput sums the losses over a run's outputs.
func (r *compRun) worstOutput() (minFrames, expected, skipped, maxRun int, maxGap, maxLag float64) {
	minFrames = -1
	for _, o := range r.Outputs {
		if o.Check == nil {
			continue
		}
		s, m, _, _ := o.Check.worst()
		skipped += s
		maxRun = max(maxRun, m)
		if minFrames < 0 || o.Check.Times.Frames < minFrames {
			minFrames, expected = o.Check.Times.Frames, o.Check.Times.Expected
		}
		maxGap = max(maxGap, o.Check.Times.MaxGapMS)
		maxLag = max(maxLag, o.LagS)
	}
	return
}

// weakestTone is the least amplitude any participant's tone had in a 100 ms
// block of any output (-1: no audio checked).
func (r *compRun) weakestTone() float64 {
	w := -1.0
	for _, o := range r.Outputs {
		if o.Audio == nil || o.Audio.Err != "" {
			continue
		}
		for _, a := range o.Audio.MinAmp {
			if w < 0 || a < w {
				w = a
			}
		}
	}
	return w
}

// ratioRun measures the server, then the floor and ffmpeg, for one room of n.
func (cb *compBench) ratioRun(ctx context.Context, n, run int) *compRun {
	r := cb.serverRun(ctx, "ratio", 1, n, run, true)
	if r.Err != "" && ctx.Err() == nil {
		cb.progressComp(r)
		fmt.Fprintf(cb.log, "  retrying the run once\n")
		r = cb.serverRun(ctx, "ratio", 1, n, run, true)
	}
	if ctx.Err() != nil {
		return r
	}
	if cb.layouts[n] == nil && len(r.tiles) == n {
		cb.layouts[n] = r.tiles
	}
	tiles := cb.layouts[n]
	if tiles == nil {
		r.Floor = &floorRun{Err: "no layout of the server known for this size"}
		r.FFmpegErr = r.Floor.Err
		return r
	}
	webms := make([]string, n)
	for i := range webms {
		webms[i] = cb.inputs[i].WebM
	}
	dir, err := os.MkdirTemp(cb.tmp, fmt.Sprintf("floor-%d-%d-", n, run))
	if err != nil {
		r.Floor = &floorRun{Err: err.Error()}
		return r
	}
	defer os.RemoveAll(dir)
	if cb.grids[n] == "" {
		g := filepath.Join(cb.tmp, fmt.Sprintf("grid-%d.yuv", n))
		if err := cb.renderGrid(ctx, cb.ffmpeg, webms, tiles, compWidth, compHeight, compFPS, g); err != nil {
			r.Floor = &floorRun{Err: err.Error()}
			return r
		}
		cb.grids[n] = g
	}
	aac := r.AudioEncoder
	if aac == "" {
		aac = "avenc_aac"
	}
	fl := &floorRun{}
	r.Floor = fl
	d := floorDescs(webms, cb.grids[n], dir, compWidth, compHeight, compFPS, compVideoKbps, aac, compAudioKbps)
	for _, pin := range []bool{false, true} {
		var dec, aud, read, enc time.Duration
		var err error
		for _, s := range []struct {
			desc string
			dst  *time.Duration
		}{{d.Decode, &dec}, {d.Audio, &aud}, {d.ReadGrid, &read}, {d.Encode, &enc}} {
			if *s.dst, err = cb.gstLaunchOn(ctx, s.desc, pin); err != nil {
				break
			}
		}
		switch {
		case err != nil && !pin:
			fl.Err = err.Error()
		case err != nil: // the pinned floor is extra information
			fmt.Fprintf(cb.log, "  floor on one CPU failed: %v\n", err)
		case pin:
			fl.OneCPU = (dec + aud + enc - read).Seconds()
		default:
			fl.DecodeCPU, fl.AudioCPU, fl.ReadCPU, fl.EncodeCPU = dec.Seconds(), aud.Seconds(), read.Seconds(), (enc - read).Seconds()
		}
		if fl.Err != "" {
			break
		}
	}
	if fl.Err == "" {
		paced, err := cb.gstLaunch(ctx, cb.launch, d.Paced)
		var read time.Duration
		if err == nil {
			read, err = cb.gstLaunch(ctx, cb.launch, d.PacedRead)
		}
		if err != nil { // extra information, like the pinned floor
			fmt.Fprintf(cb.log, "  paced floor failed: %v\n", err)
		} else {
			fl.PacedCPU = (paced - read).Seconds()
		}
	}
	ffmpeg := func(paced bool) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			return cb.timedRun(ctx, exec.Command(cb.ffmpeg, ffmpegCompositeArgs(webms, tiles, compWidth, compHeight, compFPS,
				compVideoKbps, compAudioKbps, filepath.Join(dir, "ffmpeg.mp4"), paced)...))
		}
	}
	gst := func(paced bool) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			return cb.gstLaunch(ctx, cb.launch, gstCompositeDesc(webms, tiles, compWidth, compHeight, compFPS,
				compVideoKbps, aac, compAudioKbps, filepath.Join(dir, "gst.mp4"), paced))
		}
	}
	for _, p := range []struct {
		run func() (time.Duration, error)
		cpu *float64
		err *string
	}{{ffmpeg(false), &r.FFmpegCPU, &r.FFmpegErr}, {ffmpeg(true), &r.FFmpegPacedCPU, &r.FFmpegPacedErr},
		{gst(false), &r.GstCPU, &r.GstErr}, {gst(true), &r.GstPacedCPU, &r.GstPacedErr}} {
		cpu, err := p.run()
		if err != nil {
			*p.err = err.Error()
		}
		*p.cpu = cpu.Seconds()
	}
	return r
}

// compRoom is one room of a server run.
type compRoom struct {
	ID     string
	Port   int
	Tracks []loadgenTrack
	parts  []string // participant ids, in input order
	start  time.Time
}

// compositeJSON is the part of a composite recording's API object the bench reads.
type compositeJSON struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Encodings []struct {
		Path         string `json:"path"`
		State        string `json:"state"`
		Error        string `json:"error"`
		DurationMS   int64  `json:"duration_ms"`
		VideoEncoder struct {
			Element string `json:"element"`
		} `json:"video_encoder"`
		AudioEncoder struct {
			Element string `json:"element"`
		} `json:"audio_encoder"`
	} `json:"encodings"`
}

type layoutJSON struct {
	Live   bool `json:"live"`
	Layout struct {
		Frame struct {
			Width  int `json:"width"`
			Height int `json:"height"`
		} `json:"frame"`
		Tiles []struct {
			Participant string `json:"participant_id"`
			Source      string `json:"source"`
			Content     rect   `json:"content"`
		} `json:"tiles"`
	} `json:"layout"`
}

// UnmarshalJSON reads the API's {"x","y","width","height"}.
func (r *rect) UnmarshalJSON(b []byte) error {
	var v struct{ X, Y, Width, Height int }
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = rect{v.X, v.Y, v.Width, v.Height}
	return nil
}

// tilesOf orders a layout's camera tiles by participant (= input) order.
func tilesOf(l layoutJSON, parts []string) ([]tileRef, error) {
	byPart := map[string]rect{}
	for _, t := range l.Layout.Tiles {
		if t.Source == "" || t.Source == "camera" {
			byPart[t.Participant] = t.Content
		}
	}
	var out []tileRef
	for _, p := range parts {
		c, ok := byPart[p]
		if !ok {
			return nil, fmt.Errorf("layout has no tile for %s", p)
		}
		if c.W <= 0 || c.H <= 0 {
			return nil, fmt.Errorf("tile of %s is %dx%d", p, c.W, c.H)
		}
		out = append(out, tileRef{Participant: p, Content: c})
	}
	return out, nil
}

func (cb *compBench) planCompRooms(rooms, size int) []compRoom {
	used := map[uint32]bool{0: true}
	ssrc := func() uint32 {
		for {
			if v := cb.rng.Uint32(); !used[v] {
				used[v] = true
				return v
			}
		}
	}
	holdFirst := func(j int) string {
		if j == 1 && cb.cc.holdFirst > 0 {
			return cb.cc.holdFirst.String()
		}
		return ""
	}
	out := make([]compRoom, rooms)
	for k := range out {
		r := &out[k]
		r.ID = fmt.Sprintf("comp-%02d", k)
		for j := 0; j < size; j++ {
			pid := fmt.Sprintf("p%02d", j)
			r.parts = append(r.parts, pid)
			media := cb.inputs[j].Media
			r.Tracks = append(r.Tracks,
				loadgenTrack{SSRC: ssrc(), Kind: "audio", PT: 111, Group: pid, Media: media, HoldFirst: holdFirst(j)},
				loadgenTrack{SSRC: ssrc(), Kind: "video", PT: 96, Group: pid, Media: media})
		}
	}
	return out
}

// serverRun runs one server with `rooms` rooms of `size` participants.
// With ingest, the window without recording comes first.
func (cb *compBench) serverRun(ctx context.Context, kind string, rooms, size, run int, ingest bool) *compRun {
	return cb.serverRunOpts(ctx, kind, rooms, size, run, ingest, false)
}

// serverRunOpts is serverRun; with profile the window is spent under perf
// (whose own cost then skews the run's figures).
func (cb *compBench) serverRunOpts(ctx context.Context, kind string, rooms, size, run int, ingest, profile bool) (res *compRun) {
	res = &compRun{Kind: kind, Size: size, Rooms: rooms, Run: run, mediaS: float64(cb.cc.seconds)}
	fail := func(err error) *compRun {
		res.Err = oneLine(err.Error())
		return res
	}
	dir, err := os.MkdirTemp(cb.tmp, fmt.Sprintf("%s-%dx%d-%d-", kind, rooms, size, run))
	if err != nil {
		return fail(err)
	}
	defer func() {
		if !cb.cc.keep {
			os.RemoveAll(dir)
		}
	}()
	plan := cb.planCompRooms(rooms, size)
	srv, err := cb.startServer(ctx, dir, rooms)
	if err != nil {
		return fail(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = srv.stop(10 * time.Second)
		}
	}()
	pid := srv.cmd.Process.Pid
	time.Sleep(300 * time.Millisecond)
	st, _ := readStatus(pid)
	res.IdleRSS = st.RSS

	var tracks []loadgenTrack
	kinds := map[uint32]string{} // for the thread groups
	for i := range plan {
		r := &plan[i]
		var room roomJSON
		if err := srv.api.do(ctx, http.MethodPost, "/v1/rooms", map[string]string{"id": r.ID}, &room); err != nil {
			return fail(err)
		}
		r.Port = room.RTP.Port
		for j, t := range r.Tracks {
			codec := map[string]string{"audio": "opus", "video": "vp8"}[t.Kind]
			req := trackRequest{ID: fmt.Sprintf("%s-%s", r.parts[j/2], t.Kind), Participant: r.parts[j/2], Kind: t.Kind,
				Codec: codec, SSRC: t.SSRC, PayloadType: t.PT}
			if err := srv.api.do(ctx, http.MethodPost, "/v1/rooms/"+r.ID+"/tracks", req, nil); err != nil {
				return fail(err)
			}
			t.Dest = fmt.Sprintf("127.0.0.1:%d", r.Port)
			t.Group = r.ID + "/" + t.Group // one socket per participant, as an SFU sends
			tracks = append(tracks, t)
			kinds[t.SSRC] = t.Kind
		}
	}
	window := time.Duration(cb.cc.seconds) * time.Second
	idle := time.Duration(0)
	if ingest {
		idle = cb.cc.idle
	}
	// Starting the composites takes time (more on a busy machine): the load
	// gets a second per room of slack so the window still ends inside it.
	sendFor := compWarmup + idle + cb.cc.settle + window + compTail + time.Duration(rooms)*time.Second
	lg, err := cb.startLoadgenSpec(dir, tracks, sendFor)
	if err != nil {
		return fail(err)
	}
	lgPid := lg.cmd.Process.Pid
	abort := func(err error) *compRun {
		_, _ = lg.wait(ctx, time.Second)
		return fail(err)
	}
	if err := sleepCtx(ctx, time.Until(lg.start.Add(compWarmup))); err != nil {
		return abort(err)
	}
	if ingest {
		t0, s0 := snapThreads(pid), takeSample(pid, lgPid)
		if err := sleepCtx(ctx, idle); err != nil {
			return abort(err)
		}
		s1, t1 := takeSample(pid, lgPid), snapThreads(pid)
		res.IdleS, res.IdleCPU = s1.at.Sub(s0.at).Seconds(), (s1.cpu - s0.cpu).Seconds()
		res.IdleGroups = groupCPU(pid, kinds, t0, t1)
	}
	body := map[string]any{"id": compRecordingID, "kind": "composite", "format": "mp4",
		"video": map[string]any{"width": compWidth, "height": compHeight, "fps": compFPS, "codec": "h264", "bitrate_kbps": compVideoKbps},
		"audio": map[string]any{"codec": "aac", "bitrate_kbps": compAudioKbps}}
	for i := range plan {
		var rec compositeJSON
		plan[i].start = time.Now()
		if err := srv.api.do(ctx, http.MethodPost, "/v1/rooms/"+plan[i].ID+"/recordings", body, &rec); err != nil {
			return abort(fmt.Errorf("start composite: %w", err))
		}
		if len(rec.Encodings) > 0 {
			res.VideoEncoder, res.AudioEncoder = rec.Encodings[0].VideoEncoder.Element, rec.Encodings[0].AudioEncoder.Element
		}
	}
	winStart := plan[len(plan)-1].start.Add(cb.cc.settle)
	if err := sleepCtx(ctx, time.Until(winStart)); err != nil {
		return abort(err)
	}
	t0, s0 := snapThreads(pid), takeSample(pid, lgPid)
	if profile {
		res.profile = cb.profileServer(ctx, pid, window, dir)
	} else if err := sleepCtx(ctx, window); err != nil {
		return abort(err)
	}
	s1, t1 := takeSample(pid, lgPid), snapThreads(pid)
	res.Groups = groupCPU(pid, kinds, t0, t1)
	st, _ = readStatus(pid)
	res.SteadyRSS, res.Threads = st.RSS, st.Threads
	if loadEnd := lg.start.Add(sendFor); s1.at.After(loadEnd) {
		return abort(fmt.Errorf("the window ended %s after the load did (machine overloaded?)", s1.at.Sub(loadEnd).Round(time.Millisecond)))
	}
	res.WindowS, res.CPU = s1.at.Sub(s0.at).Seconds(), (s1.cpu - s0.cpu).Seconds()
	res.LoadgenCPU = (s1.lgCPU - s0.lgCPU).Seconds()
	other, _, top := otherCPU(s0.procs, s1.procs, map[int]bool{pid: true, lgPid: true, os.Getpid(): true})
	res.OtherCPU = other.Seconds()
	if res.otherLoad() >= 0.2 {
		res.TopOther = top
	}
	// The live geometry (exactly what the compositor draws).
	layouts := make([]layoutJSON, len(plan))
	for i := range plan {
		if err := srv.api.do(ctx, http.MethodGet, "/v1/rooms/"+plan[i].ID+"/layout", nil, &layouts[i]); err != nil {
			return abort(err)
		}
	}
	if err := sleepCtx(ctx, time.Until(s1.at.Add(compStopAfter))); err != nil {
		return abort(err)
	}
	// Stop every composite at once; each output's lag is measured from its
	// own start to this moment.
	recs := make([]compositeJSON, len(plan))
	stopAt := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(plan))
	for i := range plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = srv.api.do(ctx, http.MethodDelete, "/v1/rooms/"+plan[i].ID+"/recordings/"+compRecordingID, nil, &recs[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return abort(fmt.Errorf("stop composites: %w", err))
	}
	st, _ = readStatus(pid)
	res.PeakRSS = st.HWM
	// The lag is only meaningful while the tracks still flow (with every
	// sender silent, the compositor's output stalls).
	lagValid := stopAt.Before(lg.start.Add(sendFor - 500*time.Millisecond))
	lres, err := lg.wait(ctx, sendFor+30*time.Second)
	if err != nil {
		return fail(err)
	}
	res.Sent, res.LagP99MS = lres.Datagrams, lres.LagMS.P99
	if err := sleepCtx(ctx, time.Second); err != nil {
		return fail(err)
	}
	ports := map[int]bool{}
	for _, r := range plan {
		ports[r.Port] = true
	}
	if res.KernelDrops, _, _, err = udpDrops(pid, ports); err != nil {
		return fail(fmt.Errorf("kernel drops: %w", err))
	}
	packets := map[string]uint64{} // room/track → RTP packets the server took
	for _, r := range plan {
		var room roomJSON
		if err := srv.api.do(ctx, http.MethodGet, "/v1/rooms/"+r.ID, nil, &room); err != nil {
			return fail(err)
		}
		res.Received += room.Counters.Datagrams
		for _, t := range room.Tracks {
			if t.Stats != nil {
				packets[r.ID+"/"+t.ID] = t.Stats.Packets
				res.PushDropped += t.Stats.PushDropped
				res.Lost += t.Stats.Lost
			}
		}
	}
	stopped = true
	if err := srv.stop(60 * time.Second); err != nil {
		return fail(err)
	}

	// Check every output over the measured window (in its own time).
	for i, r := range plan {
		o := &roomOutput{Room: r.ID}
		res.Outputs = append(res.Outputs, o)
		if len(recs[i].Encodings) != 1 {
			o.Problems = append(o.Problems, fmt.Sprintf("%d encodings in the response", len(recs[i].Encodings)))
			continue
		}
		e := recs[i].Encodings[0]
		o.File, o.State = filepath.Join(srv.data, e.Path), e.State
		if e.State != "final" {
			o.Problems = append(o.Problems, fmt.Sprintf("file %s: %s", e.State, e.Error))
		}
		tiles, err := tilesOf(layouts[i], r.parts)
		if err != nil {
			o.Problems = append(o.Problems, err.Error())
			continue
		}
		if fw, fh := layouts[i].Layout.Frame.Width, layouts[i].Layout.Frame.Height; fw != compWidth || fh != compHeight || !layouts[i].Live {
			o.Problems = append(o.Problems, fmt.Sprintf("layout frame %dx%d live=%v", fw, fh, layouts[i].Live))
		}
		if i == 0 {
			res.tiles = tiles
		}
		from := winStart.Sub(r.start).Seconds()
		to := s1.at.Sub(r.start).Seconds()
		o.Check = checkOutput(ctx, cb.ffprobe, cb.ffmpeg, o.File, compWidth, compHeight, compFPS, tiles, inputW, inputH,
			cb.cc.seconds*inputFPS, from, to)
		o.Problems = append(o.Problems, o.Check.problems(compFPS)...)
		o.Audio = checkAudio(ctx, cb.ffmpeg, o.File, partTones(len(r.parts)), from, to)
		// Where a voice went missing: the server's receive counters and log.
		o.Problems = append(o.Problems, o.Audio.problems(r.parts, func(part string) string {
			id := part + "-audio"
			return fmt.Sprintf("the server received %d packets of %s; its log of the track: %s", packets[r.ID+"/"+id], id,
				strings.Join(logLines(srv.log, "track="+id+" ", 6), " | "))
		})...)
		if !lagValid {
			o.Problems = append(o.Problems, "stopped after the load ended (machine overloaded?): lag not measured")
		} else if o.Check.DecodeErr == "" {
			o.LagS = stopAt.Sub(r.start).Seconds() - o.Check.Times.LastS - 1.0/compFPS
			if o.LagS > maxLagS {
				o.Problems = append(o.Problems, fmt.Sprintf("output %.1f s behind the wall clock at the stop", o.LagS))
			}
		}
	}
	return res
}

func (cb *compBench) progressComp(r *compRun) {
	label := fmt.Sprintf("  %s %d×%d run %d", r.Kind, r.Rooms, r.Size, r.Run)
	if r.Err != "" {
		fmt.Fprintf(cb.log, "%s ERROR: %s\n", label, r.Err)
		return
	}
	verdict := "clean"
	if !r.clean() {
		verdict = "NOT CLEAN: " + strings.Join(r.problems(), "; ")
	}
	frames, expected, skipped, maxRun, gap, lag := r.worstOutput()
	ingest := ""
	if r.IdleS > 0 {
		ingest = fmt.Sprintf(" (ingest alone %.3f)", r.ingestRate())
	}
	fmt.Fprintf(cb.log, "%s: server %.3f cores%s, peak RSS %s (%.0f MiB/room), frames %d/%d, max gap %.0f ms, tile skips %d, longest freeze %d, weakest tone %.2f, lag %.2fs, loadgen %.2f cores, other processes %.2f cores",
		label, r.serverRate(), ingest, mib(r.PeakRSS), r.mibPerRoom(), frames, expected, gap, skipped, maxRun, r.weakestTone(), lag,
		safeDiv(r.LoadgenCPU, r.WindowS), r.otherLoad())
	if r.TopOther != "" {
		fmt.Fprintf(cb.log, " (mostly %s)", r.TopOther)
	}
	if r.Floor != nil {
		if r.Floor.Err != "" {
			fmt.Fprintf(cb.log, "; floor ERROR: %s", r.Floor.Err)
		} else {
			fmt.Fprintf(cb.log, "; floor %.3f (decode %.3f, audio %.3f, encode %.3f; on one CPU %.3f; paced %.3f)", r.floorRate(),
				r.Floor.DecodeCPU/r.mediaS, r.Floor.AudioCPU/r.mediaS, r.Floor.EncodeCPU/r.mediaS, r.floorOneCPURate(), r.floorPacedRate())
		}
		if r.FFmpegErr != "" {
			fmt.Fprintf(cb.log, "; ffmpeg ERROR: %s", r.FFmpegErr)
		} else {
			fmt.Fprintf(cb.log, "; ffmpeg %.3f", r.ffmpegRate())
		}
		if r.FFmpegPacedErr != "" {
			fmt.Fprintf(cb.log, ", paced ERROR: %s", r.FFmpegPacedErr)
		} else {
			fmt.Fprintf(cb.log, ", paced %.3f", r.ffmpegPacedRate())
		}
		if r.GstErr != "" || r.GstPacedErr != "" {
			fmt.Fprintf(cb.log, "; gst-launch ERROR: %s", cmp.Or(r.GstErr, r.GstPacedErr))
		} else {
			fmt.Fprintf(cb.log, "; gst-launch %.3f, paced %.3f", r.gstRate(), r.gstPacedRate())
		}
	}
	fmt.Fprintf(cb.log, " [%s]\n", verdict)
}

// compMedian is the median of f over the runs without errors (and, with
// need, where need holds).
func compMedian(rs []*compRun, f func(*compRun) float64, need func(*compRun) bool) float64 {
	var v []float64
	for _, r := range rs {
		if r.Err == "" && (need == nil || need(r)) {
			v = append(v, f(r))
		}
	}
	return median(v)
}

// measuredMedian is the median of rate over the runs where it was measured
// (a rate of 0 is a part that failed or did not run).
func measuredMedian(rs []*compRun, rate func(*compRun) float64) float64 {
	return compMedian(rs, rate, func(r *compRun) bool { return rate(r) > 0 })
}

func hasFloor(r *compRun) bool { return r.floorRate() > 0 }

// ratioOf is the median over runs of a per-run ratio.
func ratioOf(rs []*compRun, num func(*compRun) float64, den func(*compRun) float64) (float64, int) {
	v := runRatios(rs, num, den)
	return median(v), len(v)
}

// runRatios are num/den of every measured run.
func runRatios(rs []*compRun, num func(*compRun) float64, den func(*compRun) float64) []float64 {
	var v []float64
	for _, r := range rs {
		// A zero numerator is a run whose server was not measured (e.g.
		// -server names a wrapper that is not the server process), not a
		// free composite.
		if r.Err == "" && den(r) > 0 && num(r) > 0 {
			v = append(v, num(r)/den(r))
		}
	}
	return v
}

// spread is ", runs lo–hix" for more than one ratio: on a shared machine one
// run's ratio moves by tens of percent, and a median alone hides that.
func spread(v []float64) string {
	if len(v) < 2 {
		return ""
	}
	return fmt.Sprintf(", runs %.2f–%.2fx", slices.Min(v), slices.Max(v))
}

// pacedVerdict is the target held against the paced floor, when measured.
func pacedVerdict(ratio, target float64) string {
	if ratio == 0 {
		return "not measured"
	}
	return verdict(ratio <= target)
}

func targetRatio(n int) float64 {
	if n <= 4 {
		return targetRatioN4
	}
	return targetRatioN9
}

func (cb *compBench) compReport(res *compResults, interrupted bool) {
	w := cb.out
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ratio runs: medians over runs; figures are CPU-seconds per media-second (= cores in real time)")
	fmt.Fprintf(w, "%3s %5s"+strings.Repeat(" %7s", 13)+strings.Repeat(" %8s", 8)+" %9s %8s %8s %6s %7s\n",
		"N", "clean", "server", "ingest", "compos", "floor", "f.dec", "f.aud", "f.enc", "f.1cpu", "f.rt", "ffmpeg", "ffm-rt", "gst", "gst-rt",
		"cmp/flr", "tot/flr", "cmp/f1", "cmp/fRT", "cmp/ffm", "tot/ffm", "cmp/fmRT", "cmp/gRT", "peakRSS", "iRSS", "MiB/rm", "skips", "freeze")
	for _, s := range res.Sizes {
		rs := s.Runs
		cf, _ := ratioOf(rs, (*compRun).compRate, (*compRun).floorRate)
		tf, _ := ratioOf(rs, (*compRun).serverRate, (*compRun).floorRate)
		c1, _ := ratioOf(rs, (*compRun).compRate, (*compRun).floorOneCPURate)
		cr, _ := ratioOf(rs, (*compRun).compRate, (*compRun).floorPacedRate)
		cm, _ := ratioOf(rs, (*compRun).compRate, (*compRun).ffmpegRate)
		tm, _ := ratioOf(rs, (*compRun).serverRate, (*compRun).ffmpegRate)
		cmr, _ := ratioOf(rs, (*compRun).compRate, (*compRun).ffmpegPacedRate)
		cg, _ := ratioOf(rs, (*compRun).compRate, (*compRun).gstPacedRate)
		fl := func(f func(*floorRun) float64) float64 {
			return compMedian(rs, func(r *compRun) float64 { return f(r.Floor) / r.mediaS }, hasFloor)
		}
		skips := maxOfComp(rs, func(r *compRun) float64 { _, _, s, _, _, _ := r.worstOutput(); return float64(s) })
		freeze := maxOfComp(rs, func(r *compRun) float64 { _, _, _, m, _, _ := r.worstOutput(); return float64(m) })
		fmt.Fprintf(w, "%3d %5s %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.2fx %7.2fx %7.2fx %7.2fx %7.2fx %7.2fx %7.2fx %7.2fx %9s %8s %8.0f %6.0f %7.0f\n",
			s.Size, fmt.Sprintf("%d/%d", cleanCount(rs), len(rs)),
			compMedian(rs, (*compRun).serverRate, nil), compMedian(rs, (*compRun).ingestRate, nil), compMedian(rs, (*compRun).compRate, nil),
			measuredMedian(rs, (*compRun).floorRate),
			fl(func(f *floorRun) float64 { return f.DecodeCPU }), fl(func(f *floorRun) float64 { return f.AudioCPU }),
			fl(func(f *floorRun) float64 { return f.EncodeCPU }), measuredMedian(rs, (*compRun).floorOneCPURate),
			measuredMedian(rs, (*compRun).floorPacedRate),
			measuredMedian(rs, (*compRun).ffmpegRate), measuredMedian(rs, (*compRun).ffmpegPacedRate),
			measuredMedian(rs, (*compRun).gstRate), measuredMedian(rs, (*compRun).gstPacedRate), cf, tf, c1, cr, cm, tm, cmr, cg,
			mib(uint64(compMedian(rs, func(r *compRun) float64 { return float64(r.PeakRSS) }, nil))),
			mib(uint64(compMedian(rs, func(r *compRun) float64 { return float64(r.IdleRSS) }, nil))),
			compMedian(rs, (*compRun).mibPerRoom, nil), skips, freeze)
	}
	fmt.Fprintln(w, "  server: the server's CPU during the composite window (RTP ingest + composite); ingest: the same server, tracks and load, no recording;")
	fmt.Fprintln(w, "  compos: server − ingest (composite-attributable); floor = f.dec + f.aud + f.enc, gst-launch-1.0 alone on the same files: vp8dec ×N,")
	fmt.Fprintln(w, "  Opus decoder (the server's) ×N + audiomixer + AAC, x264enc (server settings) of the same grid picture; f.1cpu: that floor with each gst-launch-1.0")
	fmt.Fprintln(w, "  kept on one CPU (taskset), as the server keeps a room (--pin-rooms); cmp/f1: compos / f.1cpu; f.rt: the same three parts in one")
	fmt.Fprintln(w, "  gst-launch-1.0 at a live room's pace (each decoder's frames, the mix and the grid released at their media time); cmp/fRT: compos / f.rt;")
	fmt.Fprintln(w, "  ffmpeg: xstack + amix + libx264 + aac, same files; ffm-rt: that with every input read at its native rate (-re); cmp/fmRT: compos / ffm-rt;")
	fmt.Fprintln(w, "  gst: the same composite as one gst-launch-1.0 pipeline (compositor + audiomixer, same encoders), as fast as it goes; gst-rt: that")
	fmt.Fprintln(w, "  pipeline with both mixers' outputs released at their media time, so decoding, mixing and encoding run at a live room's pace;")
	fmt.Fprintln(w, "  cmp/*, tot/*: per-run ratios (median); MiB/rm: VmHWM − idle RSS (idle: the server up, its encoders")
	fmt.Fprintln(w, "  and their libraries loaded by --warm-encoders, no room; iRSS); skips: input frames never shown, summed over the tiles (worst run);")
	fmt.Fprintln(w, "  freeze: most consecutive output frames showing one input frame (worst run)")
	threadReport(w, res.Sizes)

	if len(res.Capacity) > 0 {
		cb.capacityReport(w, res)
	}
	for _, s := range res.Sizes {
		for _, r := range s.Runs {
			if !r.clean() {
				fmt.Fprintf(w, "  N=%d run %d not clean: %s\n", r.Size, r.Run, strings.Join(r.problems(), "; "))
			}
			if r.Floor != nil && r.Floor.Err != "" {
				fmt.Fprintf(w, "  N=%d run %d floor failed: %s\n", r.Size, r.Run, r.Floor.Err)
			}
			if e := cmp.Or(r.FFmpegErr, r.FFmpegPacedErr); e != "" {
				fmt.Fprintf(w, "  N=%d run %d ffmpeg failed: %s\n", r.Size, r.Run, e)
			}
			if e := cmp.Or(r.GstErr, r.GstPacedErr); e != "" {
				fmt.Fprintf(w, "  N=%d run %d gst-launch composite failed: %s\n", r.Size, r.Run, e)
			}
		}
	}
	for _, c := range res.Capacity {
		for _, r := range c.Runs {
			if !r.clean() {
				fmt.Fprintf(w, "  %d rooms run %d not clean: %s\n", c.Rooms, r.Run, strings.Join(r.problems(), "; "))
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, cb.compSummary(res, interrupted))
}

func maxOfComp(rs []*compRun, f func(*compRun) float64) float64 {
	m := 0.0
	for _, r := range rs {
		if r.Err == "" {
			m = max(m, f(r))
		}
	}
	return m
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// capacityVerdict is the capacity target's verdict when best rooms of
// roomSize held: only rooms of 4 answer it, and fewer than the target
// all holding says nothing about the target.
func capacityVerdict(roomSize, best int, allHeld bool) string {
	switch {
	case roomSize != 4:
		return fmt.Sprintf("not measured with rooms of %d", roomSize)
	case best < targetRoomsOf4 && allHeld:
		return fmt.Sprintf("not tried: every count up to %d held", best)
	}
	return verdict(best >= targetRoomsOf4)
}

// roomsNoun is "room" for one, else "rooms".
func roomsNoun(n int) string {
	if n == 1 {
		return "room"
	}
	return "rooms"
}

// capacityReport prints the capacity table. Besides whether K rooms hold,
// it gives what one room's composite costs with K running (server − ingest
// window, per room) against the floor of one room of that size measured in
// the same run: one room alone on an idle machine pays for the vCPUs'
// idle spells between frames (docs/compositing.md, Known gaps), which a busy
// machine does not.
func (cb *compBench) capacityReport(w io.Writer, res *compResults) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "capacity: simultaneous rooms of %d, each recording a composite (worst room of each run shown; medians for CPU and memory)\n", cb.cc.roomSize)
	fmt.Fprintf(w, "%5s %5s %7s %7s %7s %7s %7s %8s %7s %12s %7s %6s %7s %6s %7s\n",
		"rooms", "clean", "cores", "/room", "ingest", "cmp/rm", "cmp/flr", "peakRSS", "MiB/rm", "frames", "gap ms", "skips", "freeze", "lag s", "other")
	floor := cb.floorOf(res, cb.cc.roomSize, (*compRun).floorRate)
	for _, c := range res.Capacity {
		rs := c.Runs
		minF, exp := -1, 0
		var gap, lag, skips, freeze float64
		for _, r := range rs {
			f, e, s, m, g, l := r.worstOutput()
			if f >= 0 && (minF < 0 || f < minF) {
				minF, exp = f, e
			}
			gap, lag = max(gap, g), max(lag, l)
			skips, freeze = max(skips, float64(s)), max(freeze, float64(m))
		}
		perRoom := capCompPerRoom(c)
		ratio := "-"
		if floor > 0 && perRoom > 0 {
			ratio = fmt.Sprintf("%.2fx", perRoom/floor)
		}
		fmt.Fprintf(w, "%5d %5s %7.3f %7.3f %7.3f %7.3f %7s %8s %7.0f %12s %7.0f %6.0f %7.0f %6.2f %7.2f\n",
			c.Rooms, fmt.Sprintf("%d/%d", cleanCount(rs), len(rs)),
			compMedian(rs, (*compRun).serverRate, nil),
			compMedian(rs, func(r *compRun) float64 { return r.serverRate() / float64(r.Rooms) }, nil),
			compMedian(rs, (*compRun).ingestRate, nil), perRoom, ratio,
			mib(uint64(compMedian(rs, func(r *compRun) float64 { return float64(r.PeakRSS) }, nil))),
			compMedian(rs, (*compRun).mibPerRoom, nil),
			fmt.Sprintf("%d/%d", max(minF, 0), exp), gap, skips, freeze, lag,
			compMedian(rs, (*compRun).otherLoad, nil))
	}
	fmt.Fprintf(w, "  frames: output frames in the window of the worst room / expected; gap: largest step between output frames; lag: output behind\n")
	fmt.Fprintf(w, "  the wall clock at the stop; other: cores used by other processes during the window; ingest: the same rooms and load before\n")
	fmt.Fprintf(w, "  the composites start; cmp/rm: (cores − ingest) / rooms; cmp/flr: cmp/rm against the median floor of the ratio runs of rooms\n")
	fmt.Fprintf(w, "  of %d in this run (\"-\" when there were none)\n", cb.cc.roomSize)
}

// capCompPerRoom is the median composite-attributable cost per room of a
// capacity count's runs (0 without an ingest window).
func capCompPerRoom(c *capResult) float64 {
	return compMedian(c.Runs, func(r *compRun) float64 { return r.compRate() / float64(max(r.Rooms, 1)) },
		func(r *compRun) bool { return r.IdleS > 0 })
}

// floorOf is the median of a floor rate (floorRate, floorPacedRate) over the
// ratio runs of rooms of size n (0: none).
func (cb *compBench) floorOf(res *compResults, n int, rate func(*compRun) float64) float64 {
	for _, s := range res.Sizes {
		if s.Size == n {
			return measuredMedian(s.Runs, rate)
		}
	}
	return 0
}

// memorySummary is the peak memory per room of each room size and of each
// capacity count (medians: a room of 9 and three rooms of 4 share no
// median), and the verdict on the worst run of all; "" when nothing was
// measured.
func (cb *compBench) memorySummary(res *compResults) string {
	var each []string
	worst := -1.0
	add := func(what string, runs []*compRun) {
		var v []float64
		for _, r := range runs {
			if r.Err == "" && r.PeakRSS > 0 {
				m := r.mibPerRoom()
				v = append(v, m)
				worst = max(worst, m)
			}
		}
		if len(v) > 0 {
			each = append(each, fmt.Sprintf("%s %.0f", what, median(v)))
		}
	}
	for _, s := range res.Sizes {
		add(fmt.Sprintf("N=%d", s.Size), s.Runs)
	}
	for _, c := range res.Capacity {
		add(fmt.Sprintf("%d %s of %d", c.Rooms, roomsNoun(c.Rooms), cb.cc.roomSize), c.Runs)
	}
	if worst < 0 {
		return ""
	}
	return fmt.Sprintf("peak memory per room (MiB, medians): %s; worst run %.1f (target ≤%d: %s)",
		strings.Join(each, ", "), worst, targetMiBPerRm, verdict(worst <= targetMiBPerRm))
}

func (cb *compBench) compSummary(res *compResults, interrupted bool) string {
	var parts []string
	for _, s := range res.Sizes {
		perRun := runRatios(s.Runs, (*compRun).compRate, (*compRun).floorRate)
		cf, n := median(perRun), len(perRun)
		if n == 0 {
			parts = append(parts, fmt.Sprintf("N=%d: no complete run", s.Size))
			continue
		}
		tf, _ := ratioOf(s.Runs, (*compRun).serverRate, (*compRun).floorRate)
		cm, _ := ratioOf(s.Runs, (*compRun).compRate, (*compRun).ffmpegRate)
		tm, _ := ratioOf(s.Runs, (*compRun).serverRate, (*compRun).ffmpegRate)
		cg, _ := ratioOf(s.Runs, (*compRun).compRate, (*compRun).gstPacedRate)
		cr, _ := ratioOf(s.Runs, (*compRun).compRate, (*compRun).floorPacedRate)
		cmr, _ := ratioOf(s.Runs, (*compRun).compRate, (*compRun).ffmpegPacedRate)
		t := targetRatio(s.Size)
		note := ""
		if c := cleanCount(s.Runs); c < len(s.Runs) {
			note = fmt.Sprintf(", only %d/%d runs clean", c, len(s.Runs))
		}
		parts = append(parts, fmt.Sprintf("N=%d: server/floor %.2fx composite-attributable (%.2fx incl. RTP ingest; target ≤%.2fx: %s), server/floor paced %.2fx (target: %s), server/ffmpeg %.2fx (%.2fx incl. ingest), server/ffmpeg paced %.2fx, server/gst-launch paced %.2fx, %.3f vs floor %.3f CPU-s per media-s (median of %d%s%s)",
			s.Size, cf, tf, t, verdict(cf <= t), cr, pacedVerdict(cr, t), cm, tm, cmr, cg, compMedian(s.Runs, (*compRun).compRate, nil),
			measuredMedian(s.Runs, (*compRun).floorRate), n, spread(perRun), note))
	}
	if mem := cb.memorySummary(res); mem != "" {
		parts = append(parts, mem)
	}
	if len(res.Capacity) > 0 {
		best, smallest := 0, res.Capacity[0].Rooms
		var failed *capResult
		for _, c := range res.Capacity {
			smallest = min(smallest, c.Rooms)
			if capPassed(c) {
				best = max(best, c.Rooms)
			} else if failed == nil {
				failed = c
			}
		}
		s := fmt.Sprintf("real-time capacity: %d simultaneous %s of %d on %d cores (target ≥%d rooms of 4: %s)",
			best, roomsNoun(best), cb.cc.roomSize, runtime.NumCPU(), targetRoomsOf4, capacityVerdict(cb.cc.roomSize, best, failed == nil))
		if best == 0 && smallest > 1 {
			// Fewer rooms than the smallest count were not tried: no verdict.
			s = fmt.Sprintf("real-time capacity: no count tried held (%d or more rooms of %d on %d cores; fewer not tried, so no verdict)",
				smallest, cb.cc.roomSize, runtime.NumCPU())
		}
		if failed != nil {
			if p := firstCapProblem(failed); p != "" {
				s += fmt.Sprintf("; %d rooms failed (%s)", failed.Rooms, p)
			}
		} else if best == res.Capacity[len(res.Capacity)-1].Rooms {
			s += "; the largest count tried held (try more -rooms)"
		}
		if floor := cb.floorOf(res, cb.cc.roomSize, (*compRun).floorRate); best > 0 && floor > 0 {
			for _, c := range res.Capacity {
				if per := capCompPerRoom(c); c.Rooms == best && per > 0 {
					s += fmt.Sprintf("; with %d rooms running, a room's composite costs %.3f cores, %.2fx the floor", best, per, per/floor)
					if paced := cb.floorOf(res, cb.cc.roomSize, (*compRun).floorPacedRate); paced > 0 {
						s += fmt.Sprintf(", %.2fx the paced floor", per/paced)
					}
					s += " (one room alone: the ratios above)"
				}
			}
		}
		parts = append(parts, s)
	}
	var others []float64
	for _, s := range res.Sizes {
		for _, r := range s.Runs {
			others = append(others, r.otherLoad())
		}
	}
	for _, c := range res.Capacity {
		for _, r := range c.Runs {
			others = append(others, r.otherLoad())
		}
	}
	if o := median(others); o >= 0.25 {
		parts = append(parts, fmt.Sprintf("note: other processes used %.2f cores (median) during the windows", o))
	}
	prefix := "composite"
	if interrupted {
		prefix += " (interrupted: partial)"
	}
	return prefix + ": " + strings.Join(parts, "; ")
}

func firstCapProblem(c *capResult) string {
	for _, r := range c.Runs {
		if p := r.problems(); len(p) > 0 {
			return p[0]
		}
	}
	return ""
}

// logLines is up to max lines of the log at path that contain substr,
// without their time stamps.
func logLines(path, substr string, max int) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, substr) && len(out) < max {
			if _, rest, ok := strings.Cut(l, " "); ok && strings.HasPrefix(l, "time=") {
				l = rest
			}
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return []string{"nothing"}
	}
	return out
}
