package mocksfu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startSFU runs sfu.Run in the background; the returned func waits for it.
// Cleanup cancels Run and waits for it, so nothing outlives the test.
func startSFU(t *testing.T, cfg Config) (*SFU, func() error) {
	t.Helper()
	sfu, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	errc := make(chan error, 1)
	go func() { errc <- sfu.Run(ctx) }()
	var once sync.Once
	var runErr error
	wait := func() error {
		once.Do(func() {
			select {
			case runErr = <-errc:
			case <-time.After(40 * time.Second):
				runErr = errors.New("Run did not return")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		cancel()
		_ = wait() // tests check the error themselves
	})
	return sfu, wait
}

// vp8Keyframe reports whether a VP8 RTP payload starts a key frame, parsed
// with pion's depacketizer (independent of the package's own parser), and
// the frame size if it does.
func vp8Keyframe(t *testing.T, payload []byte) (bool, int, int) {
	t.Helper()
	var p codecs.VP8Packet
	if _, err := p.Unmarshal(payload); err != nil {
		t.Fatalf("bad VP8 payload: %v", err)
	}
	if p.S != 1 || p.PID != 0 || len(p.Payload) < 10 || p.Payload[0]&0x01 != 0 {
		return false, 0, 0
	}
	// RFC 6386 9.1: 3-byte frame tag, start code 9d 01 2a, 14-bit width/height.
	f := p.Payload
	if f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		t.Fatalf("VP8 key frame without start code: % x", f[:10])
	}
	return true, int(binary.LittleEndian.Uint16(f[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(f[8:]) & 0x3fff)
}

func TestParseSchedule(t *testing.T) {
	got, err := ParseSchedule("p3:join=5s,leave=20s; p4:join=2s;p2:leave=5s,join=8s,leave=12s")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]Presence{
		"p3": {{Join: 5 * time.Second, Leave: 20 * time.Second}},
		"p4": {{Join: 2 * time.Second}},
		"p2": {{Join: 0, Leave: 5 * time.Second}, {Join: 8 * time.Second, Leave: 12 * time.Second}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for id, w := range want {
		if !slices.Equal(got[id], w) {
			t.Errorf("%s: got %v, want %v", id, got[id], w)
		}
	}
	for _, bad := range []string{"p1", "p1:join=5s,leave=2s", "p1:join=x", "p1:foo=1s", "p1:join=1s,join=2s", "p1:join=1s;p1:join=2s", "p1:leave=3s,join=2s"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q): expected an error", bad)
		}
	}
}

func TestParseMutes(t *testing.T) {
	got, err := ParseMutes("p2:video:3s-6s, p1:audio:10s-15s,p3:audio:1s-")
	if err != nil {
		t.Fatal(err)
	}
	want := []MuteWindow{
		{"p3", "audio", time.Second, 0},
		{"p2", "video", 3 * time.Second, 6 * time.Second},
		{"p1", "audio", 10 * time.Second, 15 * time.Second},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"p1:audio", "p1:screen:1s-2s", "p1:audio:2s-1s", "p1:audio:x-1s", "p1:audio:1s"} {
		if _, err := ParseMutes(bad); err == nil {
			t.Errorf("ParseMutes(%q): expected an error", bad)
		}
	}
	if _, err := New(Config{N: 2, Mutes: []MuteWindow{{"p3", "audio", 0, time.Second}}}); err == nil {
		t.Error("New accepted a mute for an unknown participant")
	}
	if _, err := New(Config{N: 2, Schedule: map[string][]Presence{"p9": {{Join: time.Second}}}}); err == nil {
		t.Error("New accepted a schedule for an unknown participant")
	}
}

func TestVP8KeyframeParser(t *testing.T) {
	cases := []struct {
		name string
		p    []byte
		want bool
	}{
		{"no ext, key", []byte{0x10, 0x00}, true},
		{"no ext, delta", []byte{0x10, 0x01}, false},
		{"not start", []byte{0x00, 0x00}, false},
		{"15-bit picture id, key", []byte{0x90, 0x80, 0x81, 0x23, 0x50}, true},
		{"15-bit picture id, delta", []byte{0x90, 0x80, 0x81, 0x23, 0x51}, false},
		{"7-bit pid + L + T, key", []byte{0x90, 0xe0, 0x05, 0x07, 0x20, 0x00}, true},
		{"partition 1", []byte{0x11, 0x00}, false},
		{"truncated", []byte{0x90, 0x80, 0x81}, false},
	}
	for _, c := range cases {
		if got := vp8KeyframeStart(c.p); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// TestImpairerSeeded checks the impairment engine alone: rates, bounded
// reordering, duplicates, and that a seed makes it reproducible.
func TestImpairerSeeded(t *testing.T) {
	run := func(seed uint64) (out []int, im *impairer) {
		im = newImpairer(Impairments{Loss: 20, Reorder: 10, Duplicate: 5, Jitter: 30 * time.Millisecond}, seed)
		now := time.Unix(0, 0)
		for i := range 20000 {
			pkt := []byte{byte(i >> 8), byte(i)}
			im.push(pkt, now, func(p []byte, d time.Duration) {
				if d < 0 || d > 30*time.Millisecond {
					t.Fatalf("jitter delay %v out of range", d)
				}
				out = append(out, int(p[0])<<8|int(p[1]))
			})
			now = now.Add(20 * time.Millisecond)
		}
		im.flush(now, 0, func(p []byte, _ time.Duration) { out = append(out, int(p[0])<<8|int(p[1])) })
		return out, im
	}
	a, im := run(42)
	b, _ := run(42)
	c, _ := run(43)
	if !slices.Equal(a, b) {
		t.Fatal("same seed gave different output")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave the same output")
	}
	const n = 20000.0
	if r := float64(im.lost) / n; math.Abs(r-0.20) > 0.015 {
		t.Errorf("loss rate %.3f, want 0.20", r)
	}
	// Reordering applies to packets that survived loss and are not already behind a held one.
	if r := float64(im.reordered) / n; r < 0.05 || r > 0.10 {
		t.Errorf("reorder rate %.3f, want 0.05..0.10", r)
	}
	if r := float64(im.duplicated) / (n - float64(im.lost)); math.Abs(r-0.05) > 0.01 {
		t.Errorf("duplicate rate %.3f, want 0.05", r)
	}
	if got, want := len(a), int(n)-int(im.lost)+int(im.duplicated); got != want {
		t.Errorf("emitted %d packets, want %d", got, want)
	}
	// Every packet comes out at most 2 positions late (among distinct packets), never early.
	seen := map[int]bool{}
	maxSeen, late := -1, 0
	for _, v := range a {
		if seen[v] {
			continue
		}
		seen[v] = true
		if v < maxSeen {
			late++
			if maxSeen-v > 2+8 { // up to 2 later packets pass, some of them may have been lost
				t.Fatalf("packet %d released after %d: reordered too far", v, maxSeen)
			}
		}
		maxSeen = max(maxSeen, v)
	}
	if uint64(late) > im.reordered || float64(late) < 0.8*float64(im.reordered) {
		t.Errorf("%d late packets for %d reordered", late, im.reordered)
	}
}

// TestEndToEnd runs two VP8+Opus participants with a recording against the
// fake server: API calls, RTP per SSRC, SR mapping and CNAMEs, PLI/FIR ->
// keyframe, RR accounting, BYE and cleanup.
func TestEndToEnd(t *testing.T) {
	fs := newFakeServer(t)
	const dur = 4 * time.Second
	sfu, wait := startSFU(t, Config{
		Server: fs.http.URL, Room: "r1", N: 2, Record: true, Duration: dur, Seed: 7,
		Logger: testLogger(t),
	})
	start := time.Now()

	ids := []string{"p1-video", "p1-audio", "p2-video", "p2-audio"}
	var tr = map[string]trackRequest{}
	waitFor(t, 5*time.Second, "4 tracks with RTP", func() bool {
		for _, id := range ids {
			r, ok := fs.createdTrack(id)
			if !ok || len(fs.packets(r.SSRC)) == 0 {
				return false
			}
			tr[id] = r
		}
		return true
	})
	t.Logf("first RTP of all tracks after %v", time.Since(start).Round(time.Millisecond))

	// PLI for p1's video after the stream settled: expect a keyframe within 1 s.
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	v1 := tr["p1-video"]
	src1 := fs.sourceOf(v1.SSRC)
	pliAt := time.Now()
	fs.send(src1, &rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: v1.SSRC})
	var keyAfterPLI time.Duration
	waitFor(t, 1500*time.Millisecond, "keyframe after PLI", func() bool {
		for _, p := range fs.packets(v1.SSRC) {
			if p.at.After(pliAt) {
				if key, _, _ := vp8Keyframe(t, p.pay); key {
					keyAfterPLI = p.at.Sub(pliAt)
					return true
				}
			}
		}
		return false
	})
	t.Logf("PLI -> keyframe in %v", keyAfterPLI.Round(time.Millisecond))

	// FIR to p2's video, sent twice with the same sequence number: one keyframe.
	v2 := tr["p2-video"]
	src2 := fs.sourceOf(v2.SSRC)
	firAt := time.Now()
	fir := &rtcp.FullIntraRequest{SenderSSRC: 1, MediaSSRC: v2.SSRC, FIR: []rtcp.FIREntry{{SSRC: v2.SSRC, SequenceNumber: 5}}}
	fs.send(src2, fir)
	fs.send(src2, fir)
	waitFor(t, 1500*time.Millisecond, "keyframe after FIR", func() bool {
		for _, p := range fs.packets(v2.SSRC) {
			if key, _, _ := vp8Keyframe(t, p.pay); key && p.at.After(firAt) {
				return true
			}
		}
		return false
	})
	// A receiver report about p1's audio (25% loss).
	a1 := tr["p1-audio"]
	fs.send(src1, &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: a1.SSRC, FractionLost: 64, Jitter: 123}}})
	waitFor(t, time.Second, "RR accounted", func() bool {
		s, _ := sfu.Stats().Track("p1-audio")
		return s.RRsReceived == 1
	})

	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	elapsed := time.Since(start)
	if elapsed < dur || elapsed > dur+3*time.Second {
		t.Errorf("Run took %v for a %v duration", elapsed, dur)
	}
	time.Sleep(100 * time.Millisecond) // let the last datagrams arrive
	st := sfu.Stats()

	// --- REST API calls ---
	names := map[string]string{"p1": "Participant 1", "p2": "Participant 2"}
	ssrcs := map[uint32]bool{}
	for _, id := range ids {
		r := tr[id]
		p, kind, _ := strings.Cut(id, "-")
		want := trackRequest{ID: id, Participant: p, Kind: kind, Codec: "vp8", SSRC: r.SSRC, PayloadType: 96, ClockRate: 90000, Source: "camera", Name: names[p]}
		if kind == "audio" {
			want.Codec, want.PayloadType, want.ClockRate, want.Source = "opus", 111, 48000, "microphone"
		}
		if r != want {
			t.Errorf("track %s: got %+v, want %+v", id, r, want)
		}
		ssrcs[r.SSRC] = true
	}
	if len(ssrcs) != 4 {
		t.Errorf("SSRCs not distinct: %v", ssrcs)
	}
	var seq []string
	for _, e := range fs.eventsCopy() {
		seq = append(seq, e.method+" "+e.path)
	}
	recPost := slices.Index(seq, "POST /v1/rooms/r1/recordings")
	recDel := slices.Index(seq, "DELETE /v1/rooms/r1/recordings/rec1")
	if seq[0] != "POST /v1/rooms" || recPost < 5 || recDel < recPost {
		t.Errorf("unexpected API sequence %q", seq)
	}
	for _, id := range ids {
		i := slices.Index(seq, "DELETE /v1/rooms/r1/tracks/"+id)
		if i < recDel {
			t.Errorf("track %s deleted at %d, recording stopped at %d: %q", id, i, recDel, seq)
		}
	}
	if len(fs.active) != 0 || len(fs.recordings) != 0 {
		t.Errorf("left behind: tracks %v, recordings %v", fs.active, fs.recordings)
	}
	if st.RecordingID != "rec1" {
		t.Errorf("stats recording id %q", st.RecordingID)
	}

	// --- RTP ---
	for _, id := range ids {
		r := tr[id]
		pkts := fs.packets(r.SSRC)
		s, _ := st.Track(id)
		if uint64(len(pkts)) != s.PacketsSent || s.Lost+s.Duplicated+s.QueueDrops+s.SendErrors != 0 {
			t.Errorf("%s: received %d packets, stats %+v", id, len(pkts), s)
		}
		minPkts := 150 // audio: 50/s
		if r.Kind == "video" {
			minPkts = 60 // >= 1 packet per frame at 30 fps; the encoder may drop frames on a busy machine
		}
		if len(pkts) < minPkts {
			t.Errorf("%s: only %d packets", id, len(pkts))
		}
		var bytes int
		for i, p := range pkts {
			bytes += p.size
			if p.hdr.PayloadType != r.PayloadType || p.hdr.Version != 2 {
				t.Fatalf("%s: packet %d has PT %d version %d", id, i, p.hdr.PayloadType, p.hdr.Version)
			}
			if p.from.String() != pkts[0].from.String() {
				t.Fatalf("%s: source address changed %v -> %v", id, pkts[0].from, p.from)
			}
			if i > 0 && p.hdr.SequenceNumber != pkts[i-1].hdr.SequenceNumber+1 {
				t.Fatalf("%s: sequence %d after %d", id, p.hdr.SequenceNumber, pkts[i-1].hdr.SequenceNumber)
			}
			if i > 0 && r.Kind == "audio" && p.hdr.Timestamp-pkts[i-1].hdr.Timestamp != 960 {
				t.Fatalf("%s: timestamp step %d, want 960 (20 ms)", id, p.hdr.Timestamp-pkts[i-1].hdr.Timestamp)
			}
			if len(p.pay) == 0 || p.size > 1200 {
				t.Fatalf("%s: packet %d: payload %d bytes, datagram %d", id, i, len(p.pay), p.size)
			}
		}
		if uint64(bytes) != s.BytesSent {
			t.Errorf("%s: received %d bytes, stats say %d", id, bytes, s.BytesSent)
		}
		if r.Kind == "video" {
			if key, w, h := vp8Keyframe(t, pkts[0].pay); !key || w != 640 || h != 360 {
				t.Errorf("%s: first packet is not a 640x360 keyframe (key=%v %dx%d)", id, key, w, h)
			}
		}
	}
	if fs.sourceOf(tr["p1-video"].SSRC).String() != fs.sourceOf(tr["p1-audio"].SSRC).String() {
		t.Error("p1 audio and video come from different sockets")
	}
	if fs.sourceOf(tr["p1-video"].SSRC).String() == fs.sourceOf(tr["p2-video"].SSRC).String() {
		t.Error("p1 and p2 share a socket")
	}
	s1, _ := st.Track("p1-video")
	s2, _ := st.Track("p2-video")
	sa, _ := st.Track("p1-audio")
	if s1.PLIs != 1 || s1.KeyframesForced != 1 || s1.KeyframesOut != 2 {
		t.Errorf("p1-video PLI stats: %+v", s1)
	}
	if s2.FIRs != 2 || s2.FIRsIgnored != 1 || s2.KeyframesForced != 1 || s2.KeyframesOut != 2 {
		t.Errorf("p2-video FIR stats: %+v", s2)
	}
	if sa.RRsReceived != 1 || sa.LastFractionLost != 0.25 || sa.LastJitter != 123 {
		t.Errorf("p1-audio RR stats: %+v", sa)
	}

	// --- RTCP: SR + SDES per track, mapping, CNAME, BYE ---
	checkRTCP(t, fs, tr)

	if !s1.Ended.After(s1.Started) || s1.Active {
		t.Errorf("p1-video not ended in stats: %+v", s1)
	}
	// Every goroutine of the SFU has ended (cgo callback threads and the
	// fake server's goroutines may remain).
	deadline := time.Now().Add(3 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		leaked := strings.Contains(stacks, "mocksfu.(*session)") || strings.Contains(stacks, "mocksfu.(*SFU)") ||
			strings.Contains(stacks, "mocksfu.(*senderPipeline)") || strings.Contains(stacks, "net/http.(*persistConn)")
		if !leaked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Run:\n%s", stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkRTCP(t *testing.T, fs *fakeServer, tr map[string]trackRequest) {
	t.Helper()
	fs.mu.Lock()
	rx := slices.Clone(fs.rtcpPkts)
	fs.mu.Unlock()
	cname := map[uint32]string{}
	srs := map[uint32]int{}
	byes := map[uint32]int{}
	var worst = map[string]float64{}
	for _, c := range rx {
		if _, ok := c.pkts[0].(*rtcp.SenderReport); !ok {
			if _, ok := c.pkts[0].(*rtcp.ReceiverReport); !ok {
				t.Fatalf("compound RTCP does not start with SR/RR: %T", c.pkts[0])
			}
		}
		for _, p := range c.pkts {
			switch p := p.(type) {
			case *rtcp.SourceDescription:
				for _, ch := range p.Chunks {
					for _, it := range ch.Items {
						if it.Type == rtcp.SDESCNAME {
							if old, ok := cname[ch.Source]; ok && old != it.Text {
								t.Errorf("CNAME of %d changed", ch.Source)
							}
							cname[ch.Source] = it.Text
						}
					}
				}
			case *rtcp.Goodbye:
				for _, s := range p.Sources {
					byes[s]++
				}
			case *rtcp.SenderReport:
				srs[p.SSRC]++
				if byes[p.SSRC] > 0 {
					continue
				}
				// NTP time close to the arrival time (loose: the test's reader may be starved).
				ntp := time.Unix(int64(p.NTPTime>>32)-2208988800, int64((p.NTPTime&0xffffffff)*1e9>>32))
				if d := c.at.Sub(ntp); d < -time.Millisecond || d > 300*time.Millisecond {
					t.Errorf("SR of %d: NTP time %v off arrival by %v", p.SSRC, ntp, d)
				}
				// The SR's RTP<->NTP offset must match the timestamps actually
				// sent: compare it with the best (least delayed) offset
				// "ts - arrival*clock" of the packets received in the 2 s
				// before. Arrival >= send, so the SR may only be ahead of it,
				// by the minimal send->read delay.
				clock := 90000.0
				kind := "video"
				for _, r := range tr {
					if r.SSRC == p.SSRC && r.Kind == "audio" {
						clock, kind = 48000, "audio"
					}
				}
				var i = -1
				var best float64 = math.Inf(-1) // in ms: max over packets of (ts extrapolated to the SR's NTP time) - SR's RTP time
				pkts := fs.packets(p.SSRC)
				for j, pk := range pkts {
					if !pk.at.Before(c.at) {
						break
					}
					i = j
					if pk.at.Before(ntp.Add(-2 * time.Second)) {
						continue
					}
					expect := pk.hdr.Timestamp + uint32(math.Round(ntp.Sub(pk.at).Seconds()*clock))
					best = math.Max(best, float64(int32(expect-p.RTPTime))/clock*1000)
				}
				if i < 0 || math.IsInf(best, -1) {
					t.Errorf("SR of %d without RTP before it", p.SSRC)
					continue
				}
				diffMs := -best // >= 0: how far the SR is ahead of the receive-side estimate
				if math.Abs(diffMs) > math.Abs(worst[kind]) {
					worst[kind] = diffMs
				}
				if diffMs < -2 || diffMs > 60 {
					t.Errorf("SR of %s %d: RTP time %d is %.1f ms off the packets' timing", kind, p.SSRC, p.RTPTime, diffMs)
				}
				if p.PacketCount == 0 || uint32(i+1) < p.PacketCount || p.OctetCount == 0 {
					t.Errorf("SR of %d: %d packets/%d octets, %d received so far", p.SSRC, p.PacketCount, p.OctetCount, i+1)
				}
			}
		}
	}
	t.Logf("worst SR RTP-time deviation from packet extrapolation: %v ms", worst)
	for id, r := range tr {
		if srs[r.SSRC] < 3 {
			t.Errorf("%s: %d SRs in 4 s", id, srs[r.SSRC])
		}
		if byes[r.SSRC] != 1 {
			t.Errorf("%s: %d BYEs", id, byes[r.SSRC])
		}
		if cname[r.SSRC] == "" {
			t.Errorf("%s: no CNAME", id)
		}
	}
	if cname[tr["p1-video"].SSRC] != cname[tr["p1-audio"].SSRC] || cname[tr["p2-video"].SSRC] != cname[tr["p2-audio"].SSRC] {
		t.Error("audio and video of a participant have different CNAMEs")
	}
	if cname[tr["p1-video"].SSRC] == cname[tr["p2-video"].SSRC] {
		t.Error("participants share a CNAME")
	}
}

// TestImpairments sends audio with 20% loss, 10% reorder, 5% duplicates and
// 15 ms jitter, twice with the same seed.
func TestImpairments(t *testing.T) {
	type result struct {
		ssrc uint32
		lost []int // lost sequence numbers, relative to the first one, among the first 100
	}
	run := func() result {
		fs := newFakeServer(t)
		sfu, wait := startSFU(t, Config{
			Server: fs.http.URL, Room: "imp", N: 1, Video: None, Duration: 3 * time.Second, Seed: 42,
			Impairments: Impairments{Loss: 20, Reorder: 10, Duplicate: 5, Jitter: 15 * time.Millisecond},
			Logger:      testLogger(t),
		})
		if err := wait(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
		s, _ := sfu.Stats().Track("p1-audio")
		pkts := fs.packets(s.SSRC)
		if uint64(len(pkts)) != s.PacketsSent {
			t.Fatalf("received %d, sent %d", len(pkts), s.PacketsSent)
		}
		first := pkts[0].hdr.SequenceNumber // the very first packet cannot have been held back past another
		seen := map[uint16]int{}
		late, maxRel := 0, -1
		for _, p := range pkts {
			rel := int(p.hdr.SequenceNumber - first)
			seen[p.hdr.SequenceNumber]++
			if seen[p.hdr.SequenceNumber] > 1 {
				continue
			}
			if rel < maxRel {
				late++
			}
			maxRel = max(maxRel, rel)
		}
		dups := 0
		for _, n := range seen {
			dups += n - 1
		}
		lostRate := float64(s.Lost) / float64(s.Forwarded)
		t.Logf("forwarded %d, lost %d (%.1f%%), reordered %d (late on arrival %d), duplicated %d (seen %d)",
			s.Forwarded, s.Lost, 100*lostRate, s.Reordered, late, s.Duplicated, dups)
		if s.Forwarded < 120 {
			t.Errorf("only %d packets forwarded", s.Forwarded)
		}
		if lostRate < 0.12 || lostRate > 0.28 {
			t.Errorf("loss rate %.3f, want about 0.20", lostRate)
		}
		if uint64(len(seen)) != s.Forwarded-s.Lost {
			t.Errorf("%d distinct packets received, want forwarded-lost = %d", len(seen), s.Forwarded-s.Lost)
		}
		if uint64(dups) != s.Duplicated || dups == 0 {
			t.Errorf("%d duplicates received, stats %d", dups, s.Duplicated)
		}
		// Jitter must not reorder: only held-back packets arrive late.
		if late == 0 || uint64(late) > s.Reordered {
			t.Errorf("%d packets arrived late, %d were reordered", late, s.Reordered)
		}
		var r result
		r.ssrc = s.SSRC
		for rel := 0; rel < 100; rel++ {
			if seen[first+uint16(rel)] == 0 {
				r.lost = append(r.lost, rel)
			}
		}
		return r
	}
	a := run()
	b := run()
	if a.ssrc != b.ssrc || !slices.Equal(a.lost, b.lost) {
		t.Errorf("same seed, different runs: ssrc %d/%d, lost %v / %v", a.ssrc, b.ssrc, a.lost, b.lost)
	}
	if len(a.lost) < 8 || len(a.lost) > 35 {
		t.Errorf("%d of the first 100 packets lost", len(a.lost))
	}
}

// TestMuteAndSchedule mutes p1's audio and video for a second and lets p2
// join late and leave early.
func TestMuteAndSchedule(t *testing.T) {
	fs := newFakeServer(t)
	sfu, wait := startSFU(t, Config{
		Server: fs.http.URL, Room: "ms", N: 2, Duration: 3500 * time.Millisecond, Seed: 3,
		Mutes:    []MuteWindow{{"p1", KindAudio, time.Second, 2 * time.Second}, {"p1", KindVideo, 1200 * time.Millisecond, 2200 * time.Millisecond}},
		Schedule: map[string][]Presence{"p2": {{Join: 800 * time.Millisecond, Leave: 2400 * time.Millisecond}}},
		Logger:   testLogger(t),
	})
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	st := sfu.Stats()
	evs := fs.eventsCopy()
	t0 := evs[0].at // room creation
	find := func(method, path string, muted *bool) apiEvent {
		t.Helper()
		for _, e := range evs {
			if e.method == method && e.path == path && (muted == nil || (e.muted != nil && *e.muted == *muted)) {
				return e
			}
		}
		t.Fatalf("no %s %s (muted=%v) in %v", method, path, muted, evs)
		return apiEvent{}
	}
	near := func(what string, got time.Time, want time.Duration) {
		t.Helper()
		if d := got.Sub(t0) - want; d < -50*time.Millisecond || d > 500*time.Millisecond {
			t.Errorf("%s at %v, want ~%v", what, got.Sub(t0), want)
		}
	}
	yes, no := true, false

	for _, kind := range []string{"audio", "video"} {
		id := "p1-" + kind
		on := find("PATCH", "/v1/rooms/ms/tracks/"+id, &yes)
		off := find("PATCH", "/v1/rooms/ms/tracks/"+id, &no)
		from, to := time.Second, 2*time.Second
		if kind == "video" {
			from, to = 1200*time.Millisecond, 2200*time.Millisecond
		}
		near(id+" mute", on.at, from)
		near(id+" unmute", off.at, to)
		s, _ := st.Track(id)
		pkts := fs.packets(s.SSRC)
		var before, during, after int
		afterIdx := -1
		var maxStep uint32 // largest RTP timestamp step: the mute gap
		for i, p := range pkts {
			if i > 0 {
				maxStep = max(maxStep, p.hdr.Timestamp-pkts[i-1].hdr.Timestamp)
			}
			switch {
			case p.at.Before(on.at.Add(100 * time.Millisecond)): // grace for datagrams sent before the mute but read late
				before++
			case p.at.Before(off.at):
				during++
			default:
				if afterIdx < 0 {
					afterIdx = i
				}
				after++
			}
			// SFU-style sequence rewriting: no gap across the mute.
			if i > 0 && p.hdr.SequenceNumber != pkts[i-1].hdr.SequenceNumber+1 {
				t.Errorf("%s: sequence gap %d -> %d", id, pkts[i-1].hdr.SequenceNumber, p.hdr.SequenceNumber)
			}
		}
		t.Logf("%s: %d packets before mute, %d while muted, %d after; %d not forwarded", id, before, during, after, s.MutedDrops)
		if before < 20 || during != 0 || after < 20 || s.MutedDrops < 20 {
			t.Errorf("%s: %d before / %d during / %d after mute, %d muted drops", id, before, during, after, s.MutedDrops)
		}
		// The media time not sent spans the mute window (1 s).
		if gap := time.Duration(float64(maxStep) / float64(s.ClockRate) * float64(time.Second)); gap < 900*time.Millisecond || gap > 1600*time.Millisecond {
			t.Errorf("%s: largest timestamp gap %v, want about 1 s", id, gap)
		}
		if kind == "video" {
			if key, _, _ := vp8Keyframe(t, pkts[afterIdx].pay); !key {
				t.Errorf("%s: first packet after unmute is not a keyframe", id)
			}
			if gap := pkts[afterIdx].at.Sub(off.at); gap > 500*time.Millisecond {
				t.Errorf("%s: video resumed %v after unmute", id, gap)
			}
		}
	}

	// p2: joins at 0.8 s, leaves at 2.4 s; RTP only in between, then BYE.
	for _, kind := range []string{"audio", "video"} {
		id := "p2-" + kind
		created := find("POST", "/v1/rooms/ms/tracks", nil)
		for _, e := range evs {
			if e.method == "POST" && e.path == "/v1/rooms/ms/tracks" && e.at.Sub(t0) > 500*time.Millisecond {
				created = e
			}
		}
		deleted := find("DELETE", "/v1/rooms/ms/tracks/"+id, nil)
		near(id+" created", created.at, 800*time.Millisecond)
		near(id+" deleted", deleted.at, 2400*time.Millisecond)
		s, _ := st.Track(id)
		pkts := fs.packets(s.SSRC)
		if len(pkts) < 30 {
			t.Fatalf("%s: %d packets", id, len(pkts))
		}
		if pkts[0].at.Before(created.at) || pkts[len(pkts)-1].at.After(deleted.at.Add(50*time.Millisecond)) {
			t.Errorf("%s: RTP from %v to %v outside of its stay %v-%v", id,
				pkts[0].at.Sub(t0), pkts[len(pkts)-1].at.Sub(t0), created.at.Sub(t0), deleted.at.Sub(t0))
		}
		if s.ByesSent != 1 || s.Active {
			t.Errorf("%s: stats after leave %+v", id, s)
		}
	}
	if len(fs.active) != 0 {
		t.Errorf("tracks left: %v", fs.active)
	}
}

// TestResolutionChange flips 640x360 <-> 320x180 every 700 ms; VP8
// keyframes carry the new size.
func TestResolutionChange(t *testing.T) {
	fs := newFakeServer(t)
	sfu, wait := startSFU(t, Config{
		Server: fs.http.URL, Room: "res", N: 1, Audio: None, Duration: 2500 * time.Millisecond,
		ResolutionChange: 700 * time.Millisecond, Logger: testLogger(t),
	})
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	s, _ := sfu.Stats().Track("p1-video")
	var sizes []string
	for _, p := range fs.packets(s.SSRC) {
		if key, w, h := vp8Keyframe(t, p.pay); key {
			sizes = append(sizes, fmt.Sprintf("%dx%d", w, h))
		}
	}
	t.Logf("keyframe sizes: %v", sizes)
	// Flips at ~0.7, 1.4 and 2.1 s: at least two of them must show up, and
	// every keyframe must have the size in force at that time.
	if len(sizes) < 3 || len(sizes) > 4 {
		t.Errorf("%d keyframes, want 3 or 4 (start + flips)", len(sizes))
	}
	for i, sz := range sizes {
		if want := []string{"640x360", "320x180"}[i%2]; sz != want {
			t.Errorf("keyframe %d is %s, want %s", i, sz, want)
		}
	}
	if s.KeyframesOut != uint64(len(sizes)) {
		t.Errorf("stats count %d keyframes, received %d", s.KeyframesOut, len(sizes))
	}
}

// TestOtherCodecs: VP9 and H.264 streams start with a keyframe and answer a PLI.
func TestOtherCodecs(t *testing.T) {
	for _, codec := range []string{VideoVP9, VideoH264} {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			fs := newFakeServer(t)
			sfu, wait := startSFU(t, Config{
				Server: fs.http.URL, Room: codec, N: 1, Video: codec, Audio: None, Duration: 2500 * time.Millisecond,
				Logger: testLogger(t),
			})
			var r trackRequest
			waitFor(t, 5*time.Second, "RTP", func() bool {
				var ok bool
				r, ok = fs.createdTrack("p1-video")
				return ok && len(fs.packets(r.SSRC)) > 0
			})
			if r.Codec != codec {
				t.Errorf("registered codec %q", r.Codec)
			}
			time.Sleep(time.Second)
			fs.send(fs.sourceOf(r.SSRC), &rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: r.SSRC})
			if err := wait(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
			pkts := fs.packets(r.SSRC)
			s, _ := sfu.Stats().Track("p1-video")
			keys := 0
			for _, p := range pkts {
				if p.hdr.PayloadType != 96 {
					t.Fatalf("PT %d", p.hdr.PayloadType)
				}
				if indepKeyframe(codec, p.pay) {
					keys++
				}
			}
			if !indepKeyframe(codec, pkts[0].pay) {
				t.Errorf("first packet is not a keyframe start: % x", pkts[0].pay[:min(8, len(pkts[0].pay))])
			}
			t.Logf("%s: %d packets, %d keyframe starts, stats %d keyframes, %d forced", codec, len(pkts), keys, s.KeyframesOut, s.KeyframesForced)
			if len(pkts) < 60 || s.PLIs != 1 || s.KeyframesForced != 1 || s.KeyframesOut != 2 || keys != 2 {
				t.Errorf("%d packets, stats %+v", len(pkts), s)
			}
		})
	}
}

// indepKeyframe is the test's own check of a keyframe start (H.264: a STAP-A
// or single NAL carrying an SPS; VP9: B set, P clear in the descriptor).
func indepKeyframe(codec string, p []byte) bool {
	switch codec {
	case VideoVP9:
		var v codecs.VP9Packet
		if _, err := v.Unmarshal(p); err != nil {
			return false
		}
		return v.B && !v.P
	case VideoH264:
		if p[0]&0x1f == 7 {
			return true
		}
		return p[0]&0x1f == 24 && len(p) > 3 && p[3]&0x1f == 7 // STAP-A: first NAL after the 16-bit size
	}
	return false
}

// TestAPIErrors: API errors are returned with context; an existing room is reused.
func TestAPIErrors(t *testing.T) {
	fs := newFakeServer(t)
	fs.failTrackCreate = "codec not supported"
	_, wait := startSFU(t, Config{Server: fs.http.URL, Room: "e1", N: 1, Duration: 5 * time.Second, Logger: testLogger(t)})
	err := wait()
	var ae *APIError
	if err == nil || !errors.As(err, &ae) || ae.Status != 400 || ae.Message != "codec not supported" ||
		!strings.Contains(err.Error(), `create track "p1-video"`) {
		t.Fatalf("Run error = %v", err)
	}
	t.Logf("error: %v", err)

	fs2 := newFakeServer(t)
	fs2.preexisting["e2"] = true
	sfu, wait2 := startSFU(t, Config{Server: fs2.http.URL, Room: "e2", N: 1, Video: None, Duration: 800 * time.Millisecond, Logger: testLogger(t)})
	if err := wait2(); err != nil {
		t.Fatalf("Run with existing room: %v", err)
	}
	evs := fs2.eventsCopy()
	if len(evs) == 0 || evs[0].method != "GET" || evs[0].path != "/v1/rooms/e2" {
		t.Errorf("existing room not fetched: %v", evs)
	}
	if s, _ := sfu.Stats().Track("p1-audio"); s.PacketsSent < 20 {
		t.Errorf("existing room: %d packets sent", s.PacketsSent)
	}

	if _, err := New(Config{Video: "av1"}); err == nil {
		t.Error("New accepted video codec av1")
	}
	if _, err := New(Config{Impairments: Impairments{Loss: 120}}); err == nil {
		t.Error("New accepted 120% loss")
	}
}

// TestDTX: with DTX and talk spurts, silent gaps send (almost) nothing and
// the RTP timestamps jump by whole 20 ms frames.
func TestDTX(t *testing.T) {
	fs := newFakeServer(t)
	sfu, wait := startSFU(t, Config{
		Server: fs.http.URL, Room: "dtx", N: 1, Video: None, DTX: true, Duration: 3500 * time.Millisecond,
		Logger: testLogger(t),
	})
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	s, _ := sfu.Stats().Track("p1-audio")
	pkts := fs.packets(s.SSRC)
	span := pkts[len(pkts)-1].hdr.Timestamp - pkts[0].hdr.Timestamp
	frames := int(span/960) + 1
	gaps := 0
	var maxStep uint32
	for i := 1; i < len(pkts); i++ {
		step := pkts[i].hdr.Timestamp - pkts[i-1].hdr.Timestamp
		maxStep = max(maxStep, step)
		if step%960 != 0 {
			t.Fatalf("timestamp step %d is not a multiple of 960", step)
		}
		if step > 960 {
			gaps++
			if !pkts[i].hdr.Marker { // RFC 7587: first packet of a talk spurt
				t.Errorf("no marker bit after a %d ms DTX gap", step/48)
			}
		}
		if pkts[i].hdr.SequenceNumber != pkts[i-1].hdr.SequenceNumber+1 {
			t.Fatalf("sequence gap in DTX stream")
		}
	}
	t.Logf("%d packets for %d frames (%.0f%%), %d timestamp jumps", len(pkts), frames, 100*float64(len(pkts))/float64(frames), gaps)
	// Talk 1.5 s / silence 1.5 s: about 60% of the frames are sent, and
	// during silence only a packet every 400 ms or so.
	if gaps == 0 || maxStep < 960*10 || len(pkts) > frames*85/100 || len(pkts) < frames/4 {
		t.Errorf("DTX: %d packets for %d frames, %d gaps, longest %d ms", len(pkts), frames, gaps, maxStep/48)
	}
}

func TestParseImpairments(t *testing.T) {
	im, err := ParseImpairments("loss=5%, reorder=2,dup=1.5,jitter=30ms")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Impairments{Loss: 5, Reorder: 2, Duplicate: 1.5, Jitter: 30 * time.Millisecond}); im != want {
		t.Errorf("got %+v, want %+v", im, want)
	}
	per, err := ParseParticipantImpairments("p2:loss=5,jitter=30ms;p3:reorder=2")
	if err != nil {
		t.Fatal(err)
	}
	if per["p2"] != (Impairments{Loss: 5, Jitter: 30 * time.Millisecond}) || per["p3"] != (Impairments{Reorder: 2}) || len(per) != 2 {
		t.Errorf("got %+v", per)
	}
	for _, bad := range []string{"loss=150", "loss", "speed=3", "jitter=abc", "reorder=-1"} {
		if _, err := ParseImpairments(bad); err == nil {
			t.Errorf("ParseImpairments(%q): expected an error", bad)
		}
	}
}
