package ingest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// FuzzRouteRTP feeds arbitrary datagrams through a live room's routing:
// classification, SSRC lookup, header parsing, RTX unwrapping, keyframe
// detection, rewriting and the push into GStreamer. Nothing may panic, and every
// datagram is accounted exactly once.
func FuzzRouteRTP(f *testing.F) {
	sr, _ := (&rtcp.SenderReport{SSRC: 1111, NTPTime: 1 << 40, RTPTime: 5}).Marshal()
	f.Add(rtpPacket(f, 96, 1, 1000, 1111, []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}))
	f.Add(rtpPacket(f, 111, 1, 1000, 2222, []byte{0xfc, 0xff, 0xfe}))
	f.Add(rtpPacket(f, 97, 1, 1000, 1111, []byte{0x10}))      // wrong payload type
	f.Add(rtpPacket(f, 96, 1, 1000, 999, []byte{0x10}))       // unknown SSRC
	f.Add([]byte{0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 4, 87, 9}) // padding byte larger than the packet
	f.Add(sr)
	f.Add([]byte("garbage that is not RTP"))
	f.Add(rtpPacket(f, 97, 7, 1000, 3333, []byte{0, 1, 0x10, 0x00, 0x9d, 0x01, 0x2a})) // RTX: packet 1 resent
	f.Add(rtpPacket(f, 97, 8, 1000, 3333, []byte{0}))                                  // RTX without a whole sequence number
	f.Add([]byte{0xa0, 97, 0, 9, 0, 0, 0, 1, 0, 0, 13, 5, 0, 0, 0, 4})                 // RTX padding only
	var room *Room
	f.Fuzz(func(t *testing.T, data []byte) {
		if room == nil {
			r, err := NewRoom(RoomConfig{ID: "fuzz", Listen: netip.MustParseAddrPort("127.0.0.1:0"), DataDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			room = r
			if _, err := r.AddTrack(TrackInfo{ID: "v", Participant: "p", Codec: "vp8", SSRC: 1111, PayloadType: 96, RTXSSRC: 3333, RTXPayloadType: 97}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.AddTrack(TrackInfo{ID: "a", Participant: "p", Codec: "opus", SSRC: 2222, PayloadType: 111}); err != nil {
				t.Fatal(err)
			}
		}
		before := room.Counters()
		pkt := append([]byte(nil), data...)
		room.handleDatagram(pkt, netip.MustParseAddrPort("127.0.0.1:5000"), time.Now())
		after := room.Counters()
		if after.Datagrams != before.Datagrams+1 {
			t.Fatalf("datagram not counted")
		}
		classes := (after.RTP - before.RTP) + (after.RTCP - before.RTCP) + (after.Malformed - before.Malformed) + (after.Oversized - before.Oversized)
		if classes != 1 && !(after.RTP > before.RTP && after.Malformed > before.Malformed) {
			t.Fatalf("datagram accounted %d times: %+v -> %+v", classes, before, after)
		}
	})
}
