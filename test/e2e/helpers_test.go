// Package e2e runs the real binaries against real peers: the streamline
// server as a process, senders from GStreamer (gst-launch-1.0), ffmpeg and
// the mock SFU, and ffprobe on the files that land on disk.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "streamline-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, c := range []string{"streamline", "mocker"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, c), "../../cmd/"+c)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", c, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// portBase hands each server its own RTP port range so tests (and other
// processes on the machine) do not collide.
var portBase atomic.Int32

func init() { portBase.Store(int32(46000 + os.Getpid()%50*200)) }

type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string
	dataDir string
	log     *bytes.Buffer
	done    chan struct{}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs `streamline serve` with its own HTTP port, RTP range and data dir.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	return startServerUnder(t, nil, extra...)
}

// startServerUnder is startServer with the server run by a wrapper command
// (e.g. prlimit with its arguments).
func startServerUnder(t *testing.T, wrapper []string, extra ...string) *server {
	t.Helper()
	port := freeTCPPort(t)
	lo := portBase.Add(20) - 20
	s := &server{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), dataDir: t.TempDir(), log: &bytes.Buffer{}, done: make(chan struct{})}
	args := append([]string{"serve", "--http", fmt.Sprintf("127.0.0.1:%d", port), "--data", s.dataDir,
		"--rtp-ports", fmt.Sprintf("%d-%d", lo, lo+19), "--rtp-listen", "127.0.0.1", "--jitter-ms", "100"}, extra...)
	argv := append(append(slices.Clone(wrapper), filepath.Join(binDir, "streamline")), args...)
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(s.base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become healthy: %v\n%s", err, s.log.String())
		}
		select {
		case <-s.done:
			t.Fatalf("server exited:\n%s", s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGINT and waits for a clean exit.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		s.t.Errorf("server did not stop within 30 s of SIGINT")
	}
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// call performs a JSON request and decodes the answer into out (if not nil).
func (s *server) call(method, path string, body any, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		if raw, ok := body.(string); ok {
			rd = strings.NewReader(raw)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return res.StatusCode
}

// must performs a request that has to answer with want.
func (s *server) must(want int, method, path string, body any, out any) {
	s.t.Helper()
	var raw json.RawMessage
	got := s.call(method, path, body, &raw)
	if got != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
}

type roomResp struct {
	ID  string `json:"id"`
	RTP struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	} `json:"rtp"`
	Tracks     []trackResp       `json:"tracks"`
	Recordings []recordingResp   `json:"recordings"`
	Counters   map[string]uint64 `json:"counters"`
}

type trackResp struct {
	ID          string         `json:"id"`
	Participant string         `json:"participant"`
	Codec       string         `json:"codec"`
	SSRC        uint32         `json:"ssrc"`
	Muted       bool           `json:"muted"`
	Segment     int            `json:"segment"`
	Stats       map[string]any `json:"stats"`
}

type fileResp struct {
	Path           string     `json:"path"`
	Participant    string     `json:"participant"`
	Track          string     `json:"track"`
	Tracks         []string   `json:"tracks"`
	Kind           string     `json:"kind"`
	Codec          string     `json:"codec"`
	State          string     `json:"state"`
	Segment        int        `json:"segment"`
	StartOffsetMS  int64      `json:"start_offset_ms"`
	DurationMS     int64      `json:"duration_ms"`
	FirstSampleNTP *time.Time `json:"first_sample_ntp"`
	Error          string     `json:"error"`
}

type recordingResp struct {
	ID       string     `json:"id"`
	State    string     `json:"state"`
	Mode     string     `json:"mode"`
	Manifest string     `json:"manifest"`
	Error    string     `json:"error"`
	Files    []fileResp `json:"files"`
}

func (s *server) createRoom(id string) roomResp {
	var r roomResp
	s.must(201, "POST", "/v1/rooms", map[string]any{"id": id}, &r)
	return r
}

func (s *server) addTrack(room string, body map[string]any) trackResp {
	var tr trackResp
	s.must(201, "POST", "/v1/rooms/"+room+"/tracks", body, &tr)
	return tr
}

func (s *server) startRecording(room string, body map[string]any) recordingResp {
	var rec recordingResp
	if body == nil {
		body = map[string]any{"kind": "tracks"}
	}
	s.must(201, "POST", "/v1/rooms/"+room+"/recordings", body, &rec)
	return rec
}

func (s *server) stopRecording(room, id string) recordingResp {
	var rec recordingResp
	s.must(200, "DELETE", "/v1/rooms/"+room+"/recordings/"+id, nil, &rec)
	return rec
}

func (s *server) room(id string) roomResp {
	var r roomResp
	s.must(200, "GET", "/v1/rooms/"+id, nil, &r)
	return r
}

// sender runs an external sender (gst-launch-1.0, ffmpeg) until stopped.
type sender struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
}

func startSender(t *testing.T, name string, args ...string) *sender {
	t.Helper()
	sd := &sender{cmd: exec.Command(name, args...), out: &bytes.Buffer{}, done: make(chan struct{})}
	sd.cmd.Stdout, sd.cmd.Stderr = sd.out, sd.out
	if err := sd.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = sd.cmd.Wait(); close(sd.done) }()
	t.Cleanup(func() {
		sd.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, sd.out.String())
		}
	})
	return sd
}

func (sd *sender) stop() {
	select {
	case <-sd.done:
		return
	default:
	}
	_ = sd.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-sd.done:
	case <-time.After(3 * time.Second):
		_ = sd.cmd.Process.Kill()
		<-sd.done
	}
}

// gstLaunch starts gst-launch-1.0 with a pipeline description.
func gstLaunch(t *testing.T, pipeline string) *sender {
	return startSender(t, "gst-launch-1.0", append([]string{"-q", "-e"}, strings.Fields(pipeline)...)...)
}

type probe struct {
	Streams []struct {
		CodecName  string `json:"codec_name"`
		CodecType  string `json:"codec_type"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		SampleRate string `json:"sample_rate"`
		Channels   int    `json:"channels"`
	} `json:"streams"`
	Format struct {
		Duration  string `json:"duration"`
		StartTime string `json:"start_time"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe json: %v", err)
	}
	return p
}

// mediaSpan decodes every packet of the file with ffprobe and returns the
// span from the first packet's timestamp to the end of the last packet, per
// stream type. It works on files without a duration header (after SIGKILL).
func mediaSpan(t *testing.T, path string) map[string]float64 {
	t.Helper()
	return spans(filePackets(t, path))
}

// packet is one packet of a file as ffprobe lists it.
type packet struct {
	kind     string // codec_type: "video", "audio"
	pts, dur float64
}

// filePackets lists every packet of the file with ffprobe.
func filePackets(t *testing.T, path string) []packet {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=codec_type,pts_time,duration_time",
		"-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v\n%s", path, err, out)
	}
	var ps []packet
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 2 {
			continue
		}
		pts, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		dur := 0.0
		if len(f) > 2 {
			dur, _ = strconv.ParseFloat(f[2], 64)
		}
		ps = append(ps, packet{kind: f[0], pts: pts, dur: dur})
	}
	return ps
}

// spans is, per stream type, the span from the first packet's timestamp to
// the end of the last packet.
func spans(ps []packet) map[string]float64 {
	first, last := map[string]float64{}, map[string]float64{}
	for _, p := range ps {
		if f, ok := first[p.kind]; !ok || p.pts < f {
			first[p.kind] = p.pts
		}
		if p.pts+p.dur > last[p.kind] {
			last[p.kind] = p.pts + p.dur
		}
	}
	span := map[string]float64{}
	for k := range first {
		span[k] = last[k] - first[k]
	}
	return span
}

// largestGap is the longest time between consecutive packets of kind, in
// seconds.
func largestGap(ps []packet, kind string) float64 {
	var pts []float64
	for _, p := range ps {
		if p.kind == kind {
			pts = append(pts, p.pts)
		}
	}
	slices.Sort(pts)
	gap := 0.0
	for i := 1; i < len(pts); i++ {
		gap = max(gap, pts[i]-pts[i-1])
	}
	return gap
}

// decodeErrors fully decodes the file with ffmpeg and returns its error output.
func decodeErrors(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg decode %s: %v\n%s", path, err, out)
	}
	return string(out)
}

func duration(p probe) float64 {
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return d
}

func within(got, want, tol float64) bool { return got >= want-tol && got <= want+tol }

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func statNum(tr trackResp, key string) float64 {
	v, _ := tr.Stats[key].(float64)
	return v
}

var _ = context.Background
