package mocksfu

import (
	"math/rand/v2"
	"time"
)

// impairer applies loss, reordering, duplication and jitter to the RTP
// packets of one track. It draws the same amount of random numbers for every
// packet, so with a seeded rng the decision for the k-th packet depends only
// on k (not on timing).
type impairer struct {
	cfg Impairments
	rng *rand.Rand

	held      []byte
	heldDelay time.Duration
	heldDup   bool
	heldLeft  int // packets still to pass before the held one is released
	heldAt    time.Time

	lost, reordered, duplicated uint64
}

// maxHold bounds how long a reordered packet is held if no further packet
// arrives (mute, leave, DTX silence).
const maxHold = 60 * time.Millisecond

func newImpairer(cfg Impairments, seed uint64) *impairer {
	return &impairer{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// emitFunc queues a packet for sending after an extra delay.
type emitFunc func(pkt []byte, delay time.Duration)

func (im *impairer) pct(p float64) bool { return im.rng.Float64()*100 < p }

func (im *impairer) jitter() time.Duration {
	if im.cfg.Jitter <= 0 {
		im.rng.Uint64() // keep the number of draws constant
		return 0
	}
	return time.Duration(im.rng.Int64N(int64(im.cfg.Jitter) + 1))
}

// push processes one packet. pkt must not be modified afterwards.
func (im *impairer) push(pkt []byte, now time.Time, emit emitFunc) {
	lose := im.pct(im.cfg.Loss)
	hold := im.pct(im.cfg.Reorder)
	holdFor := 1 + im.rng.IntN(2)
	dup := im.pct(im.cfg.Duplicate)
	delay := im.jitter()

	if lose {
		im.lost++
		im.afterPacket(emit)
		return
	}
	if hold && im.held == nil {
		im.held, im.heldDelay, im.heldDup, im.heldLeft, im.heldAt = pkt, delay, dup, holdFor, now
		im.reordered++
		return
	}
	im.send(pkt, delay, dup, emit)
	im.afterPacket(emit)
}

func (im *impairer) send(pkt []byte, delay time.Duration, dup bool, emit emitFunc) {
	emit(pkt, delay)
	if dup {
		im.duplicated++
		emit(pkt, delay)
	}
}

// afterPacket counts a packet that passed (or was lost) behind a held one.
func (im *impairer) afterPacket(emit emitFunc) {
	if im.held == nil {
		return
	}
	im.heldLeft--
	if im.heldLeft <= 0 {
		im.release(emit)
	}
}

func (im *impairer) release(emit emitFunc) {
	pkt := im.held
	im.held = nil
	im.send(pkt, im.heldDelay, im.heldDup, emit)
}

// flush releases a held packet that waited longer than maxAge (or any, if
// maxAge is 0).
func (im *impairer) flush(now time.Time, maxAge time.Duration, emit emitFunc) {
	if im.held != nil && (maxAge == 0 || now.Sub(im.heldAt) >= maxAge) {
		im.release(emit)
	}
}
