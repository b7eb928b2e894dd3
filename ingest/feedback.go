package ingest

import (
	"sync"
	"time"
)

// KeyframeThrottle decides when a keyframe request (PLI, escalated to FIR)
// may go out for one track. Requests inside MinInterval of the last one are
// coalesced into a single request at the end of the interval, so a burst of
// triggers (track start, recording start, loss) never becomes a PLI storm but
// the last trigger is still honoured. If no keyframe arrived within
// FIRAfter of a PLI, the next request is sent as PLI plus FIR, for senders
// that ignore PLI.
type KeyframeThrottle struct {
	MinInterval time.Duration
	FIRAfter    time.Duration
	Now         func() time.Time
	// Send emits a request; fir asks for a Full Intra Request as well.
	Send func(fir bool)

	mu           sync.Mutex
	lastSent     time.Time
	lastKeyframe time.Time
	pending      *time.Timer
	stopped      bool
	requests     uint64
	sent         uint64
}

func (k *KeyframeThrottle) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Request asks for a keyframe; it is sent now or at the end of the throttle window.
func (k *KeyframeThrottle) Request() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return
	}
	k.requests++
	now := k.now()
	wait := k.MinInterval - now.Sub(k.lastSent)
	if k.lastSent.IsZero() || wait <= 0 {
		k.sendLocked(now)
		return
	}
	if k.pending == nil {
		k.pending = time.AfterFunc(wait, k.fire)
	}
}

func (k *KeyframeThrottle) fire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pending = nil
	if !k.stopped {
		k.sendLocked(k.now())
	}
}

func (k *KeyframeThrottle) sendLocked(now time.Time) {
	fir := !k.lastSent.IsZero() && k.lastKeyframe.Before(k.lastSent) && now.Sub(k.lastSent) >= k.FIRAfter
	k.lastSent = now
	k.sent++
	if k.Send != nil {
		k.Send(fir)
	}
}

// KeyframeSeen records that a keyframe arrived from the sender.
func (k *KeyframeThrottle) KeyframeSeen() {
	k.mu.Lock()
	k.lastKeyframe = k.now()
	k.mu.Unlock()
}

// Counts returns how many requests were made and how many were sent.
func (k *KeyframeThrottle) Counts() (requests, sent uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.requests, k.sent
}

// Stop cancels a pending request; later requests are ignored.
func (k *KeyframeThrottle) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	if k.pending != nil {
		k.pending.Stop()
		k.pending = nil
	}
}
