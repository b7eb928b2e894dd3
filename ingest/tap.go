package ingest

import (
	"fmt"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// EventType says what happened to a track.
type EventType string

// Track events delivered to RoomConfig.OnEvent.
const (
	EventTrackAdded   EventType = "track_added"
	EventTrackRemoved EventType = "track_removed"
	EventTrackMuted   EventType = "track_muted"
	EventTrackUnmuted EventType = "track_unmuted"
	// EventTrackSegment: a codec change replaced the track's media chain;
	// taps of the old segment have ended and a new Tap is needed.
	EventTrackSegment EventType = "track_segment"
	EventTrackDevice  EventType = "track_device_changed"
)

// Event is a change of a room's tracks.
type Event struct {
	Type  EventType
	Room  string
	Track TrackInfo
}

// Tap is a branch point on a track's depayloaded media (after the parser,
// before any recording): another package links its own bin to Pad, in the
// room's pipeline. Buffers are the encoded frames (VP8, VP9, H.264 AU,
// Opus); they are timestamped on the room's running time.
//
// The consumer runs on the track's streaming thread unless it starts with
// a queue: it may block that thread (the track's recordings wait; nothing
// is dropped), but whatever it answers (flushing while it is removed, an
// error, EOS) never reaches the track, which goes on for everyone else.
type Tap struct {
	Pad   *gst.Pad // a src ghost pad of the track's bin
	Codec Codec
	Track TrackInfo

	seg       *segment
	teePad    *gst.Pad
	isolation *gstx.Isolation
	once      sync.Once
	removed   bool
}

// Pipeline is the room's pipeline, where taps' consumers live.
func (r *Room) Pipeline() *gst.Pipeline { return r.pipe }

// Tap opens a new branch on the current segment of track id.
func (r *Room) Tap(id string) (*Tap, error) {
	r.mu.Lock()
	t := r.tracks[id]
	r.mu.Unlock()
	if t == nil {
		return nil, fmt.Errorf("%w: track %q", ErrNotFound, id)
	}
	t.mu.Lock()
	seg, info := t.seg, t.info
	t.mu.Unlock()
	if seg == nil {
		return nil, fmt.Errorf("%w: track %q has no media chain", ErrClosed, id)
	}
	seg.mu.Lock()
	defer seg.mu.Unlock()
	if seg.ended {
		return nil, fmt.Errorf("%w: track %q is ending", ErrClosed, id)
	}
	seg.taps++
	ghost, teePad, isolation, err := gstx.IsolatedBranch(seg.bin, seg.tee, fmt.Sprintf("tap_%d", seg.taps))
	if err != nil {
		return nil, fmt.Errorf("track %q: tap: %w", id, err)
	}
	return &Tap{Pad: ghost, Codec: seg.codec, Track: info, seg: seg, teePad: teePad, isolation: isolation}, nil
}

// Refused is how many buffers the tap's consumer answered with anything
// but OK (the track went on regardless), and the last such answer.
func (tp *Tap) Refused() (uint64, gst.FlowReturn) { return tp.isolation.Refused() }

// Close unlinks and releases the tap. The consumer must have unlinked or
// stopped its own bin; Close is idempotent.
func (tp *Tap) Close() {
	tp.once.Do(func() {
		tp.seg.mu.Lock()
		defer tp.seg.mu.Unlock()
		if peer := tp.Pad.GetPeer(); peer != nil {
			tp.Pad.Unlink(peer)
		}
		if !tp.seg.ended {
			tp.seg.bin.RemovePad(tp.Pad)
			tp.seg.tee.ReleaseRequestPad(tp.teePad)
		}
	})
}

func (r *Room) emit(typ EventType, t *Track) {
	if r.cfg.OnEvent == nil {
		return
	}
	r.cfg.OnEvent(Event{Type: typ, Room: r.cfg.ID, Track: t.Info()})
}

// TimelineLateness is how much later than their arrival the media of a
// track's current segment is stamped: its first packet came late and
// anchored the timeline there (see anchorCheck). 0 until measured (2 s
// after the first packet) or when the anchor was on time.
func (r *Room) TimelineLateness(id string) time.Duration {
	r.mu.Lock()
	t := r.tracks[id]
	r.mu.Unlock()
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.timelineLatenessLocked()
}

// timelineLatenessLocked is TimelineLateness; t.mu is held.
func (t *Track) timelineLatenessLocked() time.Duration {
	seg := t.seg
	if seg == nil {
		return 0
	}
	late := time.Duration(seg.lateness.Load())
	if late <= 0 {
		return late
	}
	// The jitterbuffer re-bases its timeline on a large jump in the
	// sender's timestamps, onto that packet's arrival: the stamps are then
	// no longer late, and moving the track earlier would put its media in
	// the past (the compositor drops such frames). While packets flow, the
	// stamps say how late they are now: in-order packets leave the
	// jitterbuffer as they arrive, stamped that far after it. The least of
	// that over the last seconds, not the latest packet's, and through the
	// follower, so that a sender's arrival jitter (tens of ms from packet
	// to packet, more for a busy encoder's bursts) does not move the track
	// in the mix every time it is read: each move is a jump in the mixed
	// picture and sound. Between packets (DTX, a mute) the last value
	// holds.
	if !t.lastPkt.IsZero() && time.Since(t.lastPkt) < 200*time.Millisecond {
		seg.mu.Lock()
		ahead, ok := seg.rtpTimes.MinRTPAhead()
		seg.mu.Unlock()
		if ok {
			seg.follower.follow(ahead+latenessSlack, time.Now())
		}
	}
	if seg.follower.set {
		late = min(late, max(seg.follower.val, 0))
	}
	return late
}

// latenessSlack is how far behind the clock TimelineLateness lets the
// least-ahead packet of the last seconds be once the track is moved: the
// mixers wait that long for an input (their latency), so its frame is
// still shown.
const latenessSlack = 50 * time.Millisecond

// SenderClockOffset is, for the latest media of a track, the sender's
// wall-clock capture time (from RTCP sender reports) minus the wall-clock time
// this room stamped on it. Its absolute value holds network and encoder
// delay plus the difference of the two clocks; the difference between two
// tracks of one sender is what lip-sync corrects. ok is false until the
// track has sent a sender report and media.
func (r *Room) SenderClockOffset(id string) (time.Duration, bool) {
	r.mu.Lock()
	t := r.tracks[id]
	r.mu.Unlock()
	if t == nil {
		return 0, false
	}
	t.mu.Lock()
	seg := t.seg
	sr, srOK := t.senderReportLocked()
	clockRate := t.info.ClockRate
	t.mu.Unlock()
	if seg == nil || !srOK {
		return 0, false
	}
	seg.mu.Lock()
	defer seg.mu.Unlock()
	if seg.ended {
		return 0, false
	}
	pts, rtpTS, ok := seg.rtpTimes.RTPPair()
	if !ok {
		return 0, false
	}
	return sr.WallClock(rtpTS, clockRate).Sub(r.wallClockAt(pts)), true
}
