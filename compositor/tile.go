package compositor

import (
	"fmt"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/internal/tilescale"
	"github.com/streamline-media/streamline/layouts"
)

// chain builds a bin of linked elements with ghost pads "sink" (unless the
// first element is a source) and "src".
func chain(name string, elems ...*gst.Element) (*gst.Bin, error) {
	bin := gst.NewBin(name)
	if err := bin.AddMany(elems...); err != nil {
		return nil, fmt.Errorf("%s: add: %w", name, err)
	}
	if err := gst.ElementLinkMany(elems...); err != nil {
		return nil, fmt.Errorf("%s: link: %w", name, err)
	}
	if sink := elems[0].GetStaticPad("sink"); sink != nil {
		g := gst.NewGhostPad("sink", sink)
		if g == nil || !bin.AddPad(g.Pad) {
			return nil, fmt.Errorf("%s: sink ghost pad", name)
		}
	}
	g := gst.NewGhostPad("src", elems[len(elems)-1].GetStaticPad("src"))
	if g == nil || !bin.AddPad(g.Pad) {
		return nil, fmt.Errorf("%s: src ghost pad", name)
	}
	return bin, nil
}

func element(factory, name string, props map[string]any) (*gst.Element, error) {
	e, err := gst.NewElementWithName(factory, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", factory, err)
	}
	for k, v := range props {
		if err := e.SetProperty(k, v); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", name, k, err)
		}
	}
	return e, nil
}

// attach adds bin to the pipeline, links its src to a new request pad of
// mixer, and starts it. It returns the mixer pad. fromRoom says the bin
// carries the room's timeline (a track) rather than the graph's own (a
// placeholder source).
func (g *Graph) attach(bin *gst.Bin, mixer *gst.Element, fromRoom bool) (*gst.Pad, error) {
	p := g.pipe
	if err := p.Add(bin.Element); err != nil {
		return nil, fmt.Errorf("%s: add: %w", bin.GetName(), err)
	}
	if !fromRoom {
		g.ownTimeline(bin.Element) // after adding: adding sets the parent's base time
	}
	pad := mixer.GetRequestPad("sink_%u")
	if pad == nil {
		_ = p.Remove(bin.Element)
		return nil, fmt.Errorf("%s: %s gave no pad", bin.GetName(), mixer.GetName())
	}
	if fromRoom {
		pad.SetOffset(-g.t0)
	}
	if ret := bin.GetStaticPad("src").Link(pad); ret != gst.PadLinkOK {
		mixer.ReleaseRequestPad(pad)
		_ = p.Remove(bin.Element)
		return nil, fmt.Errorf("%s: link to %s: %s", bin.GetName(), mixer.GetName(), ret.String())
	}
	if !bin.SyncStateWithParent() {
		return pad, fmt.Errorf("%s: could not start", bin.GetName())
	}
	return pad, nil
}

// shiftInput puts a room input's mixer pad on the graph's timeline, moved
// earlier by the lateness of the input's stamps.
func (g *Graph) shiftInput(pad *gst.Pad, lateness time.Duration) {
	pad.SetOffset(-g.t0 - int64(max(lateness, 0)))
}

// detach stops bin and releases its mixer pad. The pad is flushed first: a
// live source may be blocked inside the mixer pad's chain waiting for the
// next output frame, and the flush frees it so the bin can stop.
func detach(p *gst.Pipeline, bin *gst.Bin, mixer *gst.Element, pad *gst.Pad) {
	if pad != nil {
		// Flushing the mixer pad returns FLUSHING to a blocked push, which a
		// source takes as a clean pause (unlinking first would be an error).
		pad.SendEvent(gst.NewFlushStartEvent())
	}
	// Locked first: the running pipeline would set a stopped but not yet
	// removed bin playing again (see gstx.RemoveElement).
	_ = bin.SetLockedState(true)
	_ = gstx.StopElement(bin.Element, 5*time.Second)
	if pad != nil {
		if src := bin.GetStaticPad("src"); src != nil {
			src.Unlink(pad)
		}
		mixer.ReleaseRequestPad(pad)
	}
	_ = p.Remove(bin.Element)
}

// newStill is a live source of one solid-colour (ARGB) w x h frame, drawn
// on by the overlays in order, rendered once and repeated by imagefreeze at
// fps (references to one buffer), behind a latencyQueue: the background and
// the placeholders.
func newStill(name string, argb uint, w, h, fps int, overlays ...*gst.Element) (*gst.Bin, error) {
	src, err := element("videotestsrc", name+"-src", map[string]any{"num-buffers": 1, "foreground-color": argb})
	if err != nil {
		return nil, err
	}
	src.SetArg("pattern", "solid-color")
	caps, err := newCapsFilter(name+"-caps", fmt.Sprintf("video/x-raw,%s,width=%d,height=%d,framerate=%d/1", rawVideo, w, h, fps))
	if err != nil {
		return nil, err
	}
	freeze, err := element("imagefreeze", name+"-freeze", map[string]any{"is-live": true})
	if err != nil {
		return nil, err
	}
	q, err := latencyQueue(name + "-q")
	if err != nil {
		return nil, err
	}
	elems := append(append([]*gst.Element{src, caps}, overlays...), freeze, q)
	return chain(name, elems...)
}

// latencyQueue follows a live test source. Such sources report a maximum
// latency of one frame; the mixer's minimum is the tracks' jitterbuffer
// and decoding delay, and with max < min it cannot configure a latency,
// stops timing out, and one stalled camera would freeze the whole mix. The
// queue raises the maximum by its 2 s capacity.
func latencyQueue(name string) (*gst.Element, error) {
	return element("queue", name, map[string]any{"max-size-time": uint64(2 * time.Second), "max-size-buffers": uint(0), "max-size-bytes": uint(0)})
}

// inputQueue is the leaky queue, of up to buffers frames, that starts each
// track's decode bin: the track's own thread only hands it the frame, and
// decoding, scaling and the wait at the mixer pad run on the input's
// thread, so an input that falls behind drops frames for the composite
// only, never holding back the track's recording. Tried without the queues
// (the track's thread decoding and pushing into the mixer): a 2160p
// composite on two cores then held a camera's own recording 4 s behind
// after 8 s, and the hand-off the queue adds measured ~0.02 cores for nine
// tiles (docs/compositing.md). The tap (ingest.Tap) answers OK to the track
// whatever the bin answers all the same.
func inputQueue(name string, buffers uint) (*gst.Element, error) {
	q, err := element("queue", name+"-q", map[string]any{"max-size-buffers": buffers, "max-size-bytes": uint(0), "max-size-time": uint64(0)})
	if err != nil {
		return nil, err
	}
	q.SetArg("leaky", "downstream")
	return q, nil
}

// videoTile is one video track on the composite: its decode bin on one
// compositor pad and, only while the tile shows it (muted, stalled, or no
// frame decoded yet), a placeholder on another pad just below it.
//
// A placeholder is attached when needed and removed when the video shows,
// not kept hidden: a live placeholder costs two thread wake-ups per output
// frame and a mixer pad even at alpha 0. Both switches wait for the
// compositor's output to reach the moment from which the new picture is
// there (applyVisibility), so that no frame shows neither: the mixer
// outputs frames a latency behind the clock, and a freshly attached
// placeholder's first frame is stamped with the clock.
type videoTile struct {
	g   *Graph
	in  Input
	seq int

	dec    *gst.Bin
	decPad *gst.Pad
	decSrc *gst.Pad     // the decoder's src pad: its caps give the video size
	crop   *gst.Element // videocrop for fit=cover
	size   *gst.Element // capsfilter after the scaler: the tile's content size
	sized  string       // size's caps as last set
	label  *gst.Element
	frames *gstx.Times
	eosID  uint64

	ph *placeholder // while muted, stalled, or before the first frame
	// phDropAt is the output running time from which the video covers the
	// tile, so the placeholder can go (-1: not leaving).
	phDropAt int64

	tile        *layouts.Tile
	srcW, srcH  int // decoded size, 0 until known
	muted       bool
	hasFrame    bool
	stalled     bool
	lastCount   uint64
	lastFrameAt time.Time
	videoAlpha  float64 // of decPad
}

func newVideoTile(g *Graph, in Input, seq int) (*videoTile, error) {
	vt := &videoTile{g: g, in: in, seq: seq, muted: in.Muted, phDropAt: -1}
	name := fmt.Sprintf("%s-v%d", g.cfg.Name, seq)
	vt.ph = newPlaceholderFor(g, name, layouts.Initials(displayName(in)))
	// The tile's own thread decodes, scales and waits at the mixer pad, so
	// the track's thread never does: two seconds of frames.
	q, err := inputQueue(name, 60)
	if err != nil {
		return nil, err
	}
	dec, err := element(in.Decoder, name+"-dec", nil)
	if err != nil {
		return nil, err
	}
	colour, err := decodedColour(name, in.Decoder)
	if err != nil {
		return nil, err
	}
	if vt.crop, err = element("videocrop", name+"-crop", nil); err != nil {
		return nil, err
	}
	// Bilinear, never letterboxing: the layout's content rectangle already
	// has the picture's aspect, up to even-pixel rounding, which must
	// stretch. The tile scaler is videoscale method=bilinear
	// add-borders=false with the 2/3 of a 3x3 grid of 360p in 720p in SIMD.
	if err := tilescale.Register(); err != nil {
		return nil, err
	}
	scale, err := element(tilescale.Factory, name+"-scale", nil)
	if err != nil {
		return nil, err
	}
	if vt.size, err = newMutableCapsFilter(name+"-size", "ANY"); err != nil { // sized by applySize
		return nil, err
	}
	vt.decSrc = dec.GetStaticPad("src")
	vt.label, err = element("textoverlay", name+"-label", map[string]any{"text": displayName(in), "silent": true,
		"font-desc": "Sans 18", "shaded-background": true})
	if err != nil {
		return nil, err
	}
	vt.label.SetArg("valignment", "bottom")
	vt.label.SetArg("halignment", "left")
	parse, err := decoderInput(name, in.Decoder)
	if err != nil {
		return nil, err
	}
	steps := []*gst.Element{q}
	if parse != nil {
		steps = append(steps, parse)
	}
	steps = append(steps, dec)
	if colour != nil {
		steps = append(steps, colour)
	}
	steps = append(steps, vt.crop, scale, vt.size, vt.label)
	if vt.dec, err = chain(name, steps...); err != nil {
		return nil, err
	}
	vt.eosID = dropEOS(vt.dec.GetStaticPad("sink"))
	if colour == nil {
		if err := fillColour(dec.GetStaticPad("src")); err != nil {
			return nil, err
		}
	}
	// Frames from before the graph's start (with the input's shift) never
	// reach the compositor (see DropUntil); added first, so they are not
	// counted as shown either.
	gstx.DropUntil(dec.GetStaticPad("src"), g.t0+int64(max(in.Lateness, 0)))
	gstx.SetFrameDurations(dec.GetStaticPad("src"), time.Second/time.Duration(g.cfg.FPS))
	vt.frames = gstx.WatchTimes(dec.GetStaticPad("src"))
	if vt.decPad, err = g.attach(vt.dec, g.comp, true); err != nil {
		vt.frames.Free()
		return nil, err
	}
	g.shiftInput(vt.decPad, in.Lateness) // before the track is linked: no data yet
	_ = vt.decPad.SetProperty("alpha", 0.0)
	if ret := in.Pad.Link(vt.dec.GetStaticPad("sink")); ret != gst.PadLinkOK {
		vt.remove()
		return nil, fmt.Errorf("%s: link track %s: %s", name, in.TrackID, ret.String())
	}
	return vt, nil
}

// decoderInput is the parser a decoder needs in front of it: avdec_h264
// takes byte-stream or avc H.264, and a room's H.264 track is avc3 (its
// SPS and PPS in band, for its Matroska recording across resolution
// changes), which h264parse converts. nil for the other decoders.
func decoderInput(name, decoder string) (*gst.Element, error) {
	if decoder != "avdec_h264" {
		return nil, nil
	}
	return element("h264parse", name+"-parse", nil)
}

// decodedColour is, for VP8, a capssetter that tags the decoded video
// BT.601 with centred chroma, the composite's own (rawColour): the VP8
// bitstream has one colour space, BT.601 (RFC 6386, 9.2), but vp8dec tags
// frames of 720 lines and more BT.709 with MPEG-2 siting, guessing by size
// like any untagged video, and the compositor would then convert every
// frame of that tile to BT.601 — wrong colours (a second matrix on
// BT.601 values) at a cost (0.13 ms a 640x360 tile frame here, 0.015 cores
// for four tiles at 30 fps). Other decoders (vp9dec, avdec_h264) read the
// colour space from their bitstream when it is signalled, and leave it out
// of their caps when it is not (VP9's CS_UNKNOWN, H.264 without a VUI
// colour description, as libvpx and libx264 write unless told), for the
// compositor to guess by size the same way: for those, fillColour gives
// the missing fields the composite's values. nil for them.
func decodedColour(name, decoder string) (*gst.Element, error) {
	if decoder != "vp8dec" {
		return nil, nil
	}
	e, err := element("capssetter", name+"-colour", nil)
	if err != nil {
		return nil, err
	}
	if err := e.SetProperty("caps", gst.NewCapsFromString("video/x-raw,"+rawColour)); err != nil {
		return nil, fmt.Errorf("%s: capssetter caps: %w", name, err)
	}
	return e, nil
}

// fillColour gives decoded video that does not say its colorimetry or
// chroma siting (or says only part of its colorimetry, such as its range)
// the composite's for what is missing (see decodedColour): the same at any
// size as below 720 lines, where the compositor's guess was already
// BT.601. What the bitstream signals stays.
func fillColour(decSrc *gst.Pad) error { return gstx.FillCaps(decSrc, rawColour) }

func displayName(in Input) string {
	if in.Name != "" {
		return in.Name
	}
	return in.Participant
}

func (vt *videoTile) ref() layouts.Ref { return inputRef(vt.in) }

func setPad(pad *gst.Pad, x, y, w, h int, z uint, alpha float64) {
	_ = pad.SetProperty("xpos", x)
	_ = pad.SetProperty("ypos", y)
	_ = pad.SetProperty("width", w)
	_ = pad.SetProperty("height", h)
	_ = pad.SetProperty("zorder", z)
	_ = pad.SetProperty("alpha", alpha)
}

func (vt *videoTile) setVideoAlpha(a float64) {
	if a != vt.videoAlpha {
		vt.videoAlpha = a
		_ = vt.decPad.SetProperty("alpha", a)
	}
}

// place moves the tile (nil: not shown by the layout).
func (vt *videoTile) place(t *layouts.Tile) {
	vt.tile = t
	if t == nil {
		vt.setVideoAlpha(0)
		vt.dropPlaceholder()
		return
	}
	z := zorder(t.Z)
	vt.ph.place(t)
	setPad(vt.decPad, t.Content.X, t.Content.Y, t.Content.Width, t.Content.Height, z+1, vt.videoAlpha)
	_ = vt.label.SetProperty("silent", t.Label == "")
	vt.applyCrop()
	vt.applyVisibility()
}

// applyCrop cuts the decoded video to the part the layout shows (fit=cover)
// and scales what is left to the tile's content size.
func (vt *videoTile) applyCrop() {
	left, right, top, bottom := 0, 0, 0, 0
	if t := vt.tile; t != nil && vt.srcW > 0 && vt.srcH > 0 {
		c := t.Crop
		left = int(c.X * float64(vt.srcW))
		right = vt.srcW - int((c.X+c.Width)*float64(vt.srcW)+0.5)
		top = int(c.Y * float64(vt.srcH))
		bottom = vt.srcH - int((c.Y+c.Height)*float64(vt.srcH)+0.5)
	}
	for k, v := range map[string]int{"left": left, "right": right, "top": top, "bottom": bottom} {
		if cur, err := vt.crop.GetProperty(k); err == nil && cur == v {
			continue
		}
		_ = vt.crop.SetProperty(k, max(v, 0))
	}
	vt.applySize()
}

// applySize scales the tile's video to its content size in its own chain
// (slscale ! capsfilter), so that the compositor only copies it. The
// compositor could scale it too, but GStreamer 1.22's video aggregator
// converts into a new buffer of the whole output frame's size per input,
// per frame (1.4 MB at 720p: 12 MB held at once for nine tiles), on the
// mixer's one thread, and queues the full-size decoded frames for its
// latency; scaled here, the work runs on each tile's own thread and the
// frames waiting in the mixer are tile-sized. Until the new size flows (a
// frame or two after a layout change) the compositor scales the old one.
// A hidden tile keeps its size: the compositor skips a pad of alpha 0.
func (vt *videoTile) applySize() {
	t := vt.tile
	if t == nil || t.Content.Width <= 0 || t.Content.Height <= 0 {
		return
	}
	caps := fmt.Sprintf("video/x-raw,width=%d,height=%d,pixel-aspect-ratio=1/1", t.Content.Width, t.Content.Height)
	if caps == vt.sized {
		return
	}
	vt.sized = caps
	_ = vt.size.SetProperty("caps", gst.NewCapsFromString(caps))
}

// readSize notes the decoded video size; it reports a change.
func (vt *videoTile) readSize() bool {
	caps := vt.decSrc.GetCurrentCaps()
	if caps == nil || caps.GetSize() == 0 {
		return false
	}
	st := caps.GetStructureAt(0)
	w, errW := st.GetValue("width")
	h, errH := st.GetValue("height")
	wi, okW := w.(int)
	hi, okH := h.(int)
	if errW != nil || errH != nil || !okW || !okH || (wi == vt.srcW && hi == vt.srcH) {
		return false
	}
	vt.srcW, vt.srcH = wi, hi
	return true
}

// shown reports whether the output already shows something of the tile
// where the layout puts it: its placeholder or its video (or the layout
// hides it). g.mu is held.
func (vt *videoTile) shown() bool {
	if vt.tile == nil || vt.ph.out() {
		return true
	}
	if vt.videoAlpha == 0 || vt.frames == nil {
		return false
	}
	first := vt.frames.FirstRunningTime()
	return first >= 0 && vt.g.outputTime() >= first+vt.decPad.GetOffset()
}

// applyVisibility shows the video when it is live, else the placeholder.
// It runs on every change and on every watch tick, which completes the
// switches that wait for the compositor's output (see videoTile).
func (vt *videoTile) applyVisibility() {
	if vt.tile == nil {
		return
	}
	vt.ph.settle()
	if !vt.muted && vt.hasFrame && !vt.stalled {
		vt.setVideoAlpha(1)
		if !vt.ph.attached() {
			vt.ph.drop() // nothing to drop: forgets a failed attach, so the next need tries again
			return
		}
		if vt.phDropAt < 0 {
			// The video covers the tile from its latest decoded frame on,
			// on the graph's timeline (the pad offset shifts it there).
			vt.phDropAt = 0
			if rt := vt.frames.LastRunningTime(); rt >= 0 {
				vt.phDropAt = max(rt+vt.decPad.GetOffset(), 0)
			}
		}
		if vt.g.outputTime() >= vt.phDropAt {
			vt.dropPlaceholder()
		}
		return
	}
	vt.phDropAt = -1
	vt.ph.resize() // only while it is what the tile shows, not while it leaves
	vt.ph.show()
	if !vt.ph.attached() || !vt.hasFrame {
		vt.setVideoAlpha(0) // nothing better to show (or nothing shown yet)
		return
	}
	// Keep the video (frozen, or still playing while muted) over the
	// placeholder until the compositor has output the placeholder's first
	// frame; hiding it earlier shows the background for about a latency.
	if vt.ph.out() {
		vt.setVideoAlpha(0)
	}
}

// dropPlaceholder detaches the tile's placeholder, if any.
func (vt *videoTile) dropPlaceholder() {
	vt.phDropAt = -1
	vt.ph.drop()
}

// checkFrames notices the first decoded frame and stalls.
func (vt *videoTile) checkFrames(now time.Time) {
	n := vt.frames.Buffers()
	if n != vt.lastCount {
		vt.lastCount, vt.lastFrameAt, vt.hasFrame, vt.stalled = n, now, true, false
	} else if vt.hasFrame && now.Sub(vt.lastFrameAt) > vt.g.cfg.StallAfter {
		vt.stalled = true
	}
	vt.applyVisibility()
}

func (vt *videoTile) remove() {
	unlinkInput(vt.dec)
	if vt.decPad != nil {
		detach(vt.g.pipe, vt.dec, vt.g.comp, vt.decPad)
	}
	vt.dropPlaceholder()
	vt.frames.Free()
}

// audioInput is one audio track in the mix, with a loudness probe for
// active-speaker detection, and a placeholder tile when its participant has
// no video.
type audioInput struct {
	g     *Graph
	in    Input
	seq   int
	bin   *gst.Bin
	tee   *gst.Element // branches to the main mix and each mix-minus (mixminus.go)
	pad   *gst.Pad
	lvl   *gstx.Level
	muted bool
	eosID uint64

	ph *placeholder // while its participant has no video tile

	lastBuffers uint64
	lastChange  time.Time
}

func newAudioInput(g *Graph, in Input, seq int) (*audioInput, error) {
	ai := &audioInput{g: g, in: in, seq: seq, muted: in.Muted}
	name := fmt.Sprintf("%s-a%d", g.cfg.Name, seq)
	ai.ph = newPlaceholderFor(g, name, layouts.Initials(displayName(in)))
	q, err := inputQueue(name, 100) // two seconds of Opus frames
	if err != nil {
		return nil, err
	}
	dec, err := element(in.Decoder, name+"-dec", nil)
	if err != nil {
		return nil, err
	}
	conv, err := element("audioconvert", name+"-conv", nil)
	if err != nil {
		return nil, err
	}
	res, err := element("audioresample", name+"-res", nil)
	if err != nil {
		return nil, err
	}
	// S16 whatever the decoder outputs (avdec_opus: F32): the mixers' format,
	// converted here on the input's thread, and what the level probe reads.
	s16, err := newCapsFilter(name+"-s16", "audio/x-raw,format=S16LE,layout=interleaved")
	if err != nil {
		return nil, err
	}
	if ai.bin, ai.tee, err = audioChain(name, q, dec, conv, res, s16); err != nil {
		return nil, err
	}
	ai.eosID = dropEOS(ai.bin.GetStaticPad("sink"))
	ai.lvl = gstx.WatchLevel(s16.GetStaticPad("src"))
	if ai.pad, err = g.attach(ai.bin, g.amix, true); err != nil {
		return nil, err
	}
	g.shiftInput(ai.pad, in.Lateness) // before the track is linked: no data yet
	ai.setMuted(in.Muted)
	if ret := in.Pad.Link(ai.bin.GetStaticPad("sink")); ret != gst.PadLinkOK {
		ai.remove()
		return nil, fmt.Errorf("%s: link track %s: %s", name, in.TrackID, ret.String())
	}
	return ai, nil
}

func (ai *audioInput) setMuted(m bool) {
	ai.muted = m
	_ = ai.pad.SetProperty("mute", m)
}

// level is the latest loudness, if audio arrived in the last half second.
func (ai *audioInput) level() (float64, bool) {
	db, n := ai.lvl.DB()
	now := time.Now()
	if n != ai.lastBuffers {
		ai.lastBuffers, ai.lastChange = n, now
	}
	if n == 0 || now.Sub(ai.lastChange) > 500*time.Millisecond {
		return -96, false
	}
	return db, true
}

// shown reports whether the participant's audio-only tile, if it has one,
// is in the output. g.mu is held.
func (ai *audioInput) shown() bool { return !ai.ph.attached() || ai.ph.out() }

// placeholderAt shows (t != nil) or removes the participant's audio-only tile.
func (ai *audioInput) placeholderAt(t *layouts.Tile) {
	if t == nil {
		// Removed, not hidden (see placeholder): most participants with
		// audio also send video.
		ai.ph.drop()
		return
	}
	ai.ph.place(t)
	ai.ph.show()
}

func (ai *audioInput) remove() {
	unlinkInput(ai.bin)
	if ai.pad != nil {
		detach(ai.g.pipe, ai.bin, ai.g.amix, ai.pad)
	}
	ai.ph.drop()
	ai.lvl.Free()
}

// zorder maps a layout Z (which may be negative) to compositor zorders above
// the background pad (0): each tile owns two, placeholder then video.
func zorder(z int) uint { return uint(2*(z+layouts.MaxZ) + 2) }

// dropEOS keeps a track's EOS (it left, or its codec changed) from reaching
// its mixer pad: the graph removes the input instead.
func dropEOS(pad *gst.Pad) uint64 {
	return pad.AddProbe(gst.PadProbeTypeEventDownstream, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		if ev := info.GetEvent(); ev != nil && ev.Type() == gst.EventTypeEOS {
			return gst.PadProbeDrop
		}
		return gst.PadProbeOK
	})
}

// unlinkInput detaches a decode bin from the track tap feeding it.
func unlinkInput(bin *gst.Bin) {
	sink := bin.GetStaticPad("sink")
	if peer := sink.GetPeer(); peer != nil {
		peer.Unlink(sink)
	}
}
