package compositor

import (
	"fmt"
	"sync/atomic"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// branchPoint is where a mix's consumers (encodings, live feeds, the
// preview, an MCU's mix-minus) branch off: a tee in a bin of its own, each
// branch a src ghost pad of the bin isolated with gstx.Isolate. Whatever a
// consumer answers stays on its branch. Without the isolation the tee hands
// the first error back to the mixer, whose task then stops: one
// recording's full disk (filesink: "No space left on the resource") froze
// the video of every other recording, live output and preview of the room
// (TestFailedEncodingLeavesTheOthersRecording).
type branchPoint struct {
	bin *gst.Bin
	tee *gst.Element
	seq atomic.Int64 // names the ghost pads
}

func newBranchPoint(name string) (*branchPoint, error) {
	tee, err := newTee(name + "-tee")
	if err != nil {
		return nil, err
	}
	bin := gst.NewBin(name)
	if err := bin.Add(tee); err != nil {
		return nil, fmt.Errorf("%s: add tee: %w", name, err)
	}
	sink := gst.NewGhostPad("sink", tee.GetStaticPad("sink"))
	if sink == nil || !bin.AddPad(sink.Pad) {
		return nil, fmt.Errorf("%s: sink ghost pad", name)
	}
	return &branchPoint{bin: bin, tee: tee}, nil
}

// element is the bin, for adding to the pipeline and linking upstream.
func (b *branchPoint) element() *gst.Element { return b.bin.Element }

// branch opens an isolated branch.
func (b *branchPoint) branch() (ghost *gst.Pad, teePad *gst.Pad, iso *gstx.Isolation, err error) {
	ghost, teePad, iso, err = gstx.IsolatedBranch(b.bin, b.tee, fmt.Sprintf("src_%d", b.seq.Add(1)))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", b.bin.GetName(), err)
	}
	return ghost, teePad, iso, nil
}

// release closes a branch opened by branch; its consumer is unlinked.
func (b *branchPoint) release(ghost, teePad *gst.Pad) {
	b.bin.RemovePad(ghost)
	b.tee.ReleaseRequestPad(teePad)
}
