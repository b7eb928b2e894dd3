package ingest

import "time"

// The jitterbuffer (mode=synced) stamps every packet with the first packet's
// arrival plus the RTP time elapsed since it. When that first packet came
// late — a sender's encoder starting up, then catching up in a burst — all
// later media carries that lateness: stamped up to hundreds of ms after it
// arrived, it waits that much longer in the compositor and every live output
// (140–430 ms measured on the MCU's glass-to-glass latency). anchorCheck
// measures, over the first seconds of a segment, how much earlier than that
// anchor predicts packets actually arrive. The stamps themselves stay as
// they are (raw-track files keep the sender's timeline exactly); the
// compositor moves the track's input earlier by that much instead
// (Room.TimelineLateness).
const (
	// anchorWindow: the lateness is measured over this long after the first
	// packet and published once, at its end (one shift in the mix, not a
	// series: each one is a small jump in the mixed audio).
	anchorWindow    = 2 * time.Second
	anchorThreshold = 10 * time.Millisecond
	anchorMax       = 800 * time.Millisecond // more is not start-up lateness
)

type anchorCheck struct {
	clockRate int
	started   bool
	done      bool
	first     time.Time
	firstTS   uint32
	early     time.Duration // the most any packet arrived before the anchor's prediction
}

// observe notes one packet (its RTP timestamp on the segment's timeline, and
// its arrival). At the first packet after the window it returns the
// lateness measured, if it is worth a correction; never again after that.
func (a *anchorCheck) observe(ts uint32, now time.Time) (time.Duration, bool) {
	if a.done || a.clockRate <= 0 {
		return 0, false
	}
	if !a.started {
		a.started, a.first, a.firstTS = true, now, ts
		return 0, false
	}
	since := now.Sub(a.first)
	if since > anchorWindow {
		a.done = true
		return a.early, a.early >= anchorThreshold
	}
	elapsed := time.Duration(int64(int32(ts-a.firstTS)) * int64(time.Second) / int64(a.clockRate))
	if early := elapsed - since; early > a.early {
		a.early = min(early, anchorMax)
	}
	return 0, false
}

// How the compositor's correction follows the stamps once packets flow
// (latenessFollower): it gives way at once when the stamps turn out to be
// less late (a re-based jitterbuffer, a slower path), and takes back only
// what the stamps have shown for latenessRaiseAfter, by at least
// latenessRaise: each change moves the track in the mix, a jump in its
// picture and sound, so a sender's jitter must not move it back and forth.
const (
	latenessRaise      = 20 * time.Millisecond
	latenessRaiseAfter = 10 * time.Second
)

// latenessFollower smooths the estimates of how late a track's stamps are.
type latenessFollower struct {
	val      time.Duration
	set      bool
	above    time.Time     // since when every estimate was ≥ val + latenessRaise (zero: not)
	aboveMin time.Duration // the least estimate since then
}

// follow takes the estimate read at now and returns the lateness to use.
func (f *latenessFollower) follow(est time.Duration, now time.Time) time.Duration {
	switch {
	case !f.set || est < f.val:
		f.val, f.set, f.above = est, true, time.Time{}
	case est < f.val+latenessRaise:
		f.above = time.Time{}
	case f.above.IsZero():
		f.above, f.aboveMin = now, est
	default:
		f.aboveMin = min(f.aboveMin, est)
		if now.Sub(f.above) >= latenessRaiseAfter {
			f.val, f.above = f.aboveMin, time.Time{}
		}
	}
	return f.val
}
