package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// branch is one raw recording of one track segment: tee → [keyframe gate] →
// webmmux/matroskamux → filesink. No transcoding, no queue: the tee pushes
// straight into the muxer on the jitterbuffer's streaming thread.
type branch struct {
	recID string
	name  string     // the bin's; its elements' names start with it
	file  *FileEntry // owned by the recording; guarded by the recording lock
	path  string     // absolute

	bin  *gst.Bin
	sink *gst.Pad // ghost sink pad
	// isolation keeps the muxer's answers from the track's tee.
	isolation *gstx.Isolation
	teePad    *gst.Pad
	times     *gstx.Times // at the muxer: what the file holds
	offer     *gstx.Times // at the branch input, before the keyframe gate
	eos       *gstx.EOSWatch

	finalOnce sync.Once
	finalErr  error
	snapshot  branchTimes
}

type branchTimes struct {
	FirstPTS int64
	LastPTS  int64
	LastDur  int64
	Buffers  uint64
	Bytes    uint64
	Offered  uint64 // buffers that reached the branch, kept or not
}

func newBranch(recID, name, path string, codec Codec, file *FileEntry) (*branch, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("recording directory: %w", err)
	}
	b := &branch{recID: recID, name: name, file: file, path: path}
	b.bin = gst.NewBin(name)
	muxFactory := "webmmux"
	if codec.Container == "mkv" {
		muxFactory = "matroskamux"
	}
	mux, err := gst.NewElementWithName(muxFactory, name+"-mux")
	if err != nil {
		return nil, fmt.Errorf("branch %s: %s: %w", name, muxFactory, err)
	}
	// streamable=false: clusters are appended as they come (a killed process
	// leaves a readable file) and a clean finish adds duration and cues.
	// offset-to-zero: the file starts at 0 whatever the track's running time.
	if err := setProps(mux, map[string]any{"offset-to-zero": true, "streamable": false}); err != nil {
		return nil, fmt.Errorf("branch %s: %w", name, err)
	}
	sink, err := gst.NewElementWithName("filesink", name+"-file")
	if err != nil {
		return nil, fmt.Errorf("branch %s: filesink: %w", name, err)
	}
	if err := setProps(sink, map[string]any{"location": path, "async": false, "sync": false}); err != nil {
		return nil, fmt.Errorf("branch %s: %w", name, err)
	}
	if err := b.bin.AddMany(mux, sink); err != nil {
		return nil, fmt.Errorf("branch %s: add: %w", name, err)
	}
	if err := mux.Link(sink); err != nil {
		return nil, fmt.Errorf("branch %s: link mux to file: %w", name, err)
	}
	padTemplate := "video_%u"
	if codec.Kind == Audio {
		padTemplate = "audio_%u"
	}
	muxPad := mux.GetRequestPad(padTemplate)
	if muxPad == nil {
		return nil, fmt.Errorf("branch %s: %s has no %s pad", name, muxFactory, padTemplate)
	}
	ghost := gst.NewGhostPad("sink", muxPad)
	if ghost == nil || !b.bin.AddPad(ghost.Pad) {
		return nil, fmt.Errorf("branch %s: ghost pad", name)
	}
	b.sink = ghost.Pad
	// What the muxer answers stays in the branch: a file that can no longer
	// be written (a full disk) fails this recording's file, not the track,
	// whose other recordings and taps go on.
	if b.isolation, err = gstx.Isolate(ghost.Pad); err != nil {
		return nil, fmt.Errorf("branch %s: %w", name, err)
	}
	// Resolution changes arrive as new caps; Matroska cannot change a
	// track's caps mid-file, and the codec bitstream carries the new size
	// anyway, so only the first caps reach the muxer.
	dropLaterCaps(muxPad)
	b.offer = gstx.WatchTimes(b.sink)
	if codec.Kind == Video {
		gstx.GateUntilKeyframe(b.sink)
	}
	b.times = gstx.WatchTimes(muxPad)
	b.eos = gstx.WatchEOS(sink.GetStaticPad("sink"))
	return b, nil
}

// dropLaterCaps lets the first CAPS event through and drops later ones.
func dropLaterCaps(pad *gst.Pad) {
	seen := false
	pad.AddProbe(gst.PadProbeTypeEventDownstream, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		ev := info.GetEvent()
		if ev == nil || ev.Type() != gst.EventTypeCaps {
			return gst.PadProbeOK
		}
		if seen {
			return gst.PadProbeDrop
		}
		seen = true
		return gst.PadProbeOK
	})
}

// attach adds the branch to the segment bin, starts it and links it to the tee.
func (b *branch) attach(s *segment) error {
	if err := s.bin.Add(b.bin.Element); err != nil {
		return fmt.Errorf("branch %s: add: %w", b.bin.GetName(), err)
	}
	if !b.bin.SyncStateWithParent() {
		_ = s.bin.Remove(b.bin.Element)
		return fmt.Errorf("branch %s: start: %w", b.bin.GetName(), errPipelineState)
	}
	b.teePad = s.tee.GetRequestPad("src_%u")
	if ret := b.teePad.Link(b.sink); ret != gst.PadLinkOK {
		s.tee.ReleaseRequestPad(b.teePad)
		_ = gstx.RemoveElement(s.bin, b.bin.Element, 5*time.Second)
		return fmt.Errorf("branch %s: link to tee: %s", b.bin.GetName(), ret.String())
	}
	return nil
}

// detachAndFinalize unlinks the branch from a running tee, sends EOS into it
// so the muxer writes its index and duration, and removes it. The branch is
// state-locked before it stops (gstx.RemoveElement): the room's pipeline
// goes PAUSED→PLAYING whenever another component adds a bin, and an
// unlocked, stopped branch still in the segment would be started again,
// its filesink truncating the file just finalized.
func (b *branch) detachAndFinalize(s *segment) {
	// A buffer the tee is pushing into the branch right now still goes in
	// before the EOS: both take the branch's sink pad stream lock.
	s.tee.ReleaseRequestPad(b.teePad)
	b.sink.SendEvent(gst.NewEOSEvent())
	b.waitFinal()
	_ = gstx.RemoveElement(s.bin, b.bin.Element, 5*time.Second)
}

// waitFinal waits for EOS at the file sink and snapshots the timing counters.
func (b *branch) waitFinal() {
	b.finalOnce.Do(func() {
		b.finalErr = b.eos.Wait(eosTimeout)
		b.eos.Remove()
		b.snapshot = b.readTimes()
		b.times.Free()
		b.offer.Free()
	})
}

func (b *branch) readTimes() branchTimes {
	return branchTimes{
		FirstPTS: b.times.FirstPTS(),
		LastPTS:  b.times.LastPTS(),
		LastDur:  b.times.LastDuration(),
		Buffers:  b.times.Buffers(),
		Bytes:    b.times.Bytes(),
		Offered:  b.offer.Buffers(),
	}
}
