package live

import (
	"testing"
	"time"

	"github.com/streamline-media/streamline/internal/testpeer"
)

// probeUntil runs ffprobe on url until it reports both streams.
func probeUntil(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		p, err := ffprobeJSON(t, "-rw_timeout", "5000000", url)
		if err == nil {
			if last = codecs(p); last == "video:h264,audio:aac" {
				return last
			}
		} else {
			last = err.Error()
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("ffprobe %s: %s", url, last)
	return ""
}

func TestRTMPToNginxSurvivesServerRestart(t *testing.T) {
	srv := testpeer.StartRTMP(t)
	src := newTestSource(t, "aac")
	o := src.start(t, "rtmp", Spec{Type: TypeRTMP, URL: srv.URL("mcu")})
	waitState(t, o, StateLive, 10*time.Second)
	probeUntil(t, srv.URL("mcu"), 15*time.Second)

	srv.Stop() // the RTMP server goes away mid-stream
	st := waitState(t, o, StateRetrying, 15*time.Second)
	if st.Error == "" {
		t.Error("retrying without an error")
	}
	// While the server is down, attempts fail and the output never claims to be live.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if st = o.Status(); st.State == StateLive {
			t.Fatalf("live while the RTMP server is down: %+v", st)
		}
	}
	if st.Attempts < 3 {
		t.Errorf("%d attempts in 1.5 s of outage with a 200 ms backoff", st.Attempts)
	}
	srv.Start()
	waitState(t, o, StateLive, 20*time.Second)
	probeUntil(t, srv.URL("mcu"), 15*time.Second)
}
