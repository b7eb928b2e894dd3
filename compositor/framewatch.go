package compositor

import "github.com/streamline-media/streamline/internal/gstx"

// WatchFrames watches the compositor's output for the first frame built
// after a moment (gstx.FrameWatch): arm it right after SetLayout returns and
// its hit is the first frame showing the new layout. The caller owns the
// watch: Remove it before Close, Free it after.
func (g *Graph) WatchFrames() (*gstx.FrameWatch, error) { return gstx.WatchFrames(g.comp) }
