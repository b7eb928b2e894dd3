package compositor

import (
	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// Position is how far the graph's outputs have got on its timeline (the
// timestamps they carry), in nanoseconds: the smaller of what the video
// and audio mixers report, never beyond the clock (a loaded machine makes
// the mixers lag it); -1 before the graph has a clock. A branch attached to
// a running graph starts its timeline there, so that its media starts at
// zero instead of at the graph's age and none of its first frames fall
// before its start.
func (g *Graph) Position() int64 {
	rt := gstx.RunningTime(g.pipe)
	if rt < 0 {
		return -1
	}
	pos := max(rt-g.t0, 0)
	for _, e := range []*gst.Element{g.vout.tee, g.aout.tee} {
		if ok, p := e.QueryPosition(gst.FormatTime); ok && p >= 0 && p < pos {
			pos = p
		}
	}
	return pos
}

// TimelineStart is the room pipeline's running time at which the graph's
// timeline (the mixed media's timestamps) starts.
func (g *Graph) TimelineStart() int64 { return g.t0 }
