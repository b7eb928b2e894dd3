package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tones is mono audio at toneRate: each frequency at amplitude amp, except
// frequency k between silentFrom and silentTo seconds.
func tones(seconds float64, amp float64, freqs []float64, k int, silentFrom, silentTo float64) []float64 {
	out := make([]float64, int(seconds*toneRate))
	for i := range out {
		t := float64(i) / toneRate
		for j, f := range freqs {
			if j == k && t >= silentFrom && t < silentTo {
				continue
			}
			out[i] += amp * math.Sin(2*math.Pi*f*t+float64(j))
		}
	}
	return out
}

func TestFindTones(t *testing.T) {
	freqs := []float64{inputTone(0), inputTone(1), inputTone(2)}
	// Participant 1 silent from 0.5 s to 0.8 s: blocks 5, 6 and 7.
	const amp = inputToneAmp
	c := findTones(tones(2, amp, freqs, 1, 0.5, 0.8), freqs, 0, 2)
	if c.Err != "" || c.Blocks != 20 {
		t.Fatalf("%+v", c)
	}
	if c.Missing[0] != 0 || c.Missing[1] != 3 || c.Missing[2] != 0 {
		t.Errorf("missing blocks %v, want [0 3 0]", c.Missing)
	}
	for _, k := range []int{0, 2} {
		if math.Abs(c.MinAmp[k]-amp) > amp/15 {
			t.Errorf("tone %d: weakest block %.3f, want %.3f", k, c.MinAmp[k], amp)
		}
	}
	if c.MinAmp[1] > minToneAmp/5 {
		t.Errorf("silent tone measured %.3f", c.MinAmp[1])
	}
	if p := c.problems([]string{"p00", "p01", "p02"}, nil); len(p) != 1 || !strings.Contains(p[0], "p01's tone missing in 3 of 20") {
		t.Errorf("problems %q", p)
	}
	detail := func(part string) string { return "where " + part + "'s went" }
	if p := c.problems([]string{"p00", "p01", "p02"}, detail); len(p) != 1 || !strings.HasSuffix(p[0], "of 100 ms (where p01's went)") {
		t.Errorf("problems with detail %q", p)
	}
	// The window: only the blocks between from and to count.
	if w := findTones(tones(2, amp, freqs, 1, 0.5, 0.8), freqs, 1, 2); w.Blocks != 10 || w.Missing[1] != 0 {
		t.Errorf("window 1..2 s: %+v", w)
	}
	if e := findTones(tones(0.5, amp, freqs, -1, 0, 0), freqs, 1, 2); e.Err == "" || len(e.problems(nil, nil)) != 1 {
		t.Errorf("no audio in the window: %+v", e)
	}
	// One block in a hundred may miss a tone (a concealed packet).
	if p := (&audioCheck{Blocks: 100, Missing: []int{1}}).problems(nil, nil); len(p) != 0 {
		t.Errorf("1 of 100: %q", p)
	}
	if p := (&audioCheck{Blocks: 100, Missing: []int{2}}).problems(nil, nil); len(p) != 1 || !strings.Contains(p[0], "participant 0") {
		t.Errorf("2 of 100: %q", p)
	}
}

// TestCheckAudioOfAACFile: two tones through AAC in MP4, as ffmpeg encodes
// them, are both found; the tone of a third participant who is not in the
// file is missing from every block.
func TestCheckAudioOfAACFile(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is needed (make test installs it)")
	}
	path := filepath.Join(t.TempDir(), "two.mp4")
	cmd := exec.Command(ffmpeg, "-v", "error", "-nostdin", "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%g:sample_rate=48000:duration=3", inputTone(0)),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%g:sample_rate=48000:duration=3", inputTone(1)),
		"-filter_complex", "amix=inputs=2,volume=4,pan=stereo|c0=c0|c1=c0", "-c:a", "aac", "-b:a", "128k", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	c := checkAudio(context.Background(), ffmpeg, path, partTones(3), 0.5, 2.5)
	if c.Err != "" || c.Blocks != 20 {
		t.Fatalf("%+v", c)
	}
	if c.Missing[0] != 0 || c.Missing[1] != 0 || c.Missing[2] != 20 {
		t.Errorf("missing blocks %v, want [0 0 20]", c.Missing)
	}
	if bad := checkAudio(context.Background(), ffmpeg, filepath.Join(t.TempDir(), "none.mp4"), partTones(1), 0, 1); bad.Err == "" {
		t.Errorf("a missing file: %+v", bad)
	}
}

func TestLogLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	log := "time=2026-11-27T00:13:28.698Z level=INFO msg=\"track added\" track=p05-audio ssrc=1\n" +
		"time=2026-11-27T00:13:28.699Z level=INFO msg=\"track added\" track=p05-audio2 ssrc=2\n" +
		"time=2026-11-27T00:13:29.000Z level=INFO msg=\"track shifted in the mix\" track=p05-audio shift=6ms\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := logLines(path, "track=p05-audio ", 6)
	want := []string{`level=INFO msg="track added" track=p05-audio ssrc=1`, `level=INFO msg="track shifted in the mix" track=p05-audio shift=6ms`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := logLines(path, "track=p06-audio ", 6); len(got) != 1 || got[0] != "nothing" {
		t.Fatalf("no match: %q", got)
	}
	if got := logLines(path, "track=", 1); len(got) != 1 {
		t.Fatalf("max 1: %q", got)
	}
}
