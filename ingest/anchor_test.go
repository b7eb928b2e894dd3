package ingest

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/streamline-media/streamline/internal/gstx"
)

func TestAnchorCheck(t *testing.T) {
	const rate = 90000
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	ts := func(d time.Duration) uint32 { return uint32(int64(d) * rate / int64(time.Second)) }
	type pkt struct {
		media, arrival time.Duration // RTP time since the first packet; arrival since the first packet
	}
	// steady sends 30 fps frames arriving lateBy after capture, frames
	// captured from `from` to `to`, with the first packet delayed by
	// firstLate (and the frames behind it bunched up right after it).
	steady := func(firstLate, from, to time.Duration) []pkt {
		var out []pkt
		for m := from; m <= to; m += ms(33) {
			arr := m - firstLate
			if arr < 0 {
				arr = 0
			}
			out = append(out, pkt{m, arr})
		}
		out[0].arrival = 0
		return out
	}
	cases := []struct {
		name    string
		base    uint32
		pkts    []pkt
		want    time.Duration // last correction returned (0: none)
		wantTol time.Duration
	}{
		{"on time: no correction", 1000, steady(0, 0, ms(3000)), 0, 0},
		{"first packet 5 ms late: below the threshold", 1000, steady(ms(5), 0, ms(3000)), 0, 0},
		{"first packet 300 ms late: corrected", 1000, steady(ms(300), 0, ms(3000)), ms(300), ms(34)},
		{"RTP timestamps wrap", 0xffffff00, steady(ms(120), 0, ms(3000)), ms(120), ms(34)},
		{"capped", 5, steady(ms(2000), 0, ms(4200)), anchorMax, 0},
		{"lateness appearing after the window is ignored", 7, append(steady(0, 0, ms(2000)), pkt{ms(2500), ms(2100)}), 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := anchorCheck{clockRate: rate}
			t0 := time.Unix(1000, 0)
			var got time.Duration
			var first time.Duration = -1
			for _, p := range c.pkts {
				if d, ok := a.observe(c.base+ts(p.media), t0.Add(p.arrival)); ok {
					if got != 0 {
						t.Fatalf("a second correction: %v after %v", d, got)
					}
					got = d
					if first < 0 {
						first = p.arrival
					}
				}
			}
			if diff := got - c.want; diff < -c.wantTol || diff > c.wantTol {
				t.Errorf("correction %v, want %v ± %v", got, c.want, c.wantTol)
			}
			if got > 0 && first < anchorWindow {
				t.Errorf("correction published at %v, before the window (%v) ended", first, anchorWindow)
			}
		})
	}
}

// TestTimelineLatenessMeasuresALateFirstPacket sends an Opus track whose
// first packet comes 300 ms late and the next 300 ms of media in a burst
// behind it, then real time. The jitterbuffer anchors on that first packet
// and stamps every later one ~300 ms after its arrival; TimelineLateness
// must report what it really did (the compositor moves the track back by
// it); a sender on time gets none (TestAnchorCheck).
func TestTimelineLatenessMeasuresALateFirstPacket(t *testing.T) {
	r, send := micRoom(t, 4242) // 100 ms jitterbuffer
	const frame = 20 * time.Millisecond
	const lateBy = 300 * time.Millisecond
	start := time.Now().Add(-lateBy) // capture of packet 0
	total := int((4 * time.Second) / frame)
	for n := 0; n < total; n++ {
		time.Sleep(time.Until(start.Add(time.Duration(n) * frame)))
		send(n, uint32(77777+n*960))
	}
	var tr *Track
	for _, x := range r.trackList() {
		tr = x
	}
	tr.mu.Lock()
	seg := tr.seg
	tr.mu.Unlock()
	outPTS, _, ok := seg.rtpTimes.RTPPair()
	if !ok {
		t.Fatal("nothing came out of the jitterbuffer")
	}
	// In-order packets leave the jitterbuffer at once, stamped; the last one
	// arrived on time, so its stamp minus now is the anchor's lateness.
	ahead := time.Duration(outPTS - gstx.RunningTime(r.pipe))
	late := r.TimelineLateness("mic")
	t.Logf("the last packet is stamped %v after its arrival; TimelineLateness %v", ahead, late)
	if d := late - ahead; d < -40*time.Millisecond || d > 40*time.Millisecond {
		t.Errorf("TimelineLateness %v, but the stamps are %v late", late, ahead)
	}
	if late < 250*time.Millisecond || late > 350*time.Millisecond {
		t.Errorf("TimelineLateness %v, want about 300 ms", late)
	}
}

// TestTimelineLatenessAfterRebase: the same late start, then the sender's
// timestamps jump 10 s ahead (same SSRC) while packets keep coming on time.
// The jitterbuffer re-bases onto that packet's arrival, so the stamps stop
// being late, and TimelineLateness must follow: moving the track earlier by
// the old lateness would put its media in the past.
func TestTimelineLatenessAfterRebase(t *testing.T) {
	r, send := micRoom(t, 4243)
	const frame = 20 * time.Millisecond
	start := time.Now().Add(-300 * time.Millisecond)
	const before, after = 150, 75 // 3 s late-anchored, then 1.5 s after the jump
	for n := 0; n < before+after; n++ {
		time.Sleep(time.Until(start.Add(time.Duration(n) * frame)))
		ts := uint32(1000 + n*960)
		if n >= before {
			ts += 10 * 48000
		}
		send(n, ts)
		if n == before-1 {
			if late := r.TimelineLateness("mic"); late < 250*time.Millisecond {
				t.Fatalf("before the jump: TimelineLateness %v, want about 300 ms", late)
			}
		}
	}
	late := r.TimelineLateness("mic")
	t.Logf("after the jump: TimelineLateness %v", late)
	if late > latenessSlack+10*time.Millisecond {
		t.Errorf("after the jitterbuffer re-based: TimelineLateness %v, want ≤ %v", late, latenessSlack)
	}
}

// TestTimelineLatenessSteadyUnderJitter: the same late start, then every
// packet leaves the sender up to 80 ms late (a busy encoder, a jittery
// path). How late the stamps are, as TimelineLateness reports it, must not
// follow each packet's delay: the compositor moves the track by it every
// second, and each move is a jump in the mix.
func TestTimelineLatenessSteadyUnderJitter(t *testing.T) {
	r, send := micRoom(t, 4244)
	const frame = 20 * time.Millisecond
	const jitter = 80 * time.Millisecond
	start := time.Now().Add(-300 * time.Millisecond)
	rng := rand.New(rand.NewPCG(7, 11))
	var samples []time.Duration
	total := int((7 * time.Second) / frame)
	for n := 0; n < total; n++ {
		delay := time.Duration(0)
		if n > 0 && time.Duration(n)*frame > anchorWindow+300*time.Millisecond {
			delay = time.Duration(rng.Int64N(int64(jitter)))
		}
		time.Sleep(time.Until(start.Add(time.Duration(n)*frame + delay)))
		send(n, uint32(5000+n*960))
		// Read as the compositor does, from 2 s into the jittery part on.
		if n%10 == 0 && time.Duration(n)*frame > anchorWindow+2300*time.Millisecond {
			samples = append(samples, r.TimelineLateness("mic"))
		}
	}
	lo, hi := slices.Min(samples), slices.Max(samples)
	t.Logf("TimelineLateness over %d reads: %v … %v", len(samples), lo, hi)
	if hi-lo > 15*time.Millisecond {
		t.Errorf("TimelineLateness moved by %v with the arrival jitter (%v … %v), want ≤ 15 ms", hi-lo, lo, hi)
	}
	// The stamps are ~300 ms late for a packet on time and ~220 ms for the
	// latest: the track may move earlier by the least of it plus the slack.
	if lo < 180*time.Millisecond || hi > 300*time.Millisecond {
		t.Errorf("TimelineLateness %v … %v, want within 180–300 ms", lo, hi)
	}
}

// micRoom is a test room with alice's Opus track "mic" of ssrc registered,
// and the sender of its packets (see opusSender).
func micRoom(t *testing.T, ssrc uint32) (*Room, func(n int, ts uint32)) {
	t.Helper()
	r := newTestRoom(t)
	if _, err := r.AddTrack(TrackInfo{ID: "mic", Participant: "alice", Codec: "opus", SSRC: ssrc, PayloadType: 111}); err != nil {
		t.Fatal(err)
	}
	return r, opusSender(t, r, ssrc)
}

// opusSender sends filler Opus RTP packets (seq n, timestamp ts) of ssrc to
// the room.
func opusSender(t *testing.T, r *Room, ssrc uint32) func(n int, ts uint32) {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return func(n int, ts uint32) {
		p := make([]byte, 12+40)
		p[0], p[1] = 0x80, 111
		binary.BigEndian.PutUint16(p[2:], uint16(n))
		binary.BigEndian.PutUint32(p[4:], ts)
		binary.BigEndian.PutUint32(p[8:], ssrc)
		p[12] = 0xfc // an Opus TOC byte (CELT FB 20 ms); the rest is filler
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLatenessFollower(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	steps := []struct {
		at   time.Duration // since t0
		est  time.Duration
		want time.Duration
	}{
		{0, ms(200), ms(200)},                // first estimate: taken
		{time.Second, ms(150), ms(150)},      // less late: at once
		{2 * time.Second, ms(165), ms(150)},  // within the raise margin: held
		{3 * time.Second, ms(190), ms(150)},  // above it: held until it lasts
		{8 * time.Second, ms(180), ms(150)},  //
		{12 * time.Second, ms(210), ms(150)}, // 9 s above: still held
		{13 * time.Second, ms(200), ms(180)}, // 10 s above: the least seen meanwhile
		{14 * time.Second, ms(250), ms(180)}, // a new spell starts
		{15 * time.Second, ms(185), ms(180)}, // back within the margin: the spell ends
		{26 * time.Second, ms(260), ms(180)}, // a new spell…
		{30 * time.Second, ms(100), ms(100)}, // …ended by a drop, taken at once
		{41 * time.Second, ms(90), ms(90)},   //
	}
	var f latenessFollower
	for i, s := range steps {
		if got := f.follow(s.est, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (at %v, estimate %v): %v, want %v", i, s.at, s.est, got, s.want)
		}
	}
}
