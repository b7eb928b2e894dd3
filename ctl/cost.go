package ctl

import (
	"errors"
	"fmt"

	"github.com/streamline-media/streamline/encode"
	"github.com/streamline-media/streamline/ingest"
)

// CostModel estimates the CPU a node's media uses, in cores (CPU-seconds
// per media second), the way LiveKit egress admits requests: each node
// reports the sum of its rooms' estimated costs as its load, and placement
// compares that with its capacity (its cores). The figures are calibrated
// from make bench on x264enc (see docs/architecture.md).
type CostModel struct {
	// RawTrack is one registered track: receive, jitterbuffer, depayload
	// and the raw-track file (~0.002 CPU-s per media second, bench-tracks).
	RawTrack float64
	// CompositeParticipant is the per-participant part of a composite:
	// decoding and scaling its video, mixing its audio.
	CompositeParticipant float64
	// CompositeEncoding is the mixing and encoding of one H.264 rendition
	// at the reference pixel rate (1280x720 at 30 fps); other sizes and
	// frame rates scale it by their pixel rate, other codecs by what their
	// software encoder costs against x264's (encode.SoftwareCores).
	CompositeEncoding float64
	// NewRoom is the headroom a node must have left to take a room.
	NewRoom float64
}

// refEncoding is what CompositeEncoding is measured at: H.264, 1280x720 at
// 30 fps, as encode.SoftwareCores estimates it.
var refEncoding = encode.SoftwareCores(encode.H264, 1280, 720, 30)

// DefaultCosts are the measured figures: a composite of 4 participants at
// 1280x720 H.264 costs ~0.6 CPU-s per media second and one of 9 ~0.75 (one
// room alone, bench-composite; several rooms on a node cost less each), so
// 0.03 per participant on top of 0.48 per 720p30 rendition.
var DefaultCosts = CostModel{RawTrack: 0.002, CompositeParticipant: 0.03, CompositeEncoding: 0.48, NewRoom: 0.01}

// Tracks is the cost of n raw tracks.
func (c CostModel) Tracks(n int) float64 { return c.RawTrack * float64(n) }

// Composite is the cost of a composite recording of participants people
// encoded in the given renditions (on top of the raw tracks it reads).
func (c CostModel) Composite(participants int, renditions []VideoJSON) float64 {
	cost := c.CompositeParticipant * float64(participants)
	for _, v := range renditions {
		v = defaultVideo(v)
		// Scaled by pixel rate and by what the codec's software encoder
		// costs against x264's (VP8 ~0.47, VP9 ~1.13, measured).
		cost += c.CompositeEncoding * encode.SoftwareCores(v.Codec, v.Width, v.Height, v.FPS) / refEncoding
	}
	return cost
}

// participants counts the distinct participants of a room's tracks: the
// tiles and mixer inputs a compositor serves.
func participants(tracks []ingest.TrackInfo) int {
	seen := map[string]bool{}
	for _, t := range tracks {
		seen[t.Participant] = true
	}
	return len(seen)
}

// load is this node's estimated CPU use in cores: every room's raw tracks
// plus every running composite recording.
func (s *Server) load() float64 {
	medias := s.mediaList()
	var total float64
	for _, m := range medias {
		total += s.roomCost(m)
	}
	return total
}

// roomCost estimates one room. A composite being stopped holds the room's
// lock while its files finalize: the heartbeat must not wait for that, so
// the room's previous estimate stands in meanwhile.
func (s *Server) roomCost(m *roomMedia) float64 {
	if !m.mu.TryLock() {
		m.costMu.Lock()
		defer m.costMu.Unlock()
		return max(m.lastCost, s.costs.Tracks(len(m.room.Tracks())))
	}
	cost := s.roomCostLocked(m)
	m.mu.Unlock()
	m.costMu.Lock()
	m.lastCost = cost
	m.costMu.Unlock()
	return cost
}

// roomCostLocked is roomCost with the room's lock held.
func (s *Server) roomCostLocked(m *roomMedia) float64 {
	tracks := m.room.Tracks()
	cost := s.costs.Tracks(len(tracks))
	n := participants(tracks)
	for _, rec := range m.composites {
		rec.mu.Lock()
		if rec.info.State == ingest.StateRecording {
			renditions := make([]VideoJSON, 0, len(rec.info.Encodings))
			for _, e := range rec.info.Encodings {
				renditions = append(renditions, e.Video)
			}
			cost += s.costs.Composite(n, renditions)
		}
		rec.mu.Unlock()
	}
	return cost
}

// ErrNoHeadroom: this node's estimated load leaves no room for a
// composite (Config.AdmitComposites).
var ErrNoHeadroom = errors.New("node has no CPU headroom for this composite")

// admitComposite checks that a composite of the room's participants in
// these renditions fits beside what the node already runs (the caller
// holds admitMu when Config.AdmitComposites is set).
func (s *Server) admitComposite(m *roomMedia, renditions []VideoJSON) error {
	need := s.costs.Composite(participants(m.room.Tracks()), renditions)
	if load := s.load(); load+need > s.cfg.Capacity {
		return fmt.Errorf("%w: it needs ~%.2f cores, the node's estimated load is %.2f of its %.2f (--cpu-capacity)",
			ErrNoHeadroom, need, load, s.cfg.Capacity)
	}
	return nil
}

// ErrNoCapacity: no node has the CPU headroom for a new room.
var ErrNoCapacity = errors.New("no node has CPU headroom for a new room")

// headroom is what a node has left for new work.
func headroom(n NodeInfo) float64 { return n.Capacity - n.Load }

// pickNode chooses where a new room goes: the live, non-draining candidate
// with the most headroom (fewest rooms on a tie), a node whose disk is too
// full to record only when no other can take the room. It fails with
// ErrNoCapacity when even the best has less than need left, and reports
// ok=false when there is no candidate at all (every node draining).
func pickNode(candidates []NodeInfo, need float64) (NodeInfo, bool, error) {
	freest := func(diskLowToo bool) (NodeInfo, bool) {
		var best NodeInfo
		found := false
		for _, n := range candidates {
			if n.Draining || n.API == "" || (n.DiskLow && !diskLowToo) {
				continue
			}
			if !found || headroom(n) > headroom(best) || (headroom(n) == headroom(best) && n.Rooms < best.Rooms) {
				best, found = n, true
			}
		}
		return best, found
	}
	if best, found := freest(false); found && headroom(best) >= need {
		return best, true, nil
	}
	best, found := freest(true)
	if !found {
		return NodeInfo{}, false, nil
	}
	if headroom(best) < need {
		return NodeInfo{}, true, fmt.Errorf("%w: the freest, node %s, has %.2f of %.2f cores left (load %.2f), a room needs %.2f",
			ErrNoCapacity, best.ID, max(headroom(best), 0), best.Capacity, best.Load, need)
	}
	return best, true, nil
}
