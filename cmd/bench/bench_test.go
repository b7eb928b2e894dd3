package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the baseline UDP sink, as the bench
// binary does.
func TestMain(m *testing.M) {
	if sinkMain() {
		return
	}
	os.Exit(m.Run())
}

func TestParseStat(t *testing.T) {
	line := "4242 (stream (line)) S 1 4242 4242 0 -1 4194560 9000 0 0 0 250 75 0 0 20 0 40 0 1234 0 0\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU != 3250*time.Millisecond || st.Name != "stream (line)" || st.Kthread {
		t.Fatalf("%+v, want 3.25s of stream (line)", st)
	}
	st, err = parseStat([]byte("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 1 2 0 0 20 0 1 0 1 0 0\n"))
	if err != nil || !st.Kthread {
		t.Fatalf("kthreadd: %+v %v", st, err)
	}
	if _, err := parseStat([]byte("4242 (x) S 1")); err == nil {
		t.Fatal("short line accepted")
	}
}

func TestOtherCPU(t *testing.T) {
	before := map[int]procStat{1: {Name: "srv", CPU: time.Second}, 2: {Name: "go", CPU: time.Second}, 3: {Name: "ksoftirqd/0", Kthread: true}}
	after := map[int]procStat{1: {Name: "srv", CPU: 9 * time.Second}, 2: {Name: "go", CPU: 3 * time.Second},
		3: {Name: "ksoftirqd/0", CPU: time.Second, Kthread: true}, 4: {Name: "gcc", CPU: time.Second}}
	other, k, top := otherCPU(before, after, map[int]bool{1: true})
	if other != 3*time.Second || k != time.Second || top != "go" {
		t.Fatalf("other %s kthreads %s top %q", other, k, top)
	}
}

func TestParseStatus(t *testing.T) {
	s := parseStatus([]byte("Name:\tstreamline\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t37\n"))
	if s.HWM != 200<<20 || s.RSS != 100<<20 || s.Threads != 37 {
		t.Fatalf("%+v", s)
	}
}

func TestParseProcStat(t *testing.T) {
	c, err := parseProcStat([]byte("cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 1 2 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	// busy = user+nice+system+irq+softirq+steal; guest is inside user.
	if c.Busy != 1600*time.Millisecond || c.Total != 10000*time.Millisecond || c.IRQ != 50*time.Millisecond {
		t.Fatalf("%+v", c)
	}
}

func TestParseProcNetUDP(t *testing.T) {
	table := `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            
 6742: 0100007F:A028 00000000:0000 07 00000000:00000A00 00:00000000 00000000     0        0 94125 2 000000003513277c 17         
 6743: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 94126 2 000000003513277d 0
`
	rows, err := parseProcNetUDP([]byte(table))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	if r.LocalPort != 0xA028 || r.RxQueue != 0xA00 || r.Inode != 94125 || r.Drops != 17 {
		t.Fatalf("%+v", r)
	}
	if _, err := parseProcNetUDP([]byte("sl local\n 1: 0100007F:A028 short\n")); err == nil {
		t.Fatal("short row accepted")
	}
}

// TestUDPDropsOfThisProcess finds this process's own socket in /proc/net/udp.
func TestUDPDropsOfThisProcess(t *testing.T) {
	var out bytes.Buffer
	done := make(chan error, 1)
	r, w, _ := os.Pipe()
	go func() { done <- runSink(2, r, &out) }()
	deadline := time.Now().Add(5 * time.Second)
	for out.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_, _, n, err := udpDrops(os.Getpid(), nil)
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("found %d of this process's UDP sockets, want ≥ 2", n)
	}
	if !strings.Contains(out.String(), `"ports":[`) || !strings.Contains(out.String(), `"datagrams":0`) {
		t.Fatalf("sink output %q", out.String())
	}
}

func TestPlanRooms(t *testing.T) {
	rooms := planRooms(25, 10, rand.New(rand.NewPCG(1, 2)))
	if n := trackCount(rooms); n != 26 {
		t.Fatalf("%d tracks, want 26 (13 participants)", n)
	}
	if len(rooms) != 3 || len(rooms[0].Tracks) != 10 || len(rooms[2].Tracks) != 6 {
		t.Fatalf("rooms %d: %d … %d tracks", len(rooms), len(rooms[0].Tracks), len(rooms[len(rooms)-1].Tracks))
	}
	seen := map[uint32]bool{}
	for _, r := range rooms {
		for i, tr := range r.Tracks {
			if seen[tr.SSRC] || tr.SSRC == 0 {
				t.Fatalf("ssrc %d reused", tr.SSRC)
			}
			seen[tr.SSRC] = true
			wantKind := []string{"audio", "video"}[i%2]
			if tr.Kind != wantKind || (tr.Kind == "video") != (tr.PT == 96) {
				t.Fatalf("track %+v", tr)
			}
		}
	}
}

func TestMedianAndGrouping(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatal(m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatal(m)
	}
	report := "# comment\n    40.00%  trk-123-1-jbuf\n    30.00%  trk-9-1-jbuf\n    20.00%  streamline\n     0.10%  x\n"
	got := groupThreads(report)
	if len(got) != 2 || !strings.Contains(got[0], "70.00%  trk-…") {
		t.Fatalf("%q", got)
	}
}

func TestGroupThreadSymbols(t *testing.T) {
	report := "# x\n    30.00%  trk-12-1-src:s  [k] futex_wake\n    20.00%  trk-9-2-jbu  [k] futex_wake\n" +
		"    10.00%  trk-9-2-jbu  [.] g_slice_alloc\n    25.00%  streamline  [.] runtime.futex\n"
	got := groupThreadSymbols(report, 2, 1)
	if len(got) != 2 || !strings.Contains(got[0], "trk-… threads (60.0%") || !strings.Contains(got[0], "50.00%  [k] futex_wake") ||
		strings.Contains(got[0], "g_slice_alloc") || !strings.Contains(got[1], "runtime.futex") {
		t.Fatalf("%q", got)
	}
}

func TestParseFlags(t *testing.T) {
	var errb bytes.Buffer
	c, err := parseFlags([]string{"-quick", "-runs", "2"}, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.counts) != 2 || c.counts[0] != 20 || c.window != 5*time.Second || c.runs != 2 {
		t.Fatalf("%+v", c)
	}
	for _, bad := range [][]string{{"-counts", "10,x"}, {"-runs", "0"}, {"-warmup", "1s", "-stagger", "2s"}, {"extra"}} {
		if _, err := parseFlags(bad, &errb); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestCleanVerdict(t *testing.T) {
	r := &runResult{Receiver: "server", Count: 10, Sent: 100, Received: 100, Files: 10, FilesFinal: 10,
		DurRatioMin: 0.995, FramesSent: 50, FramesInFiles: 50, WindowS: 1}
	if !r.clean() {
		t.Fatalf("clean run judged unclean: %v", problems(r))
	}
	for name, mut := range map[string]func(*runResult){
		"kernel":  func(r *runResult) { r.KernelDrops = 1 },
		"push":    func(r *runResult) { r.PushDropped = 1 },
		"counted": func(r *runResult) { r.Received = 99 },
		"final":   func(r *runResult) { r.FilesFinal = 9 },
		"short":   func(r *runResult) { r.DurRatioMin = 0.9 },
		"frames":  func(r *runResult) { r.FramesInFiles = 49 },
	} {
		c := *r
		mut(&c)
		if c.clean() || len(problems(&c)) == 0 {
			t.Errorf("%s: judged clean", name)
		}
	}
}

// TestQuickBench runs `bench -quick` end to end against a freshly built
// server: it checks the machinery (processes, counters, files, report), not
// any performance figure.
func TestQuickBench(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end smoke run of about a minute")
	}
	for _, tool := range []string{"go", "gst-launch-1.0", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	wd, _ := os.Getwd()
	root, err := moduleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "streamline")
	build := exec.Command("go", "build", "-o", bin, "./cmd/streamline")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build server: %v: %s", err, out)
	}
	var out, errb bytes.Buffer
	rc := run([]string{"-quick", "-counts", "10,20", "-server", bin, "-probe", "4"}, &out, &errb)
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	if rc != 0 {
		t.Fatalf("exit %d", rc)
	}
	text := out.String()
	for _, want := range []string{"raw-track capacity:", "CPU-s/trk/s", "baseline"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(errb.String(), "ERROR") {
		t.Errorf("a run failed")
	}
	// Every run sent media that the server counted and recorded.
	if !strings.Contains(errb.String(), "server") || !strings.Contains(errb.String(), "files 10/10 final") {
		t.Errorf("no server run recorded 10 final files")
	}
}

func TestPercentileNearestRank(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}} {
		if got := percentile(v, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("empty")
	}
}
