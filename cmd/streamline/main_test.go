package main

import (
	"os"
	"strings"
	"testing"
)

// TestDisableHugePages: after the opt-out the kernel reports transparent
// huge pages off for this process (THP_enabled in /proc/self/status,
// Linux 5.0+).
func TestDisableHugePages(t *testing.T) {
	thp := func() string {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Skipf("no /proc: %v", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "THP_enabled:"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Skip("kernel does not report THP_enabled")
		return ""
	}
	if err := disableHugePages(); err != nil {
		t.Fatal(err)
	}
	if got := thp(); got != "0" {
		t.Fatalf("THP_enabled after the opt-out = %q, want 0", got)
	}
}

// TestHugePagesFlag: off by default (the server opts out), on with the flag.
func TestHugePagesFlag(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.hugePages {
		t.Fatal("huge pages on by default")
	}
	if o, err = parseFlags([]string{"--huge-pages"}); err != nil || !o.hugePages {
		t.Fatalf("--huge-pages: %v, %v", o.hugePages, err)
	}
}

// TestWarmEncodersFlag: the composite's default codecs are warmed unless
// the flag is emptied.
func TestWarmEncodersFlag(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil || o.warmEncoders != "h264,aac" {
		t.Fatalf("default --warm-encoders = %q (%v), want h264,aac", o.warmEncoders, err)
	}
	if o, err = parseFlags([]string{"--warm-encoders="}); err != nil || o.warmEncoders != "" {
		t.Fatalf("--warm-encoders= gives %q (%v), want empty", o.warmEncoders, err)
	}
}

// TestMixLatencyFlag: the mixers' latency defaults to 60 ms, and a value
// outside 20–2000 ms is refused before the server starts.
func TestMixLatencyFlag(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil || o.mixLatencyMS != 60 {
		t.Fatalf("default --mix-latency-ms = %d (%v), want 60", o.mixLatencyMS, err)
	}
	for _, bad := range []string{"5", "2001"} {
		if err := serve([]string{"--mix-latency-ms", bad, "--data", t.TempDir()}); err == nil || !strings.Contains(err.Error(), "--mix-latency-ms "+bad+": want 20-2000") {
			t.Errorf("--mix-latency-ms %s: %v", bad, err)
		}
	}
}

func TestMinFreeFlag(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil || o.minFreeMB != 256 {
		t.Fatalf("default --min-free-mb = %d (%v), want 256", o.minFreeMB, err)
	}
	if err := serve([]string{"--min-free-mb", "-1", "--data", t.TempDir()}); err == nil || !strings.Contains(err.Error(), "--min-free-mb -1: want 0") {
		t.Errorf("--min-free-mb -1: %v", err)
	}
}
