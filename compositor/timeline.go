package compositor

import "github.com/streamline-media/streamline/internal/gstx"

// RunningTime is the graph's current position on its own timeline (the
// timestamps its outputs carry), in nanoseconds; -1 without a clock. A
// branch attached to a running graph subtracts it (a pad offset) so that
// its media starts at zero instead of at the graph's age.
func (g *Graph) RunningTime() int64 {
	rt := gstx.RunningTime(g.pipe)
	if rt < 0 {
		return -1
	}
	return max(rt-g.t0, 0)
}
