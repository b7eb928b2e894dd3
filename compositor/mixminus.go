package compositor

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// A mix-minus is one participant's audio mix without their own tracks: what
// an MCU sends back to that participant, so nobody hears their own echo.
// Each audio input's decoded stream ends in a tee (audioChain); the main
// mix takes one branch and every mix-minus of another participant takes
// one more. A mix-minus exists while one of its Outputs is open.
type mixMinus struct {
	g           *Graph
	participant string
	name        string
	elems       []*gst.Element // mixer, caps, tee, silence source chain
	mixer       *gst.Element
	out         *branchPoint
	inputs      map[string]*mmInput // by track id
	outputs     int
	seq         int
}

// mmInput is one audio input feeding a mix-minus: an isolated tee branch
// of the input's bin (whatever the mix-minus answers, flushing while it is
// removed, never stops the input for the main mix), ghosted out of it, on
// a request pad of the mix-minus mixer.
type mmInput struct {
	ai     *audioInput
	teePad *gst.Pad
	ghost  *gst.Pad
	mixPad *gst.Pad
}

// audioChain is chain for an audio input: the elements, then a tee whose
// first branch is the bin's "src" (the main mix).
func audioChain(name string, elems ...*gst.Element) (*gst.Bin, *gst.Element, error) {
	tee, err := newTee(name + "-tee")
	if err != nil {
		return nil, nil, err
	}
	all := append(elems, tee)
	bin := gst.NewBin(name)
	if err := bin.AddMany(all...); err != nil {
		return nil, nil, fmt.Errorf("%s: add: %w", name, err)
	}
	if err := gst.ElementLinkMany(all...); err != nil {
		return nil, nil, fmt.Errorf("%s: link: %w", name, err)
	}
	sink := gst.NewGhostPad("sink", elems[0].GetStaticPad("sink"))
	if sink == nil || !bin.AddPad(sink.Pad) {
		return nil, nil, fmt.Errorf("%s: sink ghost pad", name)
	}
	teePad := tee.GetRequestPad("src_%u")
	if teePad == nil {
		return nil, nil, fmt.Errorf("%s: tee gave no pad", name)
	}
	src := gst.NewGhostPad("src", teePad)
	if src == nil || !bin.AddPad(src.Pad) {
		return nil, nil, fmt.Errorf("%s: src ghost pad", name)
	}
	return bin, tee, nil
}

// MixMinusOutput opens a branch on participant's mix-minus: every audio
// track in the room except the participant's own, including tracks that
// join later. The participant need not be in the room (yet).
func (g *Graph) MixMinusOutput(participant string) (*Output, error) {
	if participant == "" {
		return nil, errors.New("compositor: mix-minus needs a participant")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	mm := g.mixes[participant]
	if mm == nil {
		var err error
		if mm, err = g.newMixMinusLocked(participant); err != nil {
			return nil, err
		}
		if g.mixes == nil {
			g.mixes = map[string]*mixMinus{}
		}
		g.mixes[participant] = mm
	}
	out, err := newOutput(g, mm.out)
	if err != nil {
		if mm.outputs == 0 {
			mm.close()
			delete(g.mixes, participant)
		}
		return nil, err
	}
	mm.outputs++
	out.release = func() { g.releaseMixMinus(mm) }
	return out, nil
}

// MixMinusInputs lists the tracks in participant's mix-minus (for tests and
// the API); nil when it has none running.
func (g *Graph) MixMinusInputs(participant string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	mm := g.mixes[participant]
	if mm == nil {
		return nil
	}
	out := make([]string, 0, len(mm.inputs))
	for id := range mm.inputs {
		out = append(out, id)
	}
	return out
}

func (g *Graph) releaseMixMinus(mm *mixMinus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	mm.outputs--
	if mm.outputs > 0 || g.mixes[mm.participant] != mm {
		return
	}
	delete(g.mixes, mm.participant)
	mm.close()
}

// newMixMinusLocked builds "audiomixer ! capsfilter ! tee" with a live
// silence source (so it produces from the start, alone), on the graph's
// timeline, fed by every current audio input of other participants.
func (g *Graph) newMixMinusLocked(participant string) (*mixMinus, error) {
	g.seq++
	mm := &mixMinus{g: g, participant: participant, name: fmt.Sprintf("%s-mm%d", g.cfg.Name, g.seq), inputs: map[string]*mmInput{}}
	var err error
	if mm.mixer, err = element("audiomixer", mm.name, map[string]any{"latency": uint64(g.cfg.Latency),
		"output-buffer-duration": uint64(mixPeriod)}); err != nil {
		return nil, err
	}
	caps, err := newCapsFilter(mm.name+"-caps", "audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved")
	if err != nil {
		return nil, err
	}
	if mm.out, err = newBranchPoint(mm.name + "-out"); err != nil {
		return nil, err
	}
	silence, err := element("audiotestsrc", mm.name+"-silence", map[string]any{"is-live": true, "samplesperbuffer": mixPeriodSamples})
	if err != nil {
		return nil, err
	}
	silence.SetArg("wave", "silence")
	silCaps, err := newCapsFilter(mm.name+"-silcaps", "audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved")
	if err != nil {
		return nil, err
	}
	silQ, err := latencyQueue(mm.name + "-silq")
	if err != nil {
		return nil, err
	}
	mm.elems = []*gst.Element{mm.mixer, caps, mm.out.element(), silence, silCaps, silQ}
	if err := g.pipe.AddMany(mm.elems...); err != nil {
		return nil, fmt.Errorf("mix-minus: add: %w", err)
	}
	for _, e := range mm.elems {
		g.ownTimeline(e)
	}
	fail := func(err error) (*mixMinus, error) {
		mm.close()
		return nil, err
	}
	if err := gst.ElementLinkMany(mm.mixer, caps, mm.out.element()); err != nil {
		return fail(fmt.Errorf("mix-minus: link: %w", err))
	}
	if err := gst.ElementLinkMany(silence, silCaps, silQ); err != nil {
		return fail(fmt.Errorf("mix-minus: link silence: %w", err))
	}
	if ret := silQ.GetStaticPad("src").Link(mm.mixer.GetRequestPad("sink_%u")); ret != gst.PadLinkOK {
		return fail(fmt.Errorf("mix-minus: link silence: %s", ret.String()))
	}
	for i := len(mm.elems) - 1; i >= 0; i-- {
		if !mm.elems[i].SyncStateWithParent() {
			return fail(errors.New("mix-minus: could not start"))
		}
	}
	for _, ai := range g.audios {
		mm.add(ai)
	}
	return mm, nil
}

// mixMinusAddLocked puts a new audio input into every mix-minus but its
// own participant's.
func (g *Graph) mixMinusAddLocked(ai *audioInput) {
	for _, mm := range g.mixes {
		mm.add(ai)
	}
}

// mixMinusRemoveLocked takes a leaving audio input out of every mix-minus.
func (g *Graph) mixMinusRemoveLocked(trackID string) {
	for _, mm := range g.mixes {
		mm.remove(trackID)
	}
}

func (g *Graph) mixMinusMuteLocked(trackID string, muted bool) {
	for _, mm := range g.mixes {
		if in := mm.inputs[trackID]; in != nil {
			_ = in.mixPad.SetProperty("mute", muted)
		}
	}
}

// mixMinusOffsetLocked follows SetSyncOffset on an audio input.
func (g *Graph) mixMinusOffsetLocked(trackID string, offset int64) {
	for _, mm := range g.mixes {
		if in := mm.inputs[trackID]; in != nil {
			in.mixPad.SetOffset(offset)
		}
	}
}

func (g *Graph) closeMixMinusesLocked() {
	for p, mm := range g.mixes {
		mm.close()
		delete(g.mixes, p)
	}
}

func (mm *mixMinus) add(ai *audioInput) {
	if ai.in.Participant == mm.participant || mm.inputs[ai.in.TrackID] != nil || ai.tee == nil {
		return
	}
	mm.seq++
	in := &mmInput{ai: ai}
	var err error
	if in.ghost, in.teePad, _, err = gstx.IsolatedBranch(ai.bin, ai.tee, fmt.Sprintf("%s-%d", mm.name, mm.seq)); err != nil {
		mm.g.log.Warn("mix-minus: branch", "track", ai.in.TrackID, "error", err)
		return
	}
	if in.mixPad = mm.mixer.GetRequestPad("sink_%u"); in.mixPad == nil {
		mm.unlink(in)
		return
	}
	// The input is on the room's timeline: the same shift (and lip-sync
	// delay) as at the main mixer's pad.
	in.mixPad.SetOffset(ai.pad.GetOffset())
	_ = in.mixPad.SetProperty("mute", ai.muted)
	if ret := in.ghost.Link(in.mixPad); ret != gst.PadLinkOK {
		mm.g.log.Warn("mix-minus: link", "track", ai.in.TrackID, "error", ret.String())
		mm.unlink(in)
		return
	}
	mm.inputs[ai.in.TrackID] = in
}

func (mm *mixMinus) remove(trackID string) {
	if in := mm.inputs[trackID]; in != nil {
		delete(mm.inputs, trackID)
		mm.unlink(in)
	}
}

// unlink detaches one input: the mixer pad is flushed first, so a push
// blocked in it returns, then the branch is unlinked and its pads released.
func (mm *mixMinus) unlink(in *mmInput) {
	if in.mixPad != nil {
		in.mixPad.SendEvent(gst.NewFlushStartEvent())
		in.ghost.Unlink(in.mixPad)
		mm.mixer.ReleaseRequestPad(in.mixPad)
	}
	in.ai.bin.RemovePad(in.ghost)
	in.ai.tee.ReleaseRequestPad(in.teePad)
}

// close detaches every input and removes the mix-minus; its outputs must
// have been finished.
func (mm *mixMinus) close() {
	for id := range mm.inputs {
		mm.remove(id)
	}
	for _, e := range mm.elems {
		_ = gstx.RemoveElement(mm.g.pipe.Bin, e, 5*time.Second)
	}
	mm.elems = nil
}
