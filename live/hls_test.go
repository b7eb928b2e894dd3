package live

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

type probeOut struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
	} `json:"streams"`
}

func ffprobeJSON(t *testing.T, args ...string) (probeOut, error) {
	t.Helper()
	args = append([]string{"-v", "error", "-print_format", "json", "-show_streams"}, args...)
	out, err := exec.Command("timeout", append([]string{"20", "ffprobe"}, args...)...).Output()
	var p probeOut
	if err == nil {
		err = json.Unmarshal(out, &p)
	}
	return p, err
}

func codecs(p probeOut) string {
	var s []string
	for _, st := range p.Streams {
		s = append(s, st.CodecType+":"+st.CodecName)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(s))) // video before audio
	return strings.Join(s, ",")
}

func TestHLSLivePlaylist(t *testing.T) {
	src := newTestSource(t, "aac")
	dir := t.TempDir()
	o := src.start(t, "hls", Spec{Type: TypeHLS, Dir: dir, SegmentS: 1})
	waitState(t, o, StateLive, 10*time.Second)
	playlist := filepath.Join(dir, "playlist.m3u8")
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(playlist)
		if strings.Count(string(b), "#EXTINF") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("playlist after 15 s:\n%s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, _ := os.ReadFile(playlist)
	if strings.Contains(string(b), "#EXT-X-ENDLIST") {
		t.Fatalf("live playlist already ended:\n%s", b)
	}
	p, err := ffprobeJSON(t, playlist)
	if err != nil {
		t.Fatalf("ffprobe live playlist: %v", err)
	}
	if got := codecs(p); got != "video:h264,audio:aac" {
		t.Fatalf("streams %q, want video:h264,audio:aac", got)
	}
	o.Stop()
	if st := o.Status(); st.State != StateStopped {
		t.Fatalf("state after Stop: %q", st.State)
	}
	b, _ = os.ReadFile(playlist)
	if !strings.Contains(string(b), "#EXT-X-ENDLIST") {
		t.Errorf("stopped playlist has no ENDLIST:\n%s", b)
	}
}
