package ingest

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

func rtpPacket(t testing.TB, pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClassify(t *testing.T) {
	pli, _ := (&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 2}).Marshal()
	sr, _ := (&rtcp.SenderReport{SSRC: 5}).Marshal()
	cases := []struct {
		name string
		in   []byte
		want PacketClass
	}{
		{"rtp vp8", rtpPacket(t, 96, 1, 2, 3, []byte{0x10, 0}), ClassRTP},
		{"rtp pt 127 with marker", func() []byte { b := rtpPacket(t, 127, 1, 2, 3, nil); b[1] |= 0x80; return b }(), ClassRTP},
		{"rtcp sr", sr, ClassRTCP},
		{"rtcp pli", pli, ClassRTCP},
		{"empty", nil, ClassInvalid},
		{"short rtp", []byte{0x80, 96, 0, 1, 0, 0, 0, 0}, ClassInvalid},
		{"version 1", []byte{0x40, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, ClassInvalid},
		{"stun-like", []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0}, ClassInvalid},
		{"short rtcp", []byte{0x80, 200, 0, 1}, ClassInvalid},
	}
	for _, c := range cases {
		if got := Classify(c.in); got != c.want {
			t.Errorf("%s: Classify = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestKeyframeDetection(t *testing.T) {
	cases := []struct {
		codec   string
		payload []byte
		want    bool
	}{
		{"vp8", []byte{0x10, 0x00}, true},                         // S=1 PID=0, P=0
		{"vp8", []byte{0x10, 0x01}, false},                        // inter frame
		{"vp8", []byte{0x00, 0x00}, false},                        // not a partition start
		{"vp8", []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},       // X, I with 15-bit picture id
		{"vp8", []byte{0x90, 0xe0, 0x12, 0x05, 0x40, 0x00}, true}, // X, I(7 bit), L, T
		{"vp8", []byte{0x90, 0x80}, false},                        // truncated
		{"vp9", []byte{0x08}, true},                               // B=1 P=0
		{"vp9", []byte{0x48}, false},                              // inter-predicted
		{"vp9", []byte{0x00}, false},                              // no frame begin
		{"h264", []byte{0x65, 0x88}, true},                        // IDR
		{"h264", []byte{0x67, 0x42}, true},                        // SPS
		{"h264", []byte{0x41, 0x9a}, false},                       // non-IDR slice
		{"h264", []byte{0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"h264", []byte{0x18, 0x00, 0x02, 0x41, 0x9a}, false},
		{"h264", []byte{0x18, 0x00, 0x09, 0x67}, false}, // STAP-A size past the end
		{"h264", []byte{0x7c, 0x85}, true},              // FU-A start of IDR
		{"h264", []byte{0x7c, 0x05}, false},             // FU-A middle of IDR
		{"h264", []byte{0x7c, 0x81}, false},             // FU-A start of non-IDR
		{"opus", []byte{0xfc}, false},
		{"vp8", nil, false},
	}
	for _, c := range cases {
		if got := IsKeyframeStart(c.codec, c.payload); got != c.want {
			t.Errorf("%s % x: keyframe = %v, want %v", c.codec, c.payload, got, c.want)
		}
	}
}

func TestReceiveStatsAcrossWraparound(t *testing.T) {
	// The same loss pattern from every start sequence number, including the
	// ones that wrap during the run.
	for _, start := range []uint16{0, 1, 100, 32767, 32768, 65000, 65534, 65535} {
		s := ReceiveStats{ClockRate: 90000}
		now := time.Unix(1000, 0)
		received := 0
		for i := 0; i < 2000; i++ {
			if i%10 == 3 { // 10 % loss
				continue
			}
			s.Update(start+uint16(i), uint32(i*3000), now.Add(time.Duration(i)*33*time.Millisecond))
			received++
		}
		if got := s.Expected(); got != 2000 {
			t.Errorf("start %d: expected %d, want 2000", start, got)
		}
		if got := s.Lost(); got != 200 {
			t.Errorf("start %d: lost %d, want 200", start, got)
		}
		if got := s.Received(); got != uint64(received) {
			t.Errorf("start %d: received %d, want %d", start, got, received)
		}
		wantCycles := (uint32(start) + 1999) >> 16
		if got := s.ExtendedHighest() >> 16; got != wantCycles {
			t.Errorf("start %d: cycles %d, want %d", start, got, wantCycles)
		}
		rr := s.ReceptionReport(42, SenderReportInfo{}, now)
		if rr.TotalLost != 200 || rr.FractionLost != uint8(200*256/2000) {
			t.Errorf("start %d: report lost=%d fraction=%d", start, rr.TotalLost, rr.FractionLost)
		}
	}
}

func TestReceiveStatsReorderAndJitter(t *testing.T) {
	s := ReceiveStats{ClockRate: 90000}
	base := time.Unix(0, 0)
	// Perfectly paced packets: jitter stays 0.
	for i := 0; i < 100; i++ {
		s.Update(uint16(i), uint32(i*3000), base.Add(time.Duration(i)*time.Second/30))
	}
	if j := s.Jitter(); j > 1 {
		t.Errorf("paced jitter = %d, want ~0", j)
	}
	// One packet arriving late and out of order.
	s.Update(101, 101*3000, base.Add(101*time.Second/30))
	s.Update(100, 100*3000, base.Add(102*time.Second/30))
	if s.OutOfOrder() != 1 {
		t.Errorf("out of order = %d, want 1", s.OutOfOrder())
	}
	if s.Lost() != 0 {
		t.Errorf("lost = %d after reorder, want 0", s.Lost())
	}
	if s.Jitter() == 0 {
		t.Error("jitter stayed 0 after a late packet")
	}
}

func TestSenderReportMapping(t *testing.T) {
	wall := time.Date(2026, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	ntp := TimeToNTP(wall)
	if back := NTPToTime(ntp); back.Sub(wall).Abs() > time.Microsecond {
		t.Fatalf("NTP round trip: %v vs %v", back, wall)
	}
	sr := SenderReportInfo{NTP: ntp, RTPTime: 0xfffff000, Arrival: wall}
	// 0x2000 ticks later, across the 32-bit wrap, at 90 kHz.
	got := sr.WallClock(0x00001000, 90000)
	want := wall.Add(time.Duration(0x2000) * time.Second / 90000)
	if got.Sub(want).Abs() > time.Microsecond {
		t.Errorf("after wrap: %v, want %v", got, want)
	}
	before := sr.WallClock(0xfffff000-48000, 48000)
	if d := wall.Sub(before); (d - time.Second).Abs() > time.Microsecond {
		t.Errorf("one second before the report: got %v earlier", d)
	}
}

func TestRewriterContinuesAcrossSourceSwitch(t *testing.T) {
	rw := newRewriter(1111, 96, 90000)
	t0 := time.Unix(100, 0)
	var lastSeq uint16
	var lastTS uint32
	for i := 0; i < 10; i++ {
		p := rtpPacket(t, 96, uint16(60000+i), uint32(5000+i*3000), 1111, nil)
		rw.rewrite(p, t0.Add(time.Duration(i)*33*time.Millisecond))
		lastSeq, lastTS = binary.BigEndian.Uint16(p[2:]), binary.BigEndian.Uint32(p[4:])
		if binary.BigEndian.Uint16(p[2:]) != uint16(60000+i) {
			t.Fatalf("first source must pass unchanged")
		}
	}
	rw.switchSource()
	// New device: new SSRC, random seq/timestamp, 1 s later.
	p := rtpPacket(t, 96, 7, 123456, 2222, nil)
	rw.rewrite(p, t0.Add(9*33*time.Millisecond+time.Second))
	seq, ts, ssrc := binary.BigEndian.Uint16(p[2:]), binary.BigEndian.Uint32(p[4:]), binary.BigEndian.Uint32(p[8:])
	if ssrc != 1111 {
		t.Errorf("ssrc = %d, want the track's original 1111", ssrc)
	}
	if seq != lastSeq+1 {
		t.Errorf("seq = %d, want %d", seq, lastSeq+1)
	}
	if d := ts - lastTS; d < 89000 || d > 91000 {
		t.Errorf("timestamp advanced %d ticks, want ~90000 (1 s)", d)
	}
	q := rtpPacket(t, 100, 8, 123456+3000, 2222, nil) // the SFU renumbered the payload type
	q[1] |= 0x80                                      // marker
	rw.rewrite(q, t0.Add(2*time.Second))
	if q[1] != 0x80|96 {
		t.Errorf("payload byte %#x, want marker kept and payload type 96 of the segment", q[1])
	}
	if binary.BigEndian.Uint16(q[2:]) != seq+1 || binary.BigEndian.Uint32(q[4:]) != ts+3000 {
		t.Error("packets after the switch must keep the new mapping")
	}
}

func TestKeyframeThrottleCoalescesAndEscalates(t *testing.T) {
	now := time.Unix(0, 0)
	var sent []bool
	k := &KeyframeThrottle{MinInterval: 50 * time.Millisecond, FIRAfter: 100 * time.Millisecond,
		Now: func() time.Time { return now }, Send: func(fir bool) { sent = append(sent, fir) }}
	k.Request()
	for i := 0; i < 10; i++ {
		k.Request() // a storm inside the window
	}
	if len(sent) != 1 {
		t.Fatalf("sent %d requests in the first window, want 1", len(sent))
	}
	now = now.Add(60 * time.Millisecond)
	time.Sleep(120 * time.Millisecond) // the coalesced request fires from its timer
	k.mu.Lock()
	n := len(sent)
	k.mu.Unlock()
	if n != 2 {
		t.Fatalf("after the window: %d sent, want 2 (one coalesced)", n)
	}
	// No keyframe since: the next request escalates to FIR.
	now = now.Add(200 * time.Millisecond)
	k.Request()
	if len(sent) != 3 || !sent[2] {
		t.Fatalf("want FIR escalation, got %v", sent)
	}
	k.KeyframeSeen()
	now = now.Add(200 * time.Millisecond)
	k.Request()
	if sent[3] {
		t.Error("no FIR after a keyframe arrived")
	}
	req, snt := k.Counts()
	if req != 13 || snt != 4 {
		t.Errorf("counts = %d/%d, want 13/4", req, snt)
	}
	k.Stop()
	k.Request()
	if len(sent) != 4 {
		t.Error("requests after Stop must be ignored")
	}
}

func FuzzKeyframeDetect(f *testing.F) {
	f.Add("vp8", []byte{0x90, 0x80, 0x81, 0x23, 0x00})
	f.Add("h264", []byte{0x18, 0x00, 0x02, 0x67, 0x42})
	f.Add("vp9", []byte{0x08})
	f.Fuzz(func(t *testing.T, codec string, payload []byte) {
		_ = IsKeyframeStart(codec, payload) // must never panic
	})
}

func TestAllowedNetworks(t *testing.T) {
	nets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for addr, want := range map[string]bool{"10.1.2.3": true, "127.0.0.1": true, "127.0.0.2": false, "192.168.1.1": false} {
		if got := allowed(nets, netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: allowed = %v", addr, got)
		}
	}
}

func TestRewriterMapsRetransmissionRequestsBack(t *testing.T) {
	rw := newRewriter(1111, 96, 90000)
	t0 := time.Unix(100, 0)
	if _, ok := rw.senderSeq(5); ok {
		t.Error("a request before any packet must not map")
	}
	for i := 0; i < 5; i++ {
		rw.rewrite(rtpPacket(t, 96, uint16(65533+i), uint32(i*3000), 1111, nil), t0) // wraps
	}
	for _, c := range []struct {
		out  uint16
		want uint16
		ok   bool
	}{{65533, 65533, true}, {1, 1, true}, {2, 2, true}, {65532, 0, false}, {40, 40, true}, {5000, 0, false}} {
		got, ok := rw.senderSeq(c.out)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("first source: senderSeq(%d) = %d, %v; want %d, %v", c.out, got, ok, c.want, c.ok)
		}
	}
	rw.switchSource()
	if _, ok := rw.senderSeq(1); ok {
		t.Error("a request while the source switches must not map")
	}
	p := rtpPacket(t, 96, 700, 123456, 2222, nil)
	rw.rewrite(p, t0.Add(time.Second))
	first := binary.BigEndian.Uint16(p[2:])
	rw.rewrite(rtpPacket(t, 96, 701, 123456+3000, 2222, nil), t0.Add(time.Second))
	if got, ok := rw.senderSeq(first + 1); !ok || got != 701 {
		t.Errorf("new source: senderSeq(%d) = %d, %v; want 701", first+1, got, ok)
	}
	if _, ok := rw.senderSeq(first - 1); ok {
		t.Error("a packet of the old source must not be asked of the new one")
	}
	for i := 2; i < 40000; i++ { // a long-running source: every recent number maps
		rw.rewrite(rtpPacket(t, 96, uint16(700+i), uint32(123456+i*3000), 2222, nil), t0.Add(time.Second))
	}
	if got, ok := rw.senderSeq(first + 39990); !ok || got != uint16(700+39990) {
		t.Errorf("after 40000 packets: senderSeq = %d, %v; want %d", got, ok, uint16(700+39990))
	}
}

func TestUnwrapRTX(t *testing.T) {
	orig := rtpPacket(t, 96, 1000, 90000, 1111, []byte{0x10, 0xaa, 0xbb})
	orig[1] |= 0x80 // marker
	// RFC 4588: RTX header of its own, then the original sequence number.
	rtx := rtpPacket(t, 97, 7, 90000, 2222, append([]byte{0x03, 0xe8}, orig[12:]...))
	rtx[1] |= 0x80
	got, ok := unwrapRTX(rtx, 12, false, 1111, 96)
	if !ok || string(got) != string(orig) {
		t.Fatalf("unwrapRTX = %x, %v; want %x", got, ok, orig)
	}
	probe := rtpPacket(t, 97, 8, 90000, 2222, []byte{0, 0, 0, 4}) // padding only
	probe[0] |= 0x20
	if _, ok := unwrapRTX(probe, 12, true, 1111, 96); ok {
		t.Error("a padding-only RTX packet must not unwrap")
	}
	if _, ok := unwrapRTX(rtpPacket(t, 97, 9, 90000, 2222, []byte{0x03}), 12, false, 1111, 96); ok {
		t.Error("an RTX packet without a whole original sequence number must not unwrap")
	}
}

func TestTrackRTXStreams(t *testing.T) {
	r := newTestRoom(t)
	for _, c := range []struct {
		in   TrackInfo
		want string
	}{
		{TrackInfo{ID: "a", Participant: "p", Codec: "vp8", SSRC: 1, PayloadType: 96, RTXSSRC: 2}, "rtx_ssrc 2 without rtx_payload_type"},
		{TrackInfo{ID: "a", Participant: "p", Codec: "vp8", SSRC: 1, PayloadType: 96, RTXPayloadType: 97}, "rtx_payload_type 97 without rtx_ssrc"},
		{TrackInfo{ID: "a", Participant: "p", Codec: "vp8", SSRC: 1, PayloadType: 96, RTXSSRC: 1, RTXPayloadType: 97}, "rtx_ssrc 1 is the track's own ssrc"},
		{TrackInfo{ID: "a", Participant: "p", Codec: "vp8", SSRC: 1, PayloadType: 96, RTXSSRC: 2, RTXPayloadType: 96}, "rtx_payload_type 96 is the track's own payload_type"},
	} {
		if _, err := r.AddTrack(c.in); err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("AddTrack(%+v) = %v, want %q", c.in, err, c.want)
		}
	}
	if _, err := r.AddTrack(TrackInfo{ID: "cam", Participant: "p", Codec: "vp8", SSRC: 1, PayloadType: 96, RTXSSRC: 2, RTXPayloadType: 97}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddTrack(TrackInfo{ID: "mic", Participant: "p", Codec: "opus", SSRC: 2, PayloadType: 111}); err == nil || !errors.Is(err, ErrConflict) {
		t.Errorf("a track on another track's RTX SSRC: %v, want a conflict", err)
	}
	// A new device with a new RTX stream: the old SSRCs route nowhere, the new ones to the track.
	ssrc, rtxSSRC := uint32(3), uint32(4)
	if _, err := r.UpdateTrack("cam", TrackUpdate{SSRC: &ssrc, RTXSSRC: &rtxSSRC}); err != nil {
		t.Fatal(err)
	}
	routes := *r.routes.Load()
	if routes[1] != nil || routes[2] != nil || routes[3] == nil || routes[4] != routes[3] {
		t.Errorf("routes after the device change: %v", routes)
	}
	// Sender reports of the RTX stream never replace the media's (A/V sync maps through those).
	from := netip.MustParseAddrPort("127.0.0.1:5000")
	for _, sr := range []rtcp.SenderReport{{SSRC: 3, NTPTime: 1 << 42, RTPTime: 90000}, {SSRC: 4, NTPTime: 2 << 42, RTPTime: 5}} {
		b, err := sr.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		r.handleRTCP(b, from, time.Now())
	}
	if info, _ := r.Track("cam"); info.Stats.SenderReports != 1 || info.Stats.SenderReportNTP == nil || !info.Stats.SenderReportNTP.Equal(NTPToTime(1<<42)) {
		t.Errorf("after the media's and the RTX stream's sender reports: %d reports, NTP %v; want the media's alone", info.Stats.SenderReports, info.Stats.SenderReportNTP)
	}
	none, zero := uint32(0), uint8(0)
	if info, err := r.UpdateTrack("cam", TrackUpdate{RTXSSRC: &none, RTXPayloadType: &zero}); err != nil || info.RTXSSRC != 0 || (*r.routes.Load())[4] != nil {
		t.Errorf("dropping the RTX stream: %+v, %v", info, err)
	}
	if err := r.RemoveTrack("cam"); err != nil {
		t.Fatal(err)
	}
	if n := len(*r.routes.Load()); n != 0 {
		t.Errorf("%d routes left after the track's removal", n)
	}
}
