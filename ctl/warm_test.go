package ctl

import (
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

// probeRecorder is a registry with x264enc and opusenc only, recording which
// elements were tried.
type probeRecorder struct {
	mu    sync.Mutex
	tried []string
}

func (p *probeRecorder) Has(f string) bool { return f == "x264enc" || f == "opusenc" }

func (p *probeRecorder) TryReady(f string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tried = append(p.tried, f)
	return nil
}

// TestWarmEncoders: each codec's encoder is selected (its element opened)
// before any composite; a codec nobody can encode is an error naming it,
// and the other codecs are warmed all the same.
func TestWarmEncoders(t *testing.T) {
	reg := &probeRecorder{}
	s, err := NewServer(Config{
		RTPListen: netip.MustParseAddr("127.0.0.1"), Ports: freeUDPRange(t, 1), DataDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Encoders: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.WarmEncoders([]string{"h264", "aac", "opus"})
	if err == nil || !strings.Contains(err.Error(), "aac") {
		t.Errorf("error %v, want one naming aac (no AAC encoder registered)", err)
	}
	if got["h264"].Element != "x264enc" || got["opus"].Element != "opusenc" || len(got) != 2 {
		t.Errorf("choices %+v, want x264enc for h264 and opusenc for opus", got)
	}
	if !slices.Contains(reg.tried, "x264enc") || !slices.Contains(reg.tried, "opusenc") {
		t.Errorf("elements opened %v, want x264enc and opusenc", reg.tried)
	}
	if _, err := s.WarmEncoders([]string{"h263"}); err == nil || !strings.Contains(err.Error(), "h263") {
		t.Errorf("unknown codec: %v", err)
	}
}
