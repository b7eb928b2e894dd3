package live

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamline-media/streamline/internal/testpeer"
)

// TestSRTToFFmpegListener sends to an ffmpeg SRT listener (Debian's ffmpeg
// is built with libsrt), which records 3 s that ffprobe then reads.
func TestSRTToFFmpegListener(t *testing.T) {
	port := testpeer.FreePort(t) // a TCP port number; UDP on it is almost surely free too
	out := filepath.Join(t.TempDir(), "srt.ts")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ff := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-i", fmt.Sprintf("srt://127.0.0.1:%d?mode=listener", port),
		"-t", "3", "-c", "copy", "-f", "mpegts", out)
	ff.Stderr = os.Stderr
	if err := ff.Start(); err != nil {
		t.Fatal(err)
	}
	src := newTestSource(t, "aac")
	// The listener may not be up yet: the output retries until it is.
	o := src.start(t, "srt", Spec{Type: TypeSRT, URI: fmt.Sprintf("srt://127.0.0.1:%d", port)})
	waitState(t, o, StateLive, 15*time.Second)
	if err := ff.Wait(); err != nil {
		t.Fatalf("ffmpeg SRT listener: %v", err)
	}
	p, err := ffprobeJSON(t, out)
	if err != nil {
		t.Fatal(err)
	}
	if got := codecs(p); got != "video:h264,audio:aac" {
		t.Fatalf("SRT streams %q", got)
	}
}
