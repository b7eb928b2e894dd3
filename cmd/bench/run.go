package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// children tracks every process the bench started so they can be ended on
// exit or Ctrl-C. Each child leads its own process group (so a terminal's
// Ctrl-C reaches only the bench, which then cleans up in order) and gets
// SIGKILL if the bench dies.
type children struct {
	mu sync.Mutex
	m  map[*exec.Cmd]bool
}

func (c *children) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[*exec.Cmd]bool{}
	}
	c.m[cmd] = true
	c.mu.Unlock()
	return nil
}

func (c *children) forget(cmd *exec.Cmd) {
	c.mu.Lock()
	delete(c.m, cmd)
	c.mu.Unlock()
}

// killAll ends every child still running (its process group, by id).
func (c *children) killAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for cmd := range c.m {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

// trackPlan and roomPlan describe the tracks of one run.
type trackPlan struct {
	ID, Participant, Kind string
	SSRC                  uint32
	PT                    int
}

type roomPlan struct {
	ID     string
	Port   int
	Tracks []trackPlan
	RecID  string
}

// planRooms lays out count tracks (rounded up to even) as participants with
// one Opus and one VP8 track each, perRoom tracks per room.
func planRooms(count, perRoom int, rng *rand.Rand) []roomPlan {
	participants := (count + 1) / 2
	perRoomP := max(perRoom/2, 1)
	used := map[uint32]bool{0: true}
	ssrc := func() uint32 {
		for {
			v := rng.Uint32()
			if !used[v] {
				used[v] = true
				return v
			}
		}
	}
	var rooms []roomPlan
	for p := 0; p < participants; p++ {
		if p%perRoomP == 0 {
			rooms = append(rooms, roomPlan{ID: fmt.Sprintf("bench-%03d", len(rooms)), RecID: "rec"})
		}
		r := &rooms[len(rooms)-1]
		pid := fmt.Sprintf("p%03d", p)
		r.Tracks = append(r.Tracks,
			trackPlan{ID: pid + "-audio", Participant: pid, Kind: "audio", SSRC: ssrc(), PT: 111},
			trackPlan{ID: pid + "-video", Participant: pid, Kind: "video", SSRC: ssrc(), PT: 96})
	}
	return rooms
}

func trackCount(rooms []roomPlan) int {
	n := 0
	for _, r := range rooms {
		n += len(r.Tracks)
	}
	return n
}

// loadgenTrack and loadgenResult mirror cmd/loadgen's JSON.
type loadgenTrack struct {
	SSRC  uint32 `json:"ssrc"`
	Kind  string `json:"kind"`
	Dest  string `json:"dest"`
	Group string `json:"group,omitempty"`
	PT    int    `json:"payload_type"`
	Media string `json:"media,omitempty"` // loadgen media file of this track (default: -media)
	// HoldFirst: loadgen sends the first packet this much late, the ones
	// due meanwhile in a burst after it ("300ms"; empty: on time).
	HoldFirst string  `json:"hold_first,omitempty"`
	Packets   uint64  `json:"packets,omitempty"`
	Frames    uint64  `json:"frames,omitempty"`
	MediaS    float64 `json:"media_s,omitempty"`
}

type loadgenResult struct {
	Tracks      int     `json:"tracks"`
	DurationS   float64 `json:"duration_s"`
	Datagrams   uint64  `json:"datagrams"`
	Packets     uint64  `json:"packets"`
	Bytes       uint64  `json:"bytes"`
	RTCPSent    uint64  `json:"rtcp_sent"`
	SendErrors  uint64  `json:"send_errors"`
	BitrateMbps float64 `json:"bitrate_mbps"`
	LagMS       struct {
		P50  float64 `json:"p50"`
		P99  float64 `json:"p99"`
		Max  float64 `json:"max"`
		Over float64 `json:"over_10ms_pct"`
	} `json:"lag_ms"`
	CPUS     float64        `json:"cpu_s"`
	PerTrack []loadgenTrack `json:"per_track"`
}

// runResult is everything measured in one run of one track count.
type runResult struct {
	Count    int    `json:"tracks"`
	Receiver string `json:"receiver"` // server or baseline
	Run      int    `json:"run"`
	Err      string `json:"error,omitempty"`

	SetupS  float64 `json:"setup_s"`
	WindowS float64 `json:"window_s"`
	// CPU seconds during the steady window.
	CPU        float64 `json:"cpu_s"`
	LoadgenCPU float64 `json:"loadgen_cpu_s"`
	MachineCPU float64 `json:"machine_cpu_s"`
	IRQCPU     float64 `json:"irq_cpu_s"`     // interrupts, softirq: loopback delivery of the load
	OtherCPU   float64 `json:"other_cpu_s"`   // other processes (other work on a shared machine)
	KthreadCPU float64 `json:"kthread_cpu_s"` // kernel threads (ksoftirqd, writeback…)
	TopOther   string  `json:"top_other,omitempty"`
	CtxPerPkt  float64 `json:"ctx_switches_per_datagram"`
	Threads    int     `json:"threads"`

	Sent        uint64  `json:"sent"`
	Received    uint64  `json:"received"`
	KernelDrops uint64  `json:"kernel_drops"`
	RxQueue     uint64  `json:"rx_queue_bytes"`
	PushDropped uint64  `json:"push_dropped"`
	Lost        int64   `json:"lost"`
	Unknown     uint64  `json:"unknown_ssrc"`
	SendS       float64 `json:"send_s"` // how long loadgen sent
	LagP99MS    float64 `json:"loadgen_lag_p99_ms"`
	BitrateMbps float64 `json:"bitrate_mbps"`

	IdleRSS   uint64 `json:"idle_rss"`
	SteadyRSS uint64 `json:"steady_rss"`
	PeakRSS   uint64 `json:"peak_rss"`

	Files         int      `json:"files"`
	FilesFinal    int      `json:"files_final"`
	DurRatioMin   float64  `json:"duration_ratio_min"`
	DurRatioMed   float64  `json:"duration_ratio_median"`
	Probed        int      `json:"files_probed"`
	FramesSent    uint64   `json:"frames_sent"`
	FramesInFiles uint64   `json:"frames_in_files"`
	ProbeErrors   []string `json:"probe_errors,omitempty"`

	Profile  string `json:"-"`
	ctxDelta uint64
}

// CPUPerTrack is CPU-seconds per track per media-second.
func (r *runResult) CPUPerTrack() float64 {
	if r.WindowS == 0 || r.Count == 0 {
		return 0
	}
	return r.CPU / (float64(r.Count) * r.WindowS)
}

// OtherLoad is the average number of cores other processes used during the
// window (other engineers' tests on a shared machine).
func (r *runResult) OtherLoad() float64 {
	if r.WindowS == 0 {
		return 0
	}
	return r.OtherCPU / r.WindowS
}

func (r *runResult) zeroDrops() bool {
	return r.Err == "" && r.KernelDrops == 0 && r.PushDropped == 0 && r.Received == r.Sent && r.Sent > 0
}

// realTime: every file was finalized with the media length that was sent,
// and the probed files hold every frame.
func (r *runResult) realTime() bool {
	if r.Receiver != "server" {
		return true
	}
	return r.Err == "" && r.Files > 0 && r.FilesFinal == r.Files && r.DurRatioMin >= minDurationRatio &&
		len(r.ProbeErrors) == 0 && r.FramesInFiles >= r.FramesSent
}

func (r *runResult) clean() bool { return r.zeroDrops() && r.realTime() }

// minDurationRatio is the shortest file, as a fraction of the media sent to
// its track, that still counts as recorded in real time. One frame of slack
// comes from Matroska durations ending at the last frame's timestamp.
const minDurationRatio = 0.98

type sample struct {
	at      time.Time
	cpu     time.Duration
	lgCPU   time.Duration
	machine cpuTimes
	procs   map[int]procStat
	ctx     uint64
}

func takeSample(pid, lgPid int) sample {
	s := sample{at: time.Now()}
	s.cpu, _ = procCPU(pid)
	s.lgCPU, _ = procCPU(lgPid)
	s.machine, _ = machineCPU()
	s.procs = allProcs()
	s.ctx = ctxSwitches(pid)
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// server is a running `streamline serve`.
type server struct {
	cmd  *exec.Cmd
	api  *api
	log  string
	data string
	done chan struct{}
	err  error
}

func (b *bench) startServer(ctx context.Context, dir string, rooms int) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := 20000 + b.rng.IntN(35000)
	s := &server{log: filepath.Join(dir, "server.log"), data: filepath.Join(dir, "data"), done: make(chan struct{})}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--http", fmt.Sprintf("127.0.0.1:%d", port), "--data", s.data,
		"--rtp-ports", fmt.Sprintf("%d-%d", base, base+rooms+64), "--rtp-listen", "127.0.0.1",
		"--log-level", "warn", "--shutdown-grace", "60s"}
	args = append(args, b.cfg.serverArgs...)
	s.cmd = exec.Command(b.serverBin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := b.kids.start(s.cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", b.serverBin, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		logf.Close()
		b.kids.forget(s.cmd)
		close(s.done)
	}()
	s.api = newAPI(fmt.Sprintf("http://127.0.0.1:%d", port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		err := s.api.healthy(hctx)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("server exited at start (%v): %s", s.err, tail(s.log, 2000))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop(5 * time.Second)
			return nil, fmt.Errorf("server not healthy after 30s: %v: %s", err, tail(s.log, 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop asks the server to finish (SIGTERM) and kills it after grace.
func (s *server) stop(grace time.Duration) error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(grace):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		return fmt.Errorf("server did not stop within %s; killed", grace)
	}
	return nil
}

// setupRooms creates the rooms, tracks and recordings of the plan.
func (b *bench) setupRooms(ctx context.Context, a *api, rooms []roomPlan) error {
	var wg sync.WaitGroup
	errs := make([]error, len(rooms))
	sem := make(chan struct{}, 4)
	for i := range rooms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := &rooms[i]
			var room roomJSON
			if err := a.do(ctx, http.MethodPost, "/v1/rooms", map[string]string{"id": r.ID}, &room); err != nil {
				errs[i] = err
				return
			}
			r.Port = room.RTP.Port
			for _, t := range r.Tracks {
				codec := "opus"
				if t.Kind == "video" {
					codec = "vp8"
				}
				req := trackRequest{ID: t.ID, Participant: t.Participant, Kind: t.Kind, Codec: codec, SSRC: t.SSRC, PayloadType: t.PT}
				if err := a.do(ctx, http.MethodPost, "/v1/rooms/"+r.ID+"/tracks", req, nil); err != nil {
					errs[i] = err
					return
				}
			}
			var rec recordingJSON
			if err := a.do(ctx, http.MethodPost, "/v1/rooms/"+r.ID+"/recordings",
				map[string]string{"id": r.RecID, "kind": "tracks"}, &rec); err != nil {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loadgenRun is a running loadgen.
type loadgenRun struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	log    string
	done   chan struct{}
	err    error
	start  time.Time
}

func (b *bench) startLoadgen(dir string, rooms []roomPlan, dests []int, duration time.Duration) (*loadgenRun, error) {
	var spec struct {
		Tracks []loadgenTrack `json:"tracks"`
	}
	for i, r := range rooms {
		for _, t := range r.Tracks {
			spec.Tracks = append(spec.Tracks, loadgenTrack{SSRC: t.SSRC, Kind: t.Kind, PT: t.PT,
				Dest: fmt.Sprintf("127.0.0.1:%d", dests[i])})
		}
	}
	return b.startLoadgenSpec(dir, spec.Tracks, duration)
}

// startLoadgenSpec starts loadgen sending to the given tracks for duration.
func (b *bench) startLoadgenSpec(dir string, tracks []loadgenTrack, duration time.Duration) (*loadgenRun, error) {
	spec := struct {
		Tracks []loadgenTrack `json:"tracks"`
	}{tracks}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	l := &loadgenRun{log: filepath.Join(dir, "loadgen.log"), done: make(chan struct{})}
	logf, err := os.Create(l.log)
	if err != nil {
		return nil, err
	}
	l.cmd = exec.Command(b.loadgenBin, "send", "-media", b.mediaPath, "-spec", "-", "-per-track",
		"-duration", duration.String(), "-stagger", b.cfg.stagger.String(), "-workers", fmt.Sprint(b.cfg.workers),
		"-seed", fmt.Sprint(b.rng.Uint64()|1))
	l.cmd.Stdin = bytes.NewReader(specJSON)
	l.cmd.Stdout, l.cmd.Stderr = &l.stdout, logf
	if err := b.kids.start(l.cmd); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start loadgen: %w", err)
	}
	l.start = time.Now()
	go func() {
		l.err = l.cmd.Wait()
		logf.Close()
		b.kids.forget(l.cmd)
		close(l.done)
	}()
	return l, nil
}

func (l *loadgenRun) wait(ctx context.Context, limit time.Duration) (*loadgenResult, error) {
	select {
	case <-l.done:
	case <-ctx.Done():
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
		<-l.done
		return nil, ctx.Err()
	case <-time.After(limit):
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
		<-l.done
		return nil, fmt.Errorf("loadgen did not finish within %s", limit)
	}
	if l.err != nil {
		return nil, fmt.Errorf("loadgen: %v: %s", l.err, tail(l.log, 2000))
	}
	var res loadgenResult
	if err := json.Unmarshal(l.stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("loadgen output: %w: %q", err, tail(l.log, 500))
	}
	return &res, nil
}

// measureWindow waits for the warm-up, then samples the receiver and the
// load generator over the steady window, which must end before the load does.
func (b *bench) measureWindow(ctx context.Context, pid int, lg *loadgenRun, sendFor, window time.Duration, r *runResult, atEnd func()) error {
	if err := sleepCtx(ctx, time.Until(lg.start.Add(b.cfg.warmup))); err != nil {
		return err
	}
	s0 := takeSample(pid, lg.cmd.Process.Pid)
	if err := sleepCtx(ctx, window); err != nil {
		return err
	}
	s1 := takeSample(pid, lg.cmd.Process.Pid)
	if atEnd != nil {
		atEnd()
	}
	if loadEnd := lg.start.Add(sendFor); s1.at.After(loadEnd) {
		return fmt.Errorf("the window ended %s after the load did (machine overloaded?)", s1.at.Sub(loadEnd).Round(time.Millisecond))
	}
	r.WindowS = s1.at.Sub(s0.at).Seconds()
	r.CPU = (s1.cpu - s0.cpu).Seconds()
	r.LoadgenCPU = (s1.lgCPU - s0.lgCPU).Seconds()
	r.MachineCPU = (s1.machine.Busy - s0.machine.Busy).Seconds()
	r.IRQCPU = (s1.machine.IRQ - s0.machine.IRQ).Seconds()
	other, kthreads, top := otherCPU(s0.procs, s1.procs, map[int]bool{pid: true, lg.cmd.Process.Pid: true, os.Getpid(): true})
	r.OtherCPU, r.KthreadCPU = other.Seconds(), kthreads.Seconds()
	if r.OtherLoad() >= 0.2 {
		r.TopOther = top
	}
	r.ctxDelta = s1.ctx - s0.ctx
	return nil
}

// loadTail is how long the load goes on after the window closes.
const loadTail = 2 * time.Second

// serverRun measures the server at one track count.
func (b *bench) serverRun(ctx context.Context, count, run int, profile bool) (res *runResult) {
	res = &runResult{Count: count, Receiver: "server", Run: run}
	fail := func(err error) *runResult {
		res.Err = oneLine(err.Error())
		return res
	}
	dir, err := os.MkdirTemp(b.tmp, fmt.Sprintf("server-%d-%d-", count, run))
	if err != nil {
		return fail(err)
	}
	defer func() {
		if !b.cfg.keep {
			os.RemoveAll(dir)
		}
	}()
	rooms := planRooms(count, b.cfg.perRoom, b.rng)
	res.Count = trackCount(rooms)
	srv, err := b.startServer(ctx, dir, len(rooms))
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

	t0 := time.Now()
	if err := b.setupRooms(ctx, srv.api, rooms); err != nil {
		return fail(fmt.Errorf("setup: %w", err))
	}
	res.SetupS = time.Since(t0).Seconds()
	ports := map[int]bool{}
	dests := make([]int, len(rooms))
	for i, r := range rooms {
		ports[r.Port] = true
		dests[i] = r.Port
	}

	sendFor := b.cfg.warmup + b.cfg.window + loadTail
	profileFor := min(b.cfg.window, 10*time.Second)
	if profile {
		sendFor += profileFor + time.Second
	}
	lg, err := b.startLoadgen(dir, rooms, dests, sendFor)
	if err != nil {
		return fail(err)
	}
	err = b.measureWindow(ctx, pid, lg, sendFor, b.cfg.window, res, func() {
		st, _ := readStatus(pid)
		res.SteadyRSS, res.Threads = st.RSS, st.Threads
	})
	if err != nil {
		_, _ = lg.wait(ctx, time.Second)
		return fail(err)
	}
	if profile {
		// A separate window right after the measured one, so perf's own
		// cost stays out of the figures.
		res.Profile = b.profileServer(ctx, pid, profileFor, dir)
	}
	lres, err := lg.wait(ctx, sendFor+30*time.Second)
	if err != nil {
		return fail(err)
	}
	res.Sent = lres.Datagrams
	res.SendS = lres.DurationS
	res.LagP99MS = lres.LagMS.P99
	res.BitrateMbps = lres.BitrateMbps
	if err := sleepCtx(ctx, b.cfg.drain); err != nil {
		return fail(err)
	}
	res.KernelDrops, res.RxQueue, _, err = udpDrops(pid, ports)
	if err != nil {
		return fail(fmt.Errorf("kernel drops: %w", err))
	}
	for _, r := range rooms {
		var room roomJSON
		if err := srv.api.do(ctx, http.MethodGet, "/v1/rooms/"+r.ID, nil, &room); err != nil {
			return fail(err)
		}
		res.Received += room.Counters.Datagrams
		res.Unknown += room.Counters.UnknownSSRC
		for _, t := range room.Tracks {
			if t.Stats != nil {
				res.PushDropped += t.Stats.PushDropped
				res.Lost += t.Stats.Lost
			}
		}
	}
	if res.ctxDelta > 0 && res.Sent > 0 && lres.DurationS > 0 {
		// datagrams received in the window ≈ the send rate times the window
		rate := float64(res.Sent) / lres.DurationS
		res.CtxPerPkt = float64(res.ctxDelta) / (rate * res.WindowS)
	}
	if err := b.stopRecordings(ctx, srv, rooms, lres, res); err != nil {
		return fail(err)
	}
	st, _ = readStatus(pid)
	res.PeakRSS = st.HWM
	stopped = true
	if err := srv.stop(60 * time.Second); err != nil {
		res.Err = err.Error()
	}
	return res
}

// stopRecordings stops every room's recording and checks its files: all
// final, each as long as the media sent to its track, and a sample probed
// with ffprobe for its frame count.
func (b *bench) stopRecordings(ctx context.Context, srv *server, rooms []roomPlan, lres *loadgenResult, res *runResult) error {
	sent := map[uint32]loadgenTrack{}
	for _, t := range lres.PerTrack {
		sent[t.SSRC] = t
	}
	type file struct {
		path, kind string
		ssrc       uint32
	}
	var mu sync.Mutex
	var files []file
	var ratios []float64
	var wg sync.WaitGroup
	errs := make([]error, len(rooms))
	sem := make(chan struct{}, 4)
	for i, r := range rooms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var rec recordingJSON
			if err := srv.api.do(ctx, http.MethodDelete, "/v1/rooms/"+r.ID+"/recordings/"+r.RecID, nil, &rec); err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, f := range rec.Files {
				res.Files++
				if f.State == "final" {
					res.FilesFinal++
				} else if len(res.ProbeErrors) < 5 {
					res.ProbeErrors = append(res.ProbeErrors, fmt.Sprintf("%s: %s %s", f.Path, f.State, f.Error))
				}
				if s, ok := sent[f.SSRC]; ok && s.MediaS > 0 {
					ratios = append(ratios, float64(f.DurationMS)/1000/s.MediaS)
				}
				files = append(files, file{filepath.Join(srv.data, f.Path), f.Kind, f.SSRC})
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop recordings: %w", err)
	}
	if len(ratios) > 0 {
		sort.Float64s(ratios)
		res.DurRatioMin = ratios[0]
		res.DurRatioMed = median(ratios)
	}
	// Probe an even spread of audio and video files.
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	var audio, video []file
	for _, f := range files {
		if f.kind == "video" {
			video = append(video, f)
		} else {
			audio = append(audio, f)
		}
	}
	pick := func(list []file, k int) []file {
		if k >= len(list) {
			return list
		}
		out := make([]file, 0, k)
		for i := 0; i < k; i++ {
			out = append(out, list[i*len(list)/k])
		}
		return out
	}
	k := b.cfg.probe
	for _, f := range append(pick(audio, (k+1)/2), pick(video, k/2)...) {
		n, err := probeFrames(ctx, b.ffprobe, f.path)
		res.Probed++
		if err != nil {
			res.ProbeErrors = append(res.ProbeErrors, err.Error())
			continue
		}
		res.FramesSent += sent[f.ssrc].Frames
		res.FramesInFiles += n
	}
	return nil
}

// probeFrames counts the frames (Matroska blocks) of a file's first stream.
func probeFrames(ctx context.Context, ffprobe, path string) (uint64, error) {
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-count_packets", "-select_streams", "0",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ffprobe %s: %v: %s", filepath.Base(path), err, bytes.TrimSpace(out))
	}
	var n uint64
	if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &n); err != nil {
		return 0, fmt.Errorf("ffprobe %s: %q", filepath.Base(path), out)
	}
	return n, nil
}

// baselineRun sends the same load to a process that only reads the sockets.
func (b *bench) baselineRun(ctx context.Context, count, run int) (res *runResult) {
	res = &runResult{Count: count, Receiver: "baseline", Run: run}
	fail := func(err error) *runResult {
		res.Err = oneLine(err.Error())
		return res
	}
	dir, err := os.MkdirTemp(b.tmp, fmt.Sprintf("baseline-%d-%d-", count, run))
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	rooms := planRooms(count, b.cfg.perRoom, b.rng)
	res.Count = trackCount(rooms)

	cmd := exec.Command(b.self, b.selfArgs...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", sinkEnv, len(rooms)))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fail(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := b.kids.start(cmd); err != nil {
		return fail(fmt.Errorf("start udp sink: %w", err))
	}
	defer b.kids.forget(cmd)
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	dec := json.NewDecoder(stdout)
	var hello sinkHello
	if err := dec.Decode(&hello); err != nil || len(hello.Ports) != len(rooms) {
		return fail(fmt.Errorf("udp sink did not start: %v: %s", err, stderr.String()))
	}
	pid := cmd.Process.Pid
	ports := map[int]bool{}
	for _, p := range hello.Ports {
		ports[p] = true
	}
	sendFor := b.cfg.warmup + b.cfg.baselineWindow + loadTail
	lg, err := b.startLoadgen(dir, rooms, hello.Ports, sendFor)
	if err != nil {
		return fail(err)
	}
	if err = b.measureWindow(ctx, pid, lg, sendFor, b.cfg.baselineWindow, res, nil); err != nil {
		_, _ = lg.wait(ctx, time.Second)
		return fail(err)
	}
	lres, err := lg.wait(ctx, sendFor+30*time.Second)
	if err != nil {
		return fail(err)
	}
	res.Sent = lres.Datagrams
	res.SendS = lres.DurationS
	res.LagP99MS = lres.LagMS.P99
	res.BitrateMbps = lres.BitrateMbps
	if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
		return fail(err)
	}
	res.KernelDrops, res.RxQueue, _, err = udpDrops(pid, ports)
	if err != nil {
		return fail(err)
	}
	st, _ := readStatus(pid)
	res.PeakRSS, res.Threads = st.HWM, st.Threads
	stdin.Close()
	var counts sinkCounts
	if err := dec.Decode(&counts); err != nil {
		return fail(fmt.Errorf("udp sink result: %v: %s", err, stderr.String()))
	}
	res.Received = counts.Datagrams
	return res
}

// profileServer samples the server with perf for d and summarises where its
// CPU goes: by thread kind, by library and by function.
func (b *bench) profileServer(ctx context.Context, pid int, d time.Duration, dir string) string {
	if b.perf == "" {
		return "perf not found: no profile"
	}
	data := filepath.Join(dir, "perf.data")
	out, err := exec.CommandContext(ctx, b.perf, "record", "-q", "-F", "499", "-p", fmt.Sprint(pid), "-o", data,
		"--", "sleep", fmt.Sprintf("%.1f", d.Seconds())).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("perf record failed: %v: %s", err, bytes.TrimSpace(out))
	}
	report := func(sortKey string, limit string) string {
		out, err := exec.CommandContext(ctx, b.perf, "report", "-i", data, "--stdio", "--no-children",
			"--sort", sortKey, "--percent-limit", limit).Output()
		if err != nil {
			return fmt.Sprintf("perf report --sort %s: %v", sortKey, err)
		}
		return string(out)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "where the server's CPU goes (perf, %.0f s at 499 Hz):\n", d.Seconds())
	sb.WriteString("  by thread kind:\n")
	for _, l := range groupThreads(report("comm", "0")) {
		fmt.Fprintf(&sb, "    %s\n", l)
	}
	sb.WriteString("  by library:\n")
	for _, l := range perfLines(report("dso", "1"), 12) {
		fmt.Fprintf(&sb, "    %s\n", l)
	}
	sb.WriteString("  by function:\n")
	for _, l := range perfLines(report("dso,sym", "0.7"), 20) {
		fmt.Fprintf(&sb, "    %s\n", l)
	}
	for _, g := range groupThreadSymbols(report("comm,sym", "0"), 3, 8) {
		sb.WriteString(g)
	}
	return sb.String()
}

// groupThreadSymbols aggregates a perf "--sort comm,sym" report by thread
// kind (see foldDigits) and lists the top functions of the busiest kinds.
func groupThreadSymbols(report string, kinds, n int) []string {
	type key struct{ kind, sym string }
	sums := map[key]float64{}
	total := map[string]float64{}
	eachPerfLine(report, func(v float64, rest string) {
		i := strings.Index(rest, " [k] ")
		if j := strings.Index(rest, " [.] "); i < 0 || (j >= 0 && j < i) {
			i = j
		}
		if i < 0 {
			return
		}
		k := key{foldDigits(strings.TrimSpace(rest[:i])), strings.TrimSpace(rest[i:])}
		sums[k] += v
		total[k.kind] += v
	})
	var kindList []string
	for k := range total {
		kindList = append(kindList, k)
	}
	sort.Slice(kindList, func(i, j int) bool { return total[kindList[i]] > total[kindList[j]] })
	var out []string
	for _, kind := range kindList[:min(kinds, len(kindList))] {
		type kv struct {
			sym string
			v   float64
		}
		var syms []kv
		for k, v := range sums {
			if k.kind == kind {
				syms = append(syms, kv{k.sym, v})
			}
		}
		sort.Slice(syms, func(i, j int) bool { return syms[i].v > syms[j].v })
		var sb strings.Builder
		fmt.Fprintf(&sb, "  top functions in %s threads (%.1f%% of all samples):\n", kind, total[kind])
		for _, e := range syms[:min(n, len(syms))] {
			fmt.Fprintf(&sb, "    %6.2f%%  %s\n", e.v, e.sym)
		}
		out = append(out, sb.String())
	}
	return out
}

func perfLines(report string, n int) []string {
	var out []string
	for _, l := range strings.Split(report, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
		if len(out) == n {
			break
		}
	}
	return out
}

// groupThreads aggregates a perf "--sort comm" report by thread name with
// digits folded (GStreamer names its streaming threads after the pads, one
// per track), so "trk-1234-1-jbu" and "trk-99-1-jbuf:" count together.
func groupThreads(report string) []string {
	sums := map[string]float64{}
	eachPerfLine(report, func(v float64, name string) {
		sums[foldDigits(strings.TrimSpace(name))] += v
	})
	type kv struct {
		k string
		v float64
	}
	var list []kv
	for k, v := range sums {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v })
	var out []string
	for i, e := range list {
		if i == 10 || e.v < 0.5 {
			break
		}
		out = append(out, fmt.Sprintf("%6.2f%%  %s", e.v, e.k))
	}
	return out
}

func foldDigits(s string) string {
	// Thread names are cut at 15 bytes, so a track's ids may be cut anywhere:
	// keep the name up to its first digit.
	if i := strings.IndexAny(s, "0123456789"); i >= 0 {
		return s[:i] + "…"
	}
	return s
}

// eachPerfLine calls fn with the percentage and the rest of each data line of
// a perf report (comments, blank and malformed lines skipped).
func eachPerfLine(report string, fn func(pct float64, rest string)) {
	for _, l := range strings.Split(report, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		pct, rest, ok := strings.Cut(l, "%")
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(pct, &v); err != nil {
			continue
		}
		fn(v, rest)
	}
}
