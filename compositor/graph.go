// Package compositor is a room's mixing graph: a GStreamer compositor and
// audiomixer in the room's pipeline, fed by per-track decode bins, with tile
// geometry from a layouts template applied live to the compositor's pads.
// Muted, stalled and not-yet-decoded video shows a placeholder tile with the
// participant's initials; audio levels drive active-speaker detection.
//
// The graph exposes two tees, video (raw I420 at the output size and rate)
// and audio (48 kHz stereo S16), to which encoders attach at runtime.
package compositor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/layouts"
)

// rawVideo is the composite's pixel format, and that of the background and
// placeholder sources: exactly what vp8dec (and vp9dec below HD) output —
// I420, BT.601, JPEG chroma siting; VP8 tiles are tagged so at any size,
// and other tiles whose bitstream does not say take the same colours
// (decodedColour). The compositor converts every input
// whose format, colorimetry or chroma siting differs from its output,
// whole frame, every frame; matching the decoders makes an unscaled tile a
// plain copy (measured: converting 4 tiles of 640x360 doubles the cost of
// compositing them).
const rawVideo = "format=I420," + rawColour

// rawColour is the composite's colorimetry and chroma siting.
const rawColour = "colorimetry=bt601,chroma-site=jpeg"

// mixPeriod is the audio mixers' output buffer duration (audiomixer's
// default is 10 ms), and the silence sources' buffer size: one Opus frame.
// The encoders wait for a whole frame anyway (Opus 20 ms, AAC 21.3 ms), so
// it adds no latency to an encoded output, and the mixer, the silence
// source and each encoder's thread wake half as often (measured: see
// docs/compositing.md).
const (
	mixPeriod        = 20 * time.Millisecond
	mixPeriodSamples = int(mixPeriod * 48000 / time.Second) // the mixers run at 48 kHz
)

// Errors returned by the graph.
var (
	ErrClosed   = errors.New("compositor closed")
	ErrNotFound = errors.New("track not in the composite")
	ErrExists   = errors.New("track already in the composite")
)

// Config configures a Graph.
type Config struct {
	Name     string // element name prefix, unique in the pipeline
	Pipeline *gst.Pipeline
	Width    int
	Height   int
	FPS      int
	Layout   layouts.Spec
	// Latency is the mixers' extra live latency (default 60 ms).
	Latency time.Duration
	// StallAfter shows a tile's placeholder once no frame decoded for this
	// long (default 1 s).
	StallAfter time.Duration
	Logger     *slog.Logger
	// OnSpeaker, if set, is told when the active speaker changes ("" = none).
	OnSpeaker func(participant string)
}

// Input is one track to mix: the encoded media at Pad (a src pad in the
// same pipeline) and who it belongs to.
type Input struct {
	TrackID     string
	Participant string
	Name        string // display name for placeholder and label
	Source      string // camera, screen, microphone
	Kind        string // audio or video
	Decoder     string // decoder element factory (vp8dec, avdec_opus, …)
	Pad         *gst.Pad
	Muted       bool
	JoinedAt    time.Time
	// Lateness is how much later than their arrival the track's media is
	// stamped (ingest.Room.TimelineLateness: its first packet came late);
	// the input is moved that much earlier.
	Lateness time.Duration
}

// Graph is a room's compositor and audio mixer.
type Graph struct {
	cfg  Config
	log  *slog.Logger
	pipe *gst.Pipeline
	// elems are the graph's own elements, directly in the room's pipeline
	// (decode bins link to track taps and to the mixers, so all share one
	// parent).
	elems []*gst.Element

	comp, amix *gst.Element
	vcaps      *gst.Element // the mixed video's caps: its size and rate (SetFrame)
	vout, aout *branchPoint // where the consumers of the mixed video and audio branch off
	bgBin      *gst.Bin     // background colour source
	bgPad      *gst.Pad
	bgZ        uint
	bgColor    layouts.Color
	bgW, bgH   int         // the background's size
	t0         int64       // room running time at which the graph's timeline starts
	outTimes   *gstx.Times // the compositor's output (outputTime)

	mu     sync.Mutex
	spec   layouts.Spec
	layout layouts.Layout
	videos map[string]*videoTile
	audios map[string]*audioInput
	mixes  map[string]*mixMinus // by participant (mixminus.go)
	// departed are the tiles (participant and source) whose tracks all
	// left while the graph ran, as they were last placed. Custom regions
	// with reuse "none" keep their cells empty (layouts.Participant.Left);
	// every other template ignores them. A returning track takes its
	// reference out and its first join time (its place in the order). At
	// most maxDeparted are kept.
	departed map[layouts.Ref]layouts.Participant
	speakers *SpeakerDetector
	speaker  string
	closed   bool
	seq      int

	stop context.CancelFunc
	done chan struct{}
}

// checkFrame refuses an output frame the mixer cannot produce.
func checkFrame(width, height, fps int) error {
	if width <= 0 || height <= 0 || width%2 != 0 || height%2 != 0 {
		return fmt.Errorf("compositor: output size %dx%d must be positive and even", width, height)
	}
	if fps <= 0 {
		return fmt.Errorf("compositor: fps %d must be positive", fps)
	}
	return nil
}

// New builds the mixers in the pipeline and starts them.
func New(cfg Config) (*Graph, error) {
	if err := checkFrame(cfg.Width, cfg.Height, cfg.FPS); err != nil {
		return nil, err
	}
	if cfg.Latency == 0 {
		cfg.Latency = 60 * time.Millisecond
	}
	if cfg.StallAfter == 0 {
		cfg.StallAfter = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Layout.Template == "" {
		cfg.Layout.Template = layouts.TemplateGrid
	}
	if err := cfg.Layout.Validate(); err != nil {
		return nil, err
	}
	g := &Graph{cfg: cfg, log: cfg.Logger.With("compositor", cfg.Name), pipe: cfg.Pipeline, spec: cfg.Layout,
		videos: map[string]*videoTile{}, audios: map[string]*audioInput{}, departed: map[layouts.Ref]layouts.Participant{}, speakers: NewSpeakerDetector(SpeakerConfig{}),
		done: make(chan struct{})}
	if err := g.build(); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	g.stop = stop
	go g.watch(ctx)
	g.mu.Lock()
	g.relayoutLocked()
	g.mu.Unlock()
	return g, nil
}

func (g *Graph) name(suffix string) string { return g.cfg.Name + "-" + suffix }

func (g *Graph) build() error {
	latency := uint64(g.cfg.Latency)
	var err error
	g.comp, err = gst.NewElementWithProperties("compositor", map[string]interface{}{
		"name": g.name("video"), "latency": latency,
	})
	if err != nil {
		return fmt.Errorf("compositor: %w", err)
	}
	g.comp.SetArg("background", "black")

	if g.vcaps, err = newMutableCapsFilter(g.name("vcaps"), g.videoCaps()); err != nil {
		return err
	}
	g.vout, err = newBranchPoint(g.name("vtee"))
	if err != nil {
		return err
	}
	g.amix, err = gst.NewElementWithProperties("audiomixer", map[string]interface{}{
		"name": g.name("audio"), "latency": latency, "output-buffer-duration": uint64(mixPeriod),
	})
	if err != nil {
		return fmt.Errorf("audiomixer: %w", err)
	}
	acaps, err := newCapsFilter(g.name("acaps"), "audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved")
	if err != nil {
		return err
	}
	g.aout, err = newBranchPoint(g.name("atee"))
	if err != nil {
		return err
	}
	// Live background sources keep both mixers producing in real time from
	// the moment they start, with nobody in the room: a full-frame solid
	// colour at the output rate (the layout's background) and digital silence.
	silence, err := element("audiotestsrc", g.name("silence"), map[string]any{"is-live": true, "samplesperbuffer": mixPeriodSamples})
	if err != nil {
		return err
	}
	silence.SetArg("wave", "silence")
	silCaps, err := newCapsFilter(g.name("silcaps"), "audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved")
	if err != nil {
		return err
	}
	silQ, err := latencyQueue(g.name("silq"))
	if err != nil {
		return err
	}
	g.elems = []*gst.Element{g.comp, g.vcaps, g.vout.element(), g.amix, acaps, g.aout.element(), silence, silCaps, silQ}
	// The graph runs on its own timeline that starts now (t0): the room's
	// pipeline has been running for a while, and mixers added to it would
	// otherwise start at running time 0 and race to produce every frame
	// since then. Its elements get base time = pipeline base + t0, and each
	// input from the room's timeline is shifted by -t0 at its mixer pad.
	g.t0 = max(gstx.RunningTime(g.pipe), 0)
	if err := g.pipe.AddMany(g.elems...); err != nil {
		return fmt.Errorf("compositor: add: %w", err)
	}
	for _, e := range g.elems { // after adding: adding sets the parent's base time
		g.ownTimeline(e)
	}
	if err := gst.ElementLinkMany(g.comp, g.vcaps, g.vout.element()); err != nil {
		g.removeElems()
		return fmt.Errorf("compositor: link video: %w", err)
	}
	if err := gst.ElementLinkMany(g.amix, acaps, g.aout.element()); err != nil {
		g.removeElems()
		return fmt.Errorf("compositor: link audio: %w", err)
	}
	if err := gst.ElementLinkMany(silence, silCaps, silQ); err != nil {
		g.removeElems()
		return fmt.Errorf("compositor: link silence: %w", err)
	}
	if ret := silQ.GetStaticPad("src").Link(g.amix.GetRequestPad("sink_%u")); ret != gst.PadLinkOK {
		g.removeElems()
		return fmt.Errorf("compositor: link silence: %s", ret.String())
	}
	// Downstream first, so nothing pushes into a stopped element.
	for i := len(g.elems) - 1; i >= 0; i-- {
		if !g.elems[i].SyncStateWithParent() {
			g.removeElems()
			return errors.New("compositor: could not start")
		}
	}
	bg, err := layouts.ParseColor(g.cfg.Layout.Background)
	if g.cfg.Layout.Background == "" || err != nil {
		bg = layouts.Color{}
	}
	if err := g.setBackground(bg); err != nil {
		g.removeElems()
		return err
	}
	g.outTimes = gstx.WatchTimes(g.comp.GetStaticPad("src"))
	return nil
}

// videoCaps are the mixed video's caps at the configured size and rate.
func (g *Graph) videoCaps() string {
	return fmt.Sprintf("video/x-raw,%s,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1",
		rawVideo, g.cfg.Width, g.cfg.Height, g.cfg.FPS)
}

// outputTime is the running time (on the graph's timeline) of the latest
// frame the compositor has output, or -1.
func (g *Graph) outputTime() int64 { return g.outTimes.LastRunningTime() }

// setBackground shows a full-frame solid colour under every tile: one frame
// rendered once and repeated live by imagefreeze. A videotestsrc rendering
// every frame cost a full-frame fill per output frame, and every frame it
// made waited in the latency queue for the mixer's whole latency (tens of
// frames of 1280x720: ~45 MiB of a 9-person room's peak); imagefreeze
// pushes references to its one buffer. A new colour gets a new source on
// the other of the two lowest zorders, and the old one goes.
func (g *Graph) setBackground(c layouts.Color) error {
	if g.bgBin != nil && c == g.bgColor && g.bgW == g.cfg.Width && g.bgH == g.cfg.Height {
		return nil
	}
	g.seq++
	name := fmt.Sprintf("%s-bg%d", g.cfg.Name, g.seq)
	bin, err := newStill(name, uint(c.ARGB()), g.cfg.Width, g.cfg.Height, g.cfg.FPS)
	if err != nil {
		return err
	}
	pad, err := g.attach(bin, g.comp, false)
	if err != nil {
		return fmt.Errorf("compositor background: %w", err)
	}
	z := uint(0)
	if g.bgBin != nil && g.bgZ == 0 {
		z = 1
	}
	setPad(pad, 0, 0, g.cfg.Width, g.cfg.Height, z, 1)
	if g.bgBin != nil {
		detach(g.pipe, g.bgBin, g.comp, g.bgPad)
	}
	g.bgBin, g.bgPad, g.bgZ, g.bgColor = bin, pad, z, c
	g.bgW, g.bgH = g.cfg.Width, g.cfg.Height
	return nil
}

// ownTimeline puts e on the graph's timeline (see build).
func (g *Graph) ownTimeline(e *gst.Element) {
	e.SetStartTime(gst.ClockTimeNone)
	e.SetBaseTime(g.pipe.GetBaseTime() + gst.ClockTime(g.t0))
}

func (g *Graph) removeElems() {
	for _, e := range g.elems {
		_ = gstx.RemoveElement(g.pipe.Bin, e, 5*time.Second)
	}
	g.elems = nil
}

func newCapsFilter(name, caps string) (*gst.Element, error) {
	cf, err := gst.NewElementWithName("capsfilter", name)
	if err != nil {
		return nil, fmt.Errorf("capsfilter: %w", err)
	}
	if err := cf.SetProperty("caps", gst.NewCapsFromString(caps)); err != nil {
		return nil, fmt.Errorf("capsfilter %s: %w", name, err)
	}
	return cf, nil
}

// newMutableCapsFilter is a capsfilter whose caps change while the pipeline
// runs (the mix's frame, a tile's size). A capsfilter reads its caps twice
// in one caps query: once to filter what it asks downstream, once to
// intersect the answer. Changed in between (the mixer renegotiating on its
// own thread while SetFrame sets new caps), the old caps filter the answer
// and the new ones empty it: the mixer finds no caps downstream, answers
// NOT_NEGOTIATED to every input, and the sources stop with "streaming
// stopped, reason not-negotiated" — the mix froze for good, about one run
// in ten of TestLargerCompositeGrowsTheMix (a composite that grew the mix
// and failed to start, then another that grew it again, within 10 ms).
// In delayed mode an empty intersection is retried with the caps before
// the change, and the element asks upstream to renegotiate when the old
// caps arrive, so the mix goes through the old frame to the new one.
func newMutableCapsFilter(name, caps string) (*gst.Element, error) {
	cf, err := newCapsFilter(name, caps)
	if err != nil {
		return nil, err
	}
	cf.SetArg("caps-change-mode", "delayed")
	return cf, nil
}

func newTee(name string) (*gst.Element, error) {
	t, err := gst.NewElementWithName("tee", name)
	if err != nil {
		return nil, fmt.Errorf("tee: %w", err)
	}
	if err := t.SetProperty("allow-not-linked", true); err != nil {
		return nil, fmt.Errorf("tee %s: %w", name, err)
	}
	return t, nil
}

// Output is a branch on the mixed media for an encoder: an isolated src
// pad of the graph's video or audio branch point (see branchPoint), in the
// room's pipeline.
type Output struct {
	Pad    *gst.Pad
	g      *Graph
	bp     *branchPoint
	teePad *gst.Pad
	iso    *gstx.Isolation
	once   sync.Once
	// release, if set, runs after Close (a mix-minus ends with its last output).
	release func()
}

// VideoOutput opens a new branch on the mixed video.
func (g *Graph) VideoOutput() (*Output, error) { return g.output(g.vout) }

// AudioOutput opens a new branch on the mixed audio.
func (g *Graph) AudioOutput() (*Output, error) { return g.output(g.aout) }

func (g *Graph) output(bp *branchPoint) (*Output, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	return newOutput(g, bp)
}

func newOutput(g *Graph, bp *branchPoint) (*Output, error) {
	ghost, teePad, iso, err := bp.branch()
	if err != nil {
		return nil, fmt.Errorf("compositor: %w", err)
	}
	return &Output{Pad: ghost, g: g, bp: bp, teePad: teePad, iso: iso}, nil
}

// Refused is how many buffers the consumer answered with anything but OK
// (the mix went on regardless), and the last such answer.
func (o *Output) Refused() (uint64, gst.FlowReturn) { return o.iso.Refused() }

// Finish ends the branch: from the tee's streaming thread (so no lock of the
// consumer is needed while it may be busy) it unlinks the consumer and sends
// it EOS, so the consumer can drain and finalize. Close must follow.
func (o *Output) Finish() {
	done := make(chan struct{})
	var once sync.Once
	o.Pad.AddProbe(gst.PadProbeTypeBlockDownstream|gst.PadProbeTypeIdle, func(pad *gst.Pad, _ *gst.PadProbeInfo) gst.PadProbeReturn {
		once.Do(func() {
			if peer := pad.GetPeer(); peer != nil {
				pad.Unlink(peer)
				peer.SendEvent(gst.NewEOSEvent())
			}
			close(done)
		})
		return gst.PadProbeRemove
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		// The tee is not flowing (mixer stopped): do it from here.
		once.Do(func() {
			if peer := o.Pad.GetPeer(); peer != nil {
				o.Pad.Unlink(peer)
				go peer.SendEvent(gst.NewEOSEvent())
			}
			close(done)
		})
	}
}

// Close releases the branch point; the consumer has unlinked or stopped its bin.
func (o *Output) Close() {
	o.once.Do(func() {
		if peer := o.Pad.GetPeer(); peer != nil {
			o.Pad.Unlink(peer)
		}
		o.bp.release(o.Pad, o.teePad)
		if o.release != nil {
			o.release()
		}
	})
}

// Add mixes a new track: video gets a tile (placeholder first), audio joins the mix.
func (g *Graph) Add(in Input) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	if _, ok := g.videos[in.TrackID]; ok {
		return fmt.Errorf("%w: %s", ErrExists, in.TrackID)
	}
	if _, ok := g.audios[in.TrackID]; ok {
		return fmt.Errorf("%w: %s", ErrExists, in.TrackID)
	}
	if in.JoinedAt.IsZero() {
		in.JoinedAt = time.Now()
	}
	// A participant coming back keeps the place of their first join, and
	// their tile is no longer a departed one.
	ref := inputRef(in)
	if p, ok := g.departed[ref]; ok && p.JoinedAt.Before(in.JoinedAt) {
		in.JoinedAt = p.JoinedAt
	}
	g.seq++
	switch in.Kind {
	case "video":
		vt, err := newVideoTile(g, in, g.seq)
		if err != nil {
			return err
		}
		g.videos[in.TrackID] = vt
	case "audio":
		ai, err := newAudioInput(g, in, g.seq)
		if err != nil {
			return err
		}
		g.audios[in.TrackID] = ai
		g.mixMinusAddLocked(ai)
	default:
		return fmt.Errorf("compositor: kind %q", in.Kind)
	}
	delete(g.departed, ref)
	g.relayoutLocked()
	g.log.Info("track mixed", "track", in.TrackID, "participant", in.Participant, "kind", in.Kind)
	return nil
}

// WaitShown waits, at most timeout, until the output shows every tile the
// layout places: each one's placeholder or video. A graph just built with
// the room's tracks needs a few frames for that (each placeholder's first
// frame is stamped when it is attached, and the mixer outputs a latency
// behind the clock); a recording that starts on the graph's first frames
// would begin with empty cells. It reports whether everything was shown.
func (g *Graph) WaitShown(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if g.allShown() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (g *Graph) allShown() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return true
	}
	for _, vt := range g.videos {
		if !vt.shown() {
			return false
		}
	}
	for _, ai := range g.audios {
		if !ai.shown() {
			return false
		}
	}
	return true
}

// Remove takes a track out of the mix; its tile re-flows away.
func (g *Graph) Remove(trackID string) error {
	g.mu.Lock()
	vt, v := g.videos[trackID]
	ai, a := g.audios[trackID]
	if v || a {
		before := g.participantsLocked()
		delete(g.videos, trackID)
		delete(g.audios, trackID)
		if a {
			g.mixMinusRemoveLocked(trackID)
		}
		g.noteDepartedLocked(before)
		g.relayoutLocked()
	}
	g.mu.Unlock()
	switch {
	case v:
		vt.remove()
	case a:
		ai.remove()
	default:
		return fmt.Errorf("%w: %s", ErrNotFound, trackID)
	}
	g.log.Info("track unmixed", "track", trackID)
	return nil
}

// SetMuted shows a video tile's placeholder while muted (audio: silences it).
func (g *Graph) SetMuted(trackID string, muted bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if vt := g.videos[trackID]; vt != nil {
		vt.muted = muted
		vt.applyVisibility()
		return nil
	}
	if ai := g.audios[trackID]; ai != nil {
		ai.setMuted(muted)
		g.mixMinusMuteLocked(trackID, muted)
		g.relayoutLocked() // the label shows audio mute
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNotFound, trackID)
}

// SetLayout applies a new layout spec within one output frame and returns
// the resulting tile geometry.
func (g *Graph) SetLayout(spec layouts.Spec) (layouts.Layout, error) {
	if err := spec.Validate(); err != nil {
		return layouts.Layout{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return layouts.Layout{}, ErrClosed
	}
	old := g.spec
	g.spec = spec
	if err := g.relayoutLocked(); err != nil {
		g.spec = old
		_ = g.relayoutLocked()
		return layouts.Layout{}, err
	}
	return g.layout, nil
}

// SetFrame changes the mixed video's frame size and rate while the graph
// runs: its caps, the background and every tile's rectangle (a relayout),
// within a frame or two. Each consumer scales and re-times to its own
// settings, so it sees a caps change and nothing else. For a rendition
// larger or faster than the mix: scaled down from a mix at its size it is
// sharp, scaled up from a smaller one it is not; at the mix's rate it has
// every frame, from a slower mix it repeats them.
func (g *Graph) SetFrame(width, height, fps int) error {
	if err := checkFrame(width, height, fps); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	if width == g.cfg.Width && height == g.cfg.Height && fps == g.cfg.FPS {
		return nil
	}
	old := g.cfg
	g.cfg.Width, g.cfg.Height, g.cfg.FPS = width, height, fps
	if _, err := layouts.Compute(g.spec, g.participantsLocked(), layouts.Frame{Width: width, Height: height}); err != nil {
		g.cfg = old
		return fmt.Errorf("compositor: frame %dx%d: %w", width, height, err)
	}
	if err := g.vcaps.SetProperty("caps", gst.NewCapsFromString(g.videoCaps())); err != nil {
		g.cfg = old
		return fmt.Errorf("compositor: frame %dx%d@%d: %w", width, height, fps, err)
	}
	g.log.Info("mix frame changed", "from", fmt.Sprintf("%dx%d@%d", old.Width, old.Height, old.FPS),
		"to", fmt.Sprintf("%dx%d@%d", width, height, fps))
	return g.relayoutLocked()
}

// Frame is the mixed video's frame size and rate.
func (g *Graph) Frame() (width, height, fps int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg.Width, g.cfg.Height, g.cfg.FPS
}

// Layout returns the current spec and tile geometry.
func (g *Graph) Layout() (layouts.Spec, layouts.Layout) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.spec, g.layout
}

// Speaker is the current active speaker ("" = nobody).
func (g *Graph) Speaker() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.speaker
}

// participantsLocked lists what the layout places: every video track, and a
// placeholder for participants with audio only; then the departed tiles
// that no track took back (Left).
func (g *Graph) participantsLocked() []layouts.Participant {
	var out []layouts.Participant
	hasVideo := map[string]bool{}
	for _, vt := range g.videos {
		hasVideo[vt.in.Participant] = true
		src := layouts.SourceCamera
		if vt.in.Source == "screen" {
			src = layouts.SourceScreen
		}
		aspect := 0.0
		if vt.srcW > 0 && vt.srcH > 0 {
			aspect = float64(vt.srcW) / float64(vt.srcH)
		}
		out = append(out, layouts.Participant{ID: vt.in.Participant, Name: vt.in.Name, Source: src, Aspect: aspect,
			JoinedAt: vt.in.JoinedAt, Speaking: vt.in.Participant == g.speaker, Muted: g.audioMutedLocked(vt.in.Participant)})
	}
	for _, ai := range g.audios {
		if hasVideo[ai.in.Participant] {
			continue
		}
		hasVideo[ai.in.Participant] = true
		out = append(out, layouts.Participant{ID: ai.in.Participant, Name: ai.in.Name, Source: layouts.SourceCamera,
			JoinedAt: ai.in.JoinedAt, Speaking: ai.in.Participant == g.speaker, Muted: ai.muted})
	}
	present := map[layouts.Ref]bool{}
	for _, p := range out {
		present[layouts.Ref{ParticipantID: p.ID, Source: p.Source}] = true
	}
	for ref, p := range g.departed {
		if !present[ref] {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].JoinedAt.Equal(out[j].JoinedAt) {
			return out[i].JoinedAt.Before(out[j].JoinedAt)
		}
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Source < out[j].Source
	})
	// Two video tracks of one participant with the same source would clash.
	seen := map[layouts.Ref]bool{}
	uniq := out[:0]
	for _, p := range out {
		ref := layouts.Ref{ParticipantID: p.ID, Source: p.Source}
		if !seen[ref] {
			seen[ref] = true
			uniq = append(uniq, p)
		}
	}
	return uniq
}

// inputRef is the tile an input shows as: its video, or the placeholder of
// a participant with audio only.
func inputRef(in Input) layouts.Ref {
	if in.Kind == "video" && in.Source == "screen" {
		return layouts.Ref{ParticipantID: in.Participant, Source: layouts.SourceScreen}
	}
	return layouts.Ref{ParticipantID: in.Participant, Source: layouts.SourceCamera}
}

// maxDeparted bounds Graph.departed: past it, further departures free
// their cells whatever the layout says.
const maxDeparted = 256

// noteDepartedLocked records the tiles of before that the graph no longer
// places.
func (g *Graph) noteDepartedLocked(before []layouts.Participant) {
	now := map[layouts.Ref]bool{}
	for _, p := range g.participantsLocked() {
		now[layouts.Ref{ParticipantID: p.ID, Source: p.Source}] = true
	}
	for _, p := range before {
		ref := layouts.Ref{ParticipantID: p.ID, Source: p.Source}
		if p.Left || now[ref] || len(g.departed) >= maxDeparted {
			continue
		}
		p.Left, p.Speaking, p.Muted = true, false, false
		g.departed[ref] = p
	}
}

func (g *Graph) audioMutedLocked(participant string) bool {
	for _, ai := range g.audios {
		if ai.in.Participant == participant {
			return ai.muted
		}
	}
	return false
}

// relayoutLocked computes the layout and applies it to every pad.
func (g *Graph) relayoutLocked() error {
	lay, err := layouts.Compute(g.spec, g.participantsLocked(), layouts.Frame{Width: g.cfg.Width, Height: g.cfg.Height})
	if err != nil {
		return err
	}
	g.layout = lay
	if err := g.setBackground(lay.Background); err != nil {
		g.log.Warn("background", "error", err)
	}
	byRef := map[layouts.Ref]layouts.Tile{}
	for _, t := range lay.Tiles {
		byRef[layouts.Ref{ParticipantID: t.ParticipantID, Source: t.Source}] = t
	}
	placed := map[layouts.Ref]bool{}
	for _, vt := range g.sortedVideos() {
		ref := vt.ref()
		tile, ok := byRef[ref]
		if !ok || placed[ref] {
			vt.place(nil)
			continue
		}
		placed[ref] = true
		vt.place(&tile)
	}
	for _, ai := range g.audios {
		ref := layouts.Ref{ParticipantID: ai.in.Participant, Source: layouts.SourceCamera}
		if tile, ok := byRef[ref]; ok && !placed[ref] {
			placed[ref] = true
			ai.placeholderAt(&tile)
		} else {
			ai.placeholderAt(nil)
		}
	}
	return nil
}

func (g *Graph) sortedVideos() []*videoTile {
	out := make([]*videoTile, 0, len(g.videos))
	for _, vt := range g.videos {
		out = append(out, vt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// watch checks tiles for first frames and stalls, and audio levels for the
// active speaker.
func (g *Graph) watch(ctx context.Context) {
	defer close(g.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			g.mu.Lock()
			resized := false
			for _, vt := range g.videos {
				vt.checkFrames(now)
				resized = vt.readSize() || resized
			}
			if resized { // a camera's aspect changed: tiles and crops follow
				_ = g.relayoutLocked()
			}
			levels := map[string]float64{}
			for _, ai := range g.audios {
				ai.ph.refresh()
				if db, ok := ai.level(); ok && !ai.muted {
					if cur, seen := levels[ai.in.Participant]; !seen || db > cur {
						levels[ai.in.Participant] = db
					}
				}
			}
			speaker := g.speakers.Update(now, levels)
			changed := speaker != g.speaker
			if changed {
				g.speaker = speaker
				g.relayoutLocked()
			}
			notify := g.cfg.OnSpeaker
			g.mu.Unlock()
			if changed && notify != nil {
				notify(speaker)
			}
		}
	}
}

// Close removes every input and the mixers from the pipeline. Encoders must
// have been detached from the outputs first.
func (g *Graph) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	videos, audios := g.videos, g.audios
	g.videos, g.audios = map[string]*videoTile{}, map[string]*audioInput{}
	g.closeMixMinusesLocked()
	g.mu.Unlock()
	g.stop()
	<-g.done
	for _, vt := range videos {
		vt.remove()
	}
	for _, ai := range audios {
		ai.remove()
	}
	if g.bgBin != nil {
		detach(g.pipe, g.bgBin, g.comp, g.bgPad)
		g.bgBin = nil
	}
	g.removeElems()
	g.outTimes.Free()
}

// SetSyncOffset shifts a track's media at its mixer pad by d on top of the
// graph's timeline shift: lip-sync delays a participant's audio or video
// this way (d > 0), and a track stamped late (its first packet arrived
// late) is moved earlier (d < 0). An input is never moved earlier than the
// graph's age (less a margin): its media arriving now would get a negative
// running time, and compositor never consumes such a frame (see
// gstx.DropUntil). It returns the shift applied.
func (g *Graph) SetSyncOffset(trackID string, d time.Duration) (time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var pad *gst.Pad
	if vt := g.videos[trackID]; vt != nil {
		pad = vt.decPad
	} else if ai := g.audios[trackID]; ai != nil {
		pad = ai.pad
	}
	if pad == nil {
		return 0, fmt.Errorf("%w: %s", ErrNotFound, trackID)
	}
	if d < 0 {
		limit := max(time.Duration(gstx.RunningTime(g.pipe)-g.t0)-200*time.Millisecond, 0)
		d = max(d, -limit)
	}
	pad.SetOffset(-g.t0 + int64(d))
	g.mixMinusOffsetLocked(trackID, -g.t0+int64(d))
	return d, nil
}
