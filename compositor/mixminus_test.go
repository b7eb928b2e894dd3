package compositor

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/internal/testpeer"
	"github.com/streamline-media/streamline/layouts"
)

// pcmTap collects the left channel of S16LE stereo from an appsink.
type pcmTap struct {
	mu      sync.Mutex
	samples []float64
}

func (p *pcmTap) sink(t *testing.T, name string) *app.Sink {
	return bytesSink(t, name, "audio/x-raw,format=S16LE,rate=48000,channels=2", func(b []byte) {
		p.mu.Lock()
		for i := 0; i+3 < len(b); i += 4 {
			p.samples = append(p.samples, float64(int16(binary.LittleEndian.Uint16(b[i:]))))
		}
		p.mu.Unlock()
	})
}

// bytesSink is an appsink of caps, not synchronised, that hands the bytes
// of every buffer to got (on the streaming thread).
func bytesSink(t *testing.T, name, caps string, got func([]byte)) *app.Sink {
	return sampleSink(t, name, caps, func(smp *gst.Sample) { got(smp.GetBuffer().Bytes()) })
}

// sampleSink is an appsink of caps, not synchronised, that hands every
// sample to got (on the streaming thread).
func sampleSink(t *testing.T, name, caps string, got func(*gst.Sample)) *app.Sink {
	e, err := gst.NewElementWithName("appsink", name)
	if err != nil {
		t.Fatal(err)
	}
	s := app.SinkFromElement(e)
	_ = s.SetProperty("sync", false)
	_ = s.SetProperty("async", false)
	s.SetCaps(gst.NewCapsFromString(caps))
	s.SetCallbacks(&app.SinkCallbacks{NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
		smp := s.PullSample()
		if smp == nil {
			return gst.FlowEOS
		}
		got(smp)
		return gst.FlowOK
	}})
	return s
}

func (p *pcmTap) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.samples)
}

func (p *pcmTap) last(n int) []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.samples) < n {
		return nil
	}
	return append([]float64(nil), p.samples[len(p.samples)-n:]...)
}

// await waits until the tap holds n samples, at the latest until deadline;
// what names the mix in the failure.
func (p *pcmTap) await(t *testing.T, n int, deadline time.Time, what string) {
	t.Helper()
	from := p.count()
	for p.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s produced %d samples of the %d awaited by %v", what, p.count()-from, n-from, deadline.Format("15:04:05.000"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMixMinusTones: three participants send distinct sine tones (Opus);
// each one's mix-minus carries the two others' tones and not their own,
// a participant who joins later is added, and one who leaves is taken out.
func TestMixMinusTones(t *testing.T) {
	gstx.Init()
	pipe, err := gst.NewPipeline("mmtest")
	if err != nil {
		t.Fatal(err)
	}
	freqs := map[string]float64{"alice": 440, "bob": 660, "carol": 990}
	encoded := map[string]*gst.Pad{}
	for _, p := range []string{"alice", "bob", "carol"} {
		encoded[p] = toneSource(t, pipe, p, freqs[p])
	}
	g := playGraph(t, pipe, Config{Name: "mm", Width: 320, Height: 240, FPS: 15, Layout: layouts.Spec{Template: layouts.TemplateGrid}})
	add := func(p string) {
		if err := g.Add(Input{TrackID: p + "-mic", Participant: p, Kind: "audio", Decoder: opusDecoder, Pad: encoded[p]}); err != nil {
			t.Fatal(err)
		}
	}
	add("alice")
	add("bob")
	taps := map[string]*pcmTap{}
	var stops []func()
	for _, p := range []string{"alice", "bob", "carol"} {
		taps[p] = &pcmTap{}
		stops = append(stops, onOutput(t, pipe, func() (*Output, error) { return g.MixMinusOutput(p) }, taps[p].sink(t, "tap-"+p)))
	}
	add("carol") // joins after the mix-minuses exist

	check := func(stage string, present map[string][]string) {
		t.Helper()
		// 1 s of new audio in every mix-minus (the mix needs a moment to
		// settle on a loaded machine), then look at its last 0.5 s.
		start := map[string]int{}
		for p := range present {
			start[p] = taps[p].count()
		}
		deadline := time.Now().Add(30 * time.Second)
		for p := range present {
			taps[p].await(t, start[p]+48000, deadline, stage+": "+p+"'s mix-minus")
		}
		for p, want := range present {
			x := taps[p].last(24000) // 0.5 s
			if x == nil {
				t.Fatalf("%s: no audio in %s's mix-minus", stage, p)
			}
			in := map[string]bool{}
			for _, q := range want {
				in[q] = true
			}
			for q, f := range freqs {
				pw := testpeer.Goertzel(x, 48000, f)
				if in[q] && pw < 1e5 {
					t.Errorf("%s: %s's tone (%g Hz) missing from %s's mix-minus (power %.3g)", stage, q, f, p, pw)
				}
				if !in[q] && pw > 1e3 {
					t.Errorf("%s: %s's tone (%g Hz) in %s's mix-minus (power %.3g)", stage, q, f, p, pw)
				}
			}
		}
	}
	check("three in", map[string][]string{"alice": {"bob", "carol"}, "bob": {"alice", "carol"}, "carol": {"alice", "bob"}})
	if err := g.Remove("bob-mic"); err != nil {
		t.Fatal(err)
	}
	check("bob left", map[string][]string{"alice": {"carol"}, "carol": {"alice"}})
	for _, stop := range stops {
		stop()
	}
	if n := len(g.MixMinusInputs("alice")); n != 0 {
		t.Errorf("alice's mix-minus still has %d inputs after its last output closed", n)
	}
}

// TestMixMinusFlushKeepsMainMix: while a mix-minus input is being removed
// its mixer pad is flushing (unlink flushes it before unlinking); pushes
// landing then answer FLUSHING. Held flushing for a second, bob's pad in
// alice's mix-minus must not stop bob's input: his tone stays in the main
// mix. Before the mix-minus branches were isolated, bob's input tee passed
// that FLUSHING up, his decode chain paused and his voice left every mix.
func TestMixMinusFlushKeepsMainMix(t *testing.T) {
	gstx.Init()
	pipe, err := gst.NewPipeline("mmflush")
	if err != nil {
		t.Fatal(err)
	}
	freqs := map[string]float64{"alice": 440, "bob": 660}
	encoded := map[string]*gst.Pad{}
	for p, f := range freqs {
		encoded[p] = toneSource(t, pipe, p, f)
	}
	g := playGraph(t, pipe, Config{Name: "mf", Width: 320, Height: 240, FPS: 15, Layout: layouts.Spec{Template: layouts.TemplateGrid}})
	for p, pad := range encoded {
		if err := g.Add(Input{TrackID: p + "-mic", Participant: p, Kind: "audio", Decoder: opusDecoder, Pad: pad}); err != nil {
			t.Fatal(err)
		}
	}
	main, err := g.AudioOutput()
	if err != nil {
		t.Fatal(err)
	}
	tap := &pcmTap{}
	s := tap.sink(t, "tap-main")
	pipe.Add(s.Element)
	if ret := main.Pad.Link(s.GetStaticPad("sink")); ret != gst.PadLinkOK {
		t.Fatal(ret)
	}
	s.SyncStateWithParent()
	mmOut, err := g.MixMinusOutput("alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mmOut.Finish(); mmOut.Close() })

	// The main mix's last half second after another second of audio.
	recent := func() []float64 {
		t.Helper()
		tap.await(t, tap.count()+48000, time.Now().Add(30*time.Second), "the main mix")
		return tap.last(24000)
	}
	heard := func(stage string) {
		t.Helper()
		x := recent()
		for p, f := range freqs {
			if pw := testpeer.Goertzel(x, 48000, f); pw < 1e5 {
				t.Errorf("%s: %s's tone (%g Hz) missing from the main mix (power %.3g)", stage, p, f, pw)
			}
		}
	}
	heard("before")
	g.mu.Lock()
	in := g.mixes["alice"].inputs["bob-mic"]
	g.mu.Unlock()
	if in == nil {
		t.Fatal("bob is not in alice's mix-minus")
	}
	in.mixPad.SendEvent(gst.NewFlushStartEvent())
	heard("bob's pad in alice's mix-minus flushing")
	in.mixPad.SendEvent(gst.NewFlushStopEvent(false))
}
