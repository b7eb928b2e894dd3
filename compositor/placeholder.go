package compositor

import (
	"fmt"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/layouts"
)

// placeholder colours: a dark tile with light initials.
const (
	placeholderFill = 0xff2b303b
	placeholderText = 0xffe8eaed
	minPlaceholder  = 16 // smallest side a placeholder is rendered at
)

// placeholderResizeAfter is how long a tile keeps its size before its
// placeholder is rendered again at that size: participants joining one
// after another re-flow the grid several times a second, and each
// re-render builds a source and renders text.
const placeholderResizeAfter = 500 * time.Millisecond

// newPlaceholder renders a dark frame with the participant's initials once,
// at the size of the tile it fills (w x h); imagefreeze repeats that buffer
// live at the output rate (a reference, not a copy), which costs next to
// nothing and adds one frame of latency. Rendered at the tile's size, the
// compositor only copies it; one rendered smaller was scaled by the
// compositor every frame (its default 4-tap scaler, into a new full-frame
// buffer). textoverlay sizes the initials by the frame's width.
func newPlaceholder(name, label string, fps, w, h int) (*gst.Bin, error) {
	w, h = max(w, minPlaceholder)&^1, max(h, minPlaceholder)&^1
	text, err := element("textoverlay", name+"-text", map[string]any{"text": label, "font-desc": "Sans Bold 40",
		"color": uint(placeholderText), "shaded-background": false})
	if err != nil {
		return nil, err
	}
	text.SetArg("valignment", "center")
	text.SetArg("halignment", "center")
	return newStill(name, placeholderFill, w, h, fps, text)
}

// placeholder is a tile's still picture (the participant's initials) on
// its own compositor pad: a muted or stalled camera's, or an audio-only
// participant's. It is attached only while the tile shows it — a live
// placeholder costs two thread wake-ups per output frame and a mixer pad
// even at alpha 0 — and is rendered at the tile's size.
//
// When the tile has kept a new size for placeholderResizeAfter (speaker
// layouts resize everyone but the speaker with every new speaker), resize
// renders it again at that size; the one it replaces stays, scaled by the
// compositor to the new cell, until the new one's first frame is out
// (settle), so that the tile never shows the background in between.
type placeholder struct {
	g      *Graph
	prefix string // element names are prefix-ph<n>
	label  string

	bin    *gst.Bin    // nil while detached
	pad    *gst.Pad    // its compositor pad
	times  *gstx.Times // its output, for the running time of its first frame
	w, h   int         // the size bin was rendered at
	failed bool        // attaching failed; not retried until dropped

	old    *gst.Bin // the one a resize replaces, until the new one is out
	oldPad *gst.Pad

	tile    layouts.Tile // where it was last placed
	sizedAt time.Time    // when tile last changed size
}

func newPlaceholderFor(g *Graph, prefix, label string) *placeholder {
	return &placeholder{g: g, prefix: prefix, label: label}
}

// attached reports whether it is on the compositor.
func (p *placeholder) attached() bool { return p.bin != nil }

// place moves it (and one it is replacing) to t.
func (p *placeholder) place(t *layouts.Tile) {
	if t.Width != p.tile.Width || t.Height != p.tile.Height {
		p.sizedAt = time.Now()
	}
	p.tile = *t
	z := zorder(t.Z)
	if p.oldPad != nil {
		setPad(p.oldPad, t.X, t.Y, t.Width, t.Height, z, 1)
	}
	if p.pad != nil {
		setPad(p.pad, t.X, t.Y, t.Width, t.Height, z, 1)
	}
}

// show attaches it where it was last placed unless it is attached or
// attaching failed.
func (p *placeholder) show() {
	if p.bin == nil && !p.failed {
		p.attach()
	}
}

// attach renders one at the size of the tile it was placed at and puts it
// on the compositor.
func (p *placeholder) attach() {
	g, t := p.g, p.tile
	g.seq++ // a resize has the old one in the pipeline still
	name := fmt.Sprintf("%s-ph%d", p.prefix, g.seq)
	bin, err := newPlaceholder(name, p.label, g.cfg.FPS, t.Width, t.Height)
	var pad *gst.Pad
	var times *gstx.Times
	if err == nil {
		// Before linking, so that the first buffer is seen.
		times = gstx.WatchTimes(bin.GetStaticPad("src"))
		if pad, err = g.attach(bin, g.comp, false); err != nil {
			times.Free()
		}
	}
	if err != nil {
		p.failed = true
		g.log.Warn("placeholder", "name", name, "error", err)
		return
	}
	p.bin, p.pad, p.times, p.w, p.h = bin, pad, times, t.Width, t.Height
	setPad(pad, t.X, t.Y, t.Width, t.Height, zorder(t.Z), 1)
}

// out reports whether the compositor has output its first frame.
func (p *placeholder) out() bool {
	if p.times == nil {
		return false
	}
	first := p.times.FirstRunningTime()
	return first >= 0 && p.g.outputTime() >= first
}

// settle drops the one a resize replaced once the new one is out.
func (p *placeholder) settle() {
	if p.old != nil && p.out() {
		detach(p.g.pipe, p.old, p.g.comp, p.oldPad)
		p.old, p.oldPad = nil, nil
	}
}

// resize renders it again when its tile has kept another size for
// placeholderResizeAfter (and no earlier resize is still settling).
func (p *placeholder) resize() {
	t := p.tile
	if p.bin == nil || p.old != nil || (t.Width == p.w && t.Height == p.h) || time.Since(p.sizedAt) < placeholderResizeAfter {
		return
	}
	old, oldPad, oldTimes := p.bin, p.pad, p.times
	p.bin, p.pad, p.times = nil, nil, nil
	p.attach()
	if p.bin == nil { // could not build one: keep the old, scaled
		p.bin, p.pad, p.times = old, oldPad, oldTimes
		p.w, p.h = t.Width, t.Height // not retried at this size
		p.failed = false
		return
	}
	oldTimes.Free()
	p.old, p.oldPad = old, oldPad
}

// refresh settles and resizes: an audio-only tile's, which shows whenever
// it is attached.
func (p *placeholder) refresh() {
	p.settle()
	p.resize()
}

// drop detaches and frees it (and one it was replacing); the next show
// attaches a new one even if attaching failed before.
func (p *placeholder) drop() {
	p.failed = false
	if p.old != nil {
		detach(p.g.pipe, p.old, p.g.comp, p.oldPad)
		p.old, p.oldPad = nil, nil
	}
	if p.bin == nil {
		return
	}
	detach(p.g.pipe, p.bin, p.g.comp, p.pad)
	p.times.Free()
	p.bin, p.pad, p.times = nil, nil, nil
}
