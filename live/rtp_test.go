package live

import (
	"testing"
	"time"

	"github.com/streamline-media/streamline/internal/testpeer"
)

func TestRTPOutputDecodesAndAnswersPLI(t *testing.T) {
	src := newTestSource(t, "opus")
	rx := testpeer.NewRTPReceiver(t, 100, 101)
	o := src.start(t, "rtp", Spec{Type: TypeRTP, Host: "127.0.0.1", Port: rx.Port(), VideoPT: 100, AudioPT: 101, SSRC: 4242})
	waitState(t, o, StateLive, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for rx.Frames() < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("decoded %d frames of the RTP output in 10 s", rx.Frames())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The Opus audio decodes to the source's 440 Hz tone.
	var pcm []float64
	for deadline := time.Now().Add(5 * time.Second); pcm == nil && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		pcm = rx.PCM(24000)
	}
	if pcm == nil {
		t.Fatal("no audio decoded from the RTP output")
	}
	if p440, p660 := testpeer.Goertzel(pcm, 48000, 440), testpeer.Goertzel(pcm, 48000, 660); p440 < 1e5 || p660 > p440/100 {
		t.Errorf("decoded audio: 440 Hz power %.3g, 660 Hz %.3g", p440, p660)
	}
	// Sender reports for both SSRCs (video 4242, audio 4243).
	deadline = time.Now().Add(12 * time.Second)
	for {
		v, a := rx.SenderReports(4242), rx.SenderReports(4243)
		vs, as := rx.SSRCs()
		if vs != 4242 || as != 4243 {
			t.Fatalf("SSRCs video %d audio %d, want 4242/4243", vs, as)
		}
		if v > 0 && a > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sender reports: video %d, audio %d", v, a)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A PLI is answered with an IDR long before the 2 s keyframe interval
	// would bring one: count IDRs right after several PLIs half a second apart.
	time.Sleep(300 * time.Millisecond)
	got := 0
	for i := 0; i < 3; i++ {
		rx.IDRs.Store(0)
		if err := rx.SendPLI(0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if rx.IDRs.Load() > 0 {
			got++
		}
	}
	if got < 3 {
		t.Errorf("IDR within 500 ms after %d of 3 PLIs", got)
	}
	if n := o.Status().KeyframeRequests; n != 3 {
		t.Errorf("keyframe requests %d, want 3", n)
	}
}
