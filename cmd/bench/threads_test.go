package main

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestThreadGroup(t *testing.T) {
	for name, want := range map[string]string{
		// Names seen in a server recording a composite of four.
		"comp_0-vq:src":   grpVideoEncode,
		"comp_10-vq:src":  grpVideoEncode,
		"comp_0-aq:src":   grpAudioEncode,
		"comp-v4-q:src":   grpVideoDecode,
		"comp-v12-q:src":  grpVideoDecode,
		"comp-v4-ph5-q:s": grpVideoDecode,
		"comp-a6-q:src":   grpAudioDecode,
		"comp-video:src":  grpMixers,
		"comp-audio:src":  grpMixers,
		"comp-silence:sr": grpMixers,
		"comp-silq:src":   grpMixers,
		"comp-bg1-freeze": grpMixers,
		"comp_0-mux-mux:": grpMux,
		"comp_0-mux-vide": grpMux,
		"trk-2912350499-": grpVideoTracks,
		"trk-17-3-jbuf:s": grpAudioTracks,
		"trk-99-1-jbuf:s": grpIngest, // a track the bench did not make
		"trk-9999999999-": grpIngest, // not an SSRC
		"sl-server":       grpGo,     // the process's name
		"pool-sl-server":  grpOther,
		"streamline":      grpOther,
		"timer":           grpOther,
	} {
		tn := threadNames{exe: "sl-server", kinds: map[uint32]string{2912350499: "video", 17: "audio"}}
		if got := tn.group(name); got != want {
			t.Errorf("group(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestGroupCPU(t *testing.T) {
	s := func(name string, ms int) procStat {
		return procStat{Name: name, CPU: time.Duration(ms) * time.Millisecond}
	}
	before := map[int]procStat{1: s("streamline", 100), 2: s("comp_0-vq:src", 500), 3: s("comp-v4-q:src", 50), 9: s("gone", 10)}
	after := map[int]procStat{
		1: s("streamline", 150),      // +50
		2: s("comp_0-vq:src", 900),   // +400
		3: s("comp-a2-q:src", 30),    // id reused by another thread: all 30 count
		4: s("comp-v8-q:src", 70),    // started in the window: all 70 count
		5: s("trk-5-2-jbuf:src", 20), // a video track's thread (started in the window)
	}
	// The process used 620 ms: 570 by live threads, the rest by ones that ended.
	got := groupCPU(1, map[uint32]string{5: "video"}, threadSnapshot{total: time.Second, threads: before}, threadSnapshot{total: 1620 * time.Millisecond, threads: after})
	want := map[string]float64{grpGo: 0.05, grpVideoEncode: 0.4, grpAudioDecode: 0.03, grpVideoDecode: 0.07, grpVideoTracks: 0.02, grpExited: 0.05}
	for g, v := range want {
		if math.Abs(got[g]-v) > 1e-9 {
			t.Errorf("%s: %.3f s, want %.3f", g, got[g], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("groups %v, want %v", got, want)
	}
}

func TestSnapThreadsReadsThisProcess(t *testing.T) {
	snap := snapThreads(os.Getpid())
	th := snap.threads
	if len(th) == 0 {
		t.Fatal("no threads read for this process")
	}
	for tid, st := range th {
		if tid <= 0 || st.Name == "" || st.CPU < 0 {
			t.Errorf("thread %d: %+v", tid, st)
		}
		if st.CPU > snap.total+time.Second/clockTicks {
			t.Errorf("thread %d used %v, more than its process (%v)", tid, st.CPU, snap.total)
		}
	}
}

func TestThreadReport(t *testing.T) {
	r := &compRun{Size: 4, WindowS: 10, IdleS: 5, mediaS: 20,
		Groups:     map[string]float64{grpVideoEncode: 2.5, grpVideoDecode: 0.7, grpAudioDecode: 0.2, grpAudioEncode: 0.2, grpGo: 0.3},
		IdleGroups: map[string]float64{grpGo: 0.1},
		Floor:      &floorRun{DecodeCPU: 0.9, AudioCPU: 0.8, EncodeCPU: 5}}
	var sb strings.Builder
	threadReport(&sb, []*sizeResult{{Size: 4, Runs: []*compRun{r}}})
	out := sb.String()
	if !strings.Contains(out, "N=4") {
		t.Errorf("no column for N=4:\n%s", out)
	}
	for label, want := range map[string]string{
		grpVideoEncode: "0.250|0.000", grpVideoDecode: "0.070|0.000", grpGo: "0.030|0.020", grpMixers: "0.000|0.000",
		"video decode vs floor": "0.070|0.045", "audio path vs floor": "0.040|0.040", "video encode vs floor": "0.250|0.250",
	} {
		if got := reportCells(out, label); got != want {
			t.Errorf("%s: %q, want %q in\n%s", label, got, want, out)
		}
	}
	var none strings.Builder
	threadReport(&none, []*sizeResult{{Size: 4, Runs: []*compRun{{Size: 4}}}})
	if none.Len() != 0 {
		t.Errorf("report without thread figures: %q", none.String())
	}
}

// reportCells is what follows label on the report's line that starts with it.
func reportCells(out, label string) string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), label); ok && strings.HasPrefix(rest, " ") {
			return strings.Join(strings.Fields(rest), " ")
		}
	}
	return ""
}
