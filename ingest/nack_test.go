package ingest

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// lossyRelay stands between a sender and a room as an SFU on a lossy path
// would: it forwards the sender's RTP, loses every dropEvery-th packet on the
// way, keeps what it forwarded and, when resend is set, answers the room's
// NACKs by sending the packets again (once each; a resent packet is not
// lost).
type lossyRelay struct {
	in, out   *net.UDPConn
	room      *net.UDPAddr
	dropEvery int
	resend    bool
	// ignoreFirst leaves each packet's first request unanswered (as if the
	// resent packet were lost again).
	ignoreFirst bool
	asked       map[uint16]bool
	padEvery    int    // if > 0, a padding-only packet follows every padEvery-th packet
	withExt     bool   // every packet carries one-byte header extensions (abs-send-time, mid)
	shift       uint16 // padding packets inserted so far

	mu      sync.Mutex
	history map[uint16][]byte
	frames  int // marker bits among the packets the sender sent (its frames)
	dropped int
	nacked  int // packets the room asked for
	resent  int
}

func newLossyRelay(t *testing.T, roomPort, dropEvery, padEvery int, resend bool) *lossyRelay {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	r := &lossyRelay{in: listen(), out: listen(), room: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: roomPort},
		dropEvery: dropEvery, padEvery: padEvery, resend: resend, history: map[uint16][]byte{}, asked: map[uint16]bool{}}
	go r.forward()
	go r.answer()
	return r
}

// withHeaderExtensions returns pkt (without CSRCs or extensions) with a
// one-byte extension block (RFC 8285) as browsers and SFUs send: an
// abs-send-time (id 3) and a mid (id 9).
func withHeaderExtensions(pkt []byte) []byte {
	block := []byte{0xbe, 0xde, 0, 2, 0x32, 1, 2, 3, 0x90, '0', 0, 0}
	out := append(append(append(make([]byte, 0, len(pkt)+len(block)), pkt[:12]...), block...), pkt[12:]...)
	out[0] |= 0x10
	return out
}

func (r *lossyRelay) port() int { return r.in.LocalAddr().(*net.UDPAddr).Port }

func (r *lossyRelay) forward() {
	buf := make([]byte, 2048)
	for n := 0; ; n++ {
		size, err := r.in.Read(buf)
		if err != nil {
			return
		}
		pkt := append([]byte(nil), buf[:size]...)
		if size < 12 {
			continue
		}
		r.mu.Lock()
		seq := binary.BigEndian.Uint16(pkt[2:4]) + r.shift
		ext := r.withExt
		r.mu.Unlock()
		binary.BigEndian.PutUint16(pkt[2:4], seq)
		var pad []byte
		if r.padEvery > 0 && n%r.padEvery == r.padEvery-1 {
			// A bandwidth probe as SFUs send them on a video SSRC: the next
			// sequence number, the last timestamp, no payload, 224 bytes of padding.
			pad = make([]byte, 12+224)
			copy(pad, pkt[:12])
			pad[0] = 0x80 | 0x20
			pad[1] = pkt[1] & 0x7f
			binary.BigEndian.PutUint16(pad[2:4], seq+1)
			pad[len(pad)-1] = 224
		}
		if ext {
			pkt = withHeaderExtensions(pkt)
			if pad != nil {
				pad = withHeaderExtensions(pad)
			}
		}
		r.mu.Lock()
		if pad != nil {
			r.shift++
		}
		r.history[binary.BigEndian.Uint16(pkt[2:4])] = pkt
		if pkt[1]&0x80 != 0 {
			r.frames++
		}
		drop := n > 0 && n%r.dropEvery == 0 // never the first: the room learns the source from it
		if drop {
			r.dropped++
		}
		r.mu.Unlock()
		if !drop {
			_, _ = r.out.WriteToUDP(pkt, r.room)
		}
		if pad != nil {
			r.mu.Lock()
			r.history[binary.BigEndian.Uint16(pad[2:4])] = pad
			r.mu.Unlock()
			_, _ = r.out.WriteToUDP(pad, r.room)
		}
	}
}

// answer reads the room's RTCP (sent back to the address the RTP came from).
func (r *lossyRelay) answer() {
	buf := make([]byte, 2048)
	for {
		size, err := r.out.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:size])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			nack, ok := p.(*rtcp.TransportLayerNack)
			if !ok {
				continue
			}
			for _, pair := range nack.Nacks {
				for _, seq := range pair.PacketList() {
					r.mu.Lock()
					r.nacked++
					pkt := r.history[seq]
					if r.ignoreFirst && !r.asked[seq] {
						r.asked[seq] = true
						pkt = nil
					} else if r.resend && pkt != nil {
						delete(r.history, seq)
						r.resent++
					} else {
						pkt = nil
					}
					r.mu.Unlock()
					if pkt != nil {
						_, _ = r.out.WriteToUDP(pkt, r.room)
					}
				}
			}
		}
	}
}

func (r *lossyRelay) counts() (frames, dropped, nacked, resent int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames, r.dropped, r.nacked, r.resent
}

// videoFrames counts the video frames in a recorded file.
func videoFrames(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ffprobe %s: frame count %q: %v", path, out, err)
	}
	return n
}

// relayedCamera records one VP8 camera (SSRC 1111, one keyframe for the
// whole run, so only retransmission can repair a loss) of frames frames
// sent through the relay newRelay builds for the room's port, and returns
// the frames recorded, the relay and the track's stats.
func relayedCamera(t *testing.T, tweak func(*RoomConfig), frames int, newRelay func(roomPort int) *lossyRelay) (int, *lossyRelay, *TrackStats) {
	t.Helper()
	r := newTestRoomWith(t, tweak)
	if _, err := r.AddTrack(TrackInfo{ID: "cam", Participant: "alice", Codec: "vp8", SSRC: 1111, PayloadType: 96}); err != nil {
		t.Fatal(err)
	}
	rec, err := r.StartRecording("r1", "")
	if err != nil {
		t.Fatal(err)
	}
	relay := newRelay(int(r.Addr().Port()))
	cmd := gstSender(t, context.Background(), fmt.Sprintf("videotestsrc is-live=true num-buffers=%d pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! "+
		"vp8enc deadline=1 keyframe-max-dist=1000 target-bitrate=600000 ! rtpvp8pay pt=96 ssrc=1111 mtu=400 ! udpsink host=127.0.0.1 port=%d", frames, relay.port()))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sender: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the jitterbuffer's latency and the last retransmissions
	info, err := r.StopRecording(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Files) != 1 || info.Files[0].State != FileFinal {
		t.Fatalf("recording = %+v", info)
	}
	return videoFrames(t, filepath.Join(r.cfg.DataDir, info.Files[0].Path)), relay, r.Tracks()[0].Stats
}

// A path that loses one packet in 10 between the SFU and the room: with
// retransmission requests answered, the recording keeps every frame the
// sender sent; without them, a VP8 stream whose sender ignores keyframe
// requests loses everything from the first loss to its next keyframe.
func TestNACKRecoversLostPackets(t *testing.T) {
	run := func(t *testing.T, noNACK, ignoreFirst bool) (recorded, frames, dropped, nacked, resent int, stats *TrackStats) {
		recorded, relay, stats := relayedCamera(t, func(c *RoomConfig) { c.NoNACK = noNACK; c.JitterLatency = 200 * time.Millisecond }, 180,
			func(port int) *lossyRelay {
				relay := newLossyRelay(t, port, 10, 0, true)
				relay.mu.Lock()
				relay.ignoreFirst = ignoreFirst
				relay.mu.Unlock()
				return relay
			})
		frames, dropped, nacked, resent = relay.counts()
		return recorded, frames, dropped, nacked, resent, stats
	}
	for _, retry := range []bool{false, true} {
		// retry: each packet's first request goes unanswered; the jitterbuffer asks again.
		t.Run(map[bool]string{false: "answered", true: "answered-on-retry"}[retry], func(t *testing.T) {
			recorded, frames, dropped, nacked, resent, stats := run(t, false, retry)
			t.Logf("sent %d frames, %d packets lost, %d asked for, %d resent; recorded %d frames; nack_sent %d", frames, dropped, nacked, resent, recorded, stats.NACKSent)
			if dropped < 10 {
				t.Fatalf("the relay lost only %d packets: the test needs more", dropped)
			}
			if resent < dropped*9/10 {
				t.Errorf("%d of %d lost packets were resent, want nearly all", resent, dropped)
			}
			if retry && nacked < 2*resent {
				t.Errorf("%d requests for %d packets resent on the second request", nacked, resent)
			}
			if stats.NACKSent < uint64(resent) {
				t.Errorf("track stats say %d packets asked for, the relay resent %d", stats.NACKSent, resent)
			}
			if recorded < frames-2 {
				t.Errorf("recorded %d of %d frames, want all (the last may be cut by the stop)", recorded, frames)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		recorded, frames, dropped, nacked, _, stats := run(t, true, false)
		t.Logf("sent %d frames, %d packets lost, %d asked for; recorded %d frames", frames, dropped, nacked, recorded)
		if nacked != 0 || stats.NACKSent != 0 {
			t.Errorf("with NoNACK the room asked for %d packets (stats %d), want none", nacked, stats.NACKSent)
		}
		if recorded > frames/2 {
			t.Errorf("recorded %d of %d frames without retransmission: the loss should have cost most of them", recorded, frames)
		}
	})
}

// SFUs probe bandwidth with padding-only packets in a video stream's own
// sequence space, and tag every packet with header extensions. They carry no media: the recording must keep every frame
// and ask for no more keyframes or packets than the same stream without
// them (the end of the stream itself looks like a loss).
func TestPaddingPacketsAreNotLoss(t *testing.T) {
	run := func(t *testing.T, padEvery int, ext bool) (recorded, frames int, padding uint16, st *TrackStats) {
		recorded, relay, st := relayedCamera(t, nil, 120, func(port int) *lossyRelay {
			relay := newLossyRelay(t, port, 1<<30, padEvery, false)
			relay.mu.Lock()
			relay.withExt = ext
			relay.mu.Unlock()
			return relay
		})
		frames, _, _, _ = relay.counts()
		relay.mu.Lock()
		padding = relay.shift
		relay.mu.Unlock()
		return recorded, frames, padding, st
	}
	baseRecorded, baseFrames, _, base := run(t, 0, false)
	t.Logf("without padding: recorded %d of %d frames, %d keyframe requests, %d NACKs", baseRecorded, baseFrames, base.KeyframeRequests, base.NACKSent)
	// With header extensions on every packet, probes included, the padding
	// probe must find the payload after them.
	for _, ext := range []bool{false, true} {
		recorded, frames, padding, st := run(t, 3, ext)
		t.Logf("with %d padding packets (header extensions %v): recorded %d of %d frames, %d keyframe requests, %d NACKs",
			padding, ext, recorded, frames, st.KeyframeRequests, st.NACKSent)
		if padding < 20 {
			t.Fatalf("only %d padding packets sent", padding)
		}
		if recorded < frames-1 {
			t.Errorf("header extensions %v: recorded %d of %d frames", ext, recorded, frames)
		}
		if st.KeyframeRequests > base.KeyframeRequests || st.NACKSent > base.NACKSent {
			t.Errorf("header extensions %v: padding counted as loss: %d keyframe requests and %d NACKs, against %d and %d without padding",
				ext, st.KeyframeRequests, st.NACKSent, base.KeyframeRequests, base.NACKSent)
		}
	}
}
