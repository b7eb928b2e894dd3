package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rtpPacket builds a minimal RTP packet (optionally with a VP8 descriptor
// carrying a 15-bit picture ID).
func rtpPacket(seq uint16, ts uint32, marker bool, pic int, payload int) []byte {
	p := make([]byte, 12, 12+4+payload)
	p[0] = 0x80
	p[1] = 96
	if marker {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], ts)
	binary.BigEndian.PutUint32(p[8:], 0xdeadbeef)
	if pic >= 0 {
		p = append(p, 0x90, 0x80, 0x80|byte(pic>>8)&0x7f, byte(pic))
	}
	return append(p, make([]byte, payload)...)
}

func frame(pkts ...[]byte) []byte {
	var b []byte
	for _, p := range pkts {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}

// testVideo is a 1-second loop: 10 frames of 2 packets at 10 fps, picture
// IDs starting near the 15-bit wrap.
func testVideo(t *testing.T) Stream {
	t.Helper()
	var pkts [][]byte
	seq := uint16(65530)
	for f := 0; f < 10; f++ {
		ts := uint32(4294960000) + uint32(f*9000) // wraps the 32-bit timestamp
		pic := (32760 + f) & 0x7fff
		pkts = append(pkts, rtpPacket(seq, ts, false, pic, 100), rtpPacket(seq+1, ts, true, pic, 50))
		seq += 2
	}
	s, err := buildStream("video", "vp8", 90000, time.Second, frame(pkts...))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBuildStream(t *testing.T) {
	s := testVideo(t)
	if len(s.Packets) != 20 || s.Frames != 10 || s.Pictures != 10 || s.LoopTS != 90000 {
		t.Fatalf("packets %d frames %d pictures %d loopTS %d", len(s.Packets), s.Frames, s.Pictures, s.LoopTS)
	}
	if got := s.Packets[3].At; got != 100*time.Millisecond {
		t.Errorf("packet 3 at %s, want 100ms", got)
	}
	if s.Packets[5].PicOff != 14 || s.Packets[5].PicRel != 2 || s.Packets[5].Payload != 12 {
		t.Errorf("packet 5: picoff %d picrel %d payload %d", s.Packets[5].PicOff, s.Packets[5].PicRel, s.Packets[5].Payload)
	}
	if s.FrameDuration() != 100*time.Millisecond {
		t.Errorf("frame duration %s", s.FrameDuration())
	}
}

func TestBuildStreamDropsShortFirstAudioPacket(t *testing.T) {
	// opusenc: the first packet holds the pre-skip, so its step is short.
	pkts := [][]byte{rtpPacket(1, 1000, true, -1, 10), rtpPacket(2, 1000+648, false, -1, 10)}
	for i := 0; i < 60; i++ {
		pkts = append(pkts, rtpPacket(uint16(3+i), 1000+648+uint32(960*(i+1)), false, -1, 10))
	}
	s, err := buildStream("audio", "opus", 48000, time.Second, frame(pkts...))
	if err != nil {
		t.Fatal(err)
	}
	// From the second packet on: 50 frames of 20 ms fit in one second.
	if len(s.Packets) != 50 || s.Packets[1].At != 20*time.Millisecond {
		t.Fatalf("packets %d, packet 1 at %s", len(s.Packets), s.Packets[1].At)
	}
}

func TestSplitRFC4571Truncated(t *testing.T) {
	b := frame(rtpPacket(1, 1, false, -1, 10))
	if _, err := splitRFC4571(b[:len(b)-1]); err == nil {
		t.Fatal("truncated packet accepted")
	}
	if _, err := splitRFC4571([]byte{0}); err == nil {
		t.Fatal("truncated length accepted")
	}
}

// TestRewriteAcrossLoops: a track's sequence numbers, timestamps and picture
// IDs continue across loop boundaries and 16/32-bit wraps.
func TestRewriteAcrossLoops(t *testing.T) {
	s := testVideo(t)
	tr := &track{spec: TrackSpec{SSRC: 42, PayloadType: 100}, st: &s, seqBase: 65000, tsBase: 4294900000, picBase: 32700}
	tr.start = time.Unix(1000, 0)
	tr.schedule()
	buf := make([]byte, 1500)
	var prevSeq uint16
	var prevTS uint32
	var prevPic uint16
	var prevDue time.Time
	for i := 0; i < 3*len(s.Packets)+5; i++ {
		due := tr.due
		n := tr.build(buf)
		tr.schedule()
		p := buf[:n]
		seq, ts := binary.BigEndian.Uint16(p[2:]), binary.BigEndian.Uint32(p[4:])
		pic := binary.BigEndian.Uint16(p[14:]) & 0x7fff
		if ssrc := binary.BigEndian.Uint32(p[8:]); ssrc != 42 || p[1]&0x7f != 100 {
			t.Fatalf("packet %d: ssrc %d pt %d", i, ssrc, p[1]&0x7f)
		}
		if i > 0 {
			if seq != prevSeq+1 {
				t.Fatalf("packet %d: seq %d after %d", i, seq, prevSeq)
			}
			if d := ts - prevTS; d != 0 && d != 9000 {
				t.Fatalf("packet %d: timestamp step %d", i, d)
			}
			if d := (pic - prevPic) & 0x7fff; d > 1 {
				t.Fatalf("packet %d: picture ID step %d", i, d)
			}
			if d := due.Sub(prevDue); d != 0 && d != 100*time.Millisecond {
				t.Fatalf("packet %d: due step %s", i, d)
			}
		}
		prevSeq, prevTS, prevPic, prevDue = seq, ts, pic, due
	}
	if tr.loop != 3 || tr.frames != 33 {
		t.Fatalf("loop %d frames %d", tr.loop, tr.frames)
	}
}

func TestSenderReport(t *testing.T) {
	buf := make([]byte, 1500)
	n := buildSenderReport(buf, 7, time.Unix(1700000000, 500_000_000), 1234, 10, 1000, "abc")
	if n%4 != 0 || n != 28+4+4+2+3+3 { // SR, SDES header, SSRC, item, padding
		t.Fatalf("length %d", n)
	}
	if buf[1] != 200 || binary.BigEndian.Uint16(buf[2:]) != 6 || buf[29] != 202 {
		t.Fatalf("headers % x", buf[:32])
	}
	if got := int(binary.BigEndian.Uint16(buf[30:])+1) * 4; 28+got != n {
		t.Fatalf("SDES length field says %d bytes, packet has %d", got, n-28)
	}
	if ntp := binary.BigEndian.Uint64(buf[8:]); ntp>>32 != 1700000000+2208988800 || uint32(ntp) != 1<<31 {
		t.Fatalf("ntp %x", ntp)
	}
}

// TestSendPacesToUDP replays a loop to a local socket for a short time and
// checks the datagrams arrive, in order, as counted.
func TestSendPacesToUDP(t *testing.T) {
	v := testVideo(t)
	m := &Media{Version: mediaVersion, Video: v, Audio: v}
	m.Audio.Kind = "audio"
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dest := conn.LocalAddr().String()
	got := map[uint32]int{}
	rtcp := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if buf[1] == 200 {
				rtcp++
				continue
			}
			got[binary.BigEndian.Uint32(buf[8:])]++
			_ = n
		}
	}()
	specs := []TrackSpec{{SSRC: 1, PayloadType: 96, Kind: "video", Dest: dest}, {SSRC: 2, PayloadType: 111, Kind: "audio", Dest: dest}}
	res, err := Send(context.Background(), m, specs, SendOptions{Duration: 1500 * time.Millisecond, Stagger: 50 * time.Millisecond,
		Workers: 2, RTCPInterval: 500 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	conn.Close()
	<-done
	// 1.5 s at 20 packets/s per track, less the start phase.
	for _, tr := range res.PerTrack {
		if tr.Packets < 26 || tr.Packets > 30 || got[tr.SSRC] != int(tr.Packets) {
			t.Errorf("track %d: sent %d, received %d", tr.SSRC, tr.Packets, got[tr.SSRC])
		}
		if tr.MediaS < 1.3 || tr.MediaS > 1.6 {
			t.Errorf("track %d: media %.2fs", tr.SSRC, tr.MediaS)
		}
	}
	if res.RTCPSent == 0 || rtcp != int(res.RTCPSent) || res.Datagrams != res.Packets+res.RTCPSent {
		t.Errorf("rtcp sent %d received %d; datagrams %d packets %d", res.RTCPSent, rtcp, res.Datagrams, res.Packets)
	}
	if res.ByDest[dest] != res.Datagrams {
		t.Errorf("by_dest %v, datagrams %d", res.ByDest, res.Datagrams)
	}
}

func TestSendRejectsBadSpecs(t *testing.T) {
	v := testVideo(t)
	m := &Media{Version: mediaVersion, Video: v, Audio: v}
	for name, specs := range map[string][]TrackSpec{
		"kind":  {{SSRC: 1, Kind: "data", Dest: "127.0.0.1:9"}},
		"dest":  {{SSRC: 1, Kind: "video", Dest: "nowhere"}},
		"dup":   {{SSRC: 1, Kind: "video", Dest: "127.0.0.1:9"}, {SSRC: 1, Kind: "audio", Dest: "127.0.0.1:9"}},
		"empty": nil,
	} {
		if _, err := Send(context.Background(), m, specs, SendOptions{Duration: time.Millisecond}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLagHistogram(t *testing.T) {
	var h lagHist
	for i := 0; i < 99; i++ {
		h.add(time.Millisecond)
	}
	h.add(50 * time.Millisecond)
	s := h.stats()
	if s.P50 != 1 || s.P99 != 50 || s.Max != 50 || s.Over != 1 {
		t.Fatalf("%+v", s)
	}
}

// TestEncodeAndSendCLI runs the real encoder (a 1-second loop) and the send
// command with a JSON spec on stdin.
func TestEncodeAndSendCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gst-launch-1.0")
	}
	if _, err := exec.LookPath("gst-launch-1.0"); err != nil {
		t.Skip("gst-launch-1.0 not installed")
	}
	dir := t.TempDir()
	media := filepath.Join(dir, "m.gob")
	var out, errb bytes.Buffer
	if rc := run([]string{"encode", "-out", media, "-seconds", "1"}, nil, &out, &errb); rc != 0 {
		t.Fatalf("encode: %d: %s", rc, errb.String())
	}
	m, err := LoadMedia(media)
	if err != nil {
		t.Fatal(err)
	}
	if m.Video.Frames != 30 || m.Audio.Frames != 50 || m.Video.Pictures != 30 {
		t.Fatalf("video frames %d pictures %d, audio frames %d", m.Video.Frames, m.Video.Pictures, m.Audio.Frames)
	}
	if br := m.Video.Bitrate(); br < 300_000 || br > 3_000_000 {
		t.Errorf("video bitrate %.0f", br)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	spec := `{"tracks":[{"ssrc":5,"payload_type":111,"kind":"audio","dest":"` + conn.LocalAddr().String() + `"}]}`
	out.Reset()
	errb.Reset()
	if rc := run([]string{"send", "-media", media, "-spec", "-", "-duration", "300ms", "-stagger", "0", "-per-track"}, strings.NewReader(spec), &out, &errb); rc != 0 {
		t.Fatalf("send: %d: %s", rc, errb.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.Tracks != 1 || res.Packets < 10 || len(res.PerTrack) != 1 {
		t.Fatalf("%+v", res)
	}
}

// TestPacketizeAndPerTrackMedia packetizes two small WebM files and sends
// each to its own track from one spec.
func TestPacketizeAndPerTrackMedia(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gst-launch-1.0")
	}
	launch, err := exec.LookPath("gst-launch-1.0")
	if err != nil {
		t.Skip("gst-launch-1.0 not installed")
	}
	dir := t.TempDir()
	var gobs []string
	for i, pattern := range []string{"zone-plate kx2=20 ky2=20 kt=1", "smpte horizontal-speed=3"} {
		webm := filepath.Join(dir, fmt.Sprintf("p%d.webm", i))
		desc := "videotestsrc pattern=" + pattern + " num-buffers=30 ! video/x-raw,width=320,height=180,framerate=30/1 ! " +
			"vp8enc deadline=1 ! webmmux name=m ! filesink location=" + webm +
			" audiotestsrc num-buffers=50 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20 ! m."
		if out, err := exec.Command(launch, append([]string{"-q"}, strings.Fields(desc)...)...).CombinedOutput(); err != nil {
			t.Fatalf("render: %v: %s", err, out)
		}
		g := filepath.Join(dir, fmt.Sprintf("p%d.gob", i))
		var out, errb bytes.Buffer
		if rc := run([]string{"packetize", "-in", webm, "-out", g, "-seconds", "1s"}, nil, &out, &errb); rc != 0 {
			t.Fatalf("packetize: %d: %s", rc, errb.String())
		}
		m, err := LoadMedia(g)
		if err != nil {
			t.Fatal(err)
		}
		if m.Video.Frames != 30 || m.Video.Pictures != 30 || m.Audio.Frames < 48 || m.Audio.Frames > 50 || m.Video.LoopTS != 90000 {
			t.Fatalf("p%d: video frames %d pictures %d loop %d, audio frames %d", i, m.Video.Frames, m.Video.Pictures, m.Video.LoopTS, m.Audio.Frames)
		}
		gobs = append(gobs, g)
	}
	if _, err := Packetize(context.Background(), filepath.Join(dir, "p0.webm"), 0); err == nil {
		t.Error("zero loop accepted")
	}
	specs := []TrackSpec{{SSRC: 1, Kind: "video", MediaFile: gobs[0]}, {SSRC: 2, Kind: "video", MediaFile: gobs[1]},
		{SSRC: 3, Kind: "audio", MediaFile: gobs[0]}, {SSRC: 4, Kind: "audio"}}
	if err := loadTrackMedia(specs, gobs[0]); err != nil {
		t.Fatal(err)
	}
	if specs[0].media != nil || specs[1].media == nil || specs[2].media != nil || specs[3].media != nil || !missingMedia(specs) {
		t.Fatalf("default file must stay the default, the other loaded once: %+v", specs)
	}
	specs[3].MediaFile = filepath.Join(dir, "missing.gob")
	if err := loadTrackMedia(specs, gobs[0]); err == nil {
		t.Fatal("missing media file accepted")
	}
	// The per-track media is what a track replays.
	m0, _ := LoadMedia(gobs[0])
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dest := conn.LocalAddr().String()
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	m1, _ := LoadMedia(gobs[1])
	two := []TrackSpec{{SSRC: 1, PayloadType: 96, Kind: "video", Dest: dest}, {SSRC: 2, PayloadType: 96, Kind: "video", Dest: dest, media: m1}}
	res, err := Send(context.Background(), m0, two, SendOptions{Duration: 1100 * time.Millisecond, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	b0, b1 := res.PerTrack[0].Bytes, res.PerTrack[1].Bytes
	if res.PerTrack[0].Frames < 30 || res.PerTrack[1].Frames < 30 || b0 == b1 {
		t.Fatalf("both tracks sent the same stream? %+v", res.PerTrack)
	}
}

// TestHoldFirst: the first packet is due HoldFirst late, the next ones on
// the original schedule (so they follow at once, in a burst); the spec
// reads the hold as a Go duration.
func TestHoldFirst(t *testing.T) {
	var spec TrackSpec
	if err := json.Unmarshal([]byte(`{"ssrc":1,"kind":"audio","hold_first":"300ms"}`), &spec); err != nil {
		t.Fatal(err)
	}
	if time.Duration(spec.HoldFirst) != 300*time.Millisecond {
		t.Fatalf("hold_first %v", time.Duration(spec.HoldFirst))
	}
	for _, bad := range []string{`{"hold_first":"soon"}`, `{"hold_first":"-1s"}`, `{"hold_first":300}`} {
		if err := json.Unmarshal([]byte(bad), &spec); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	s := testVideo(t)
	tr := &track{spec: TrackSpec{SSRC: 1, HoldFirst: Duration(300 * time.Millisecond)}, st: &s}
	tr.start = time.Unix(1000, 0)
	tr.schedule()
	if want := tr.start.Add(s.Packets[0].At + 300*time.Millisecond); !tr.due.Equal(want) {
		t.Fatalf("first due %v, want %v", tr.due, want)
	}
	buf := make([]byte, 1500)
	tr.build(buf)
	tr.schedule()
	if want := tr.start.Add(s.Packets[1].At); !tr.due.Equal(want) {
		t.Fatalf("second due %v, want %v (the original schedule)", tr.due, want)
	}
}
