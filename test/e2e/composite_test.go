package e2e

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type rgb struct{ R, G, B int }

var (
	red         = rgb{255, 0, 0}
	blue        = rgb{0, 0, 255}
	green       = rgb{0, 255, 0}
	placeholder = rgb{0x2b, 0x30, 0x3b}
	black       = rgb{0, 0, 0}
)

func (c rgb) near(o rgb, tol int) bool {
	return abs(c.R-o.R) <= tol && abs(c.G-o.G) <= tol && abs(c.B-o.B) <= tol
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

type tileResp struct {
	ParticipantID string `json:"participant_id"`
	X             int    `json:"x"`
	Y             int    `json:"y"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	Content       struct {
		X, Y, Width, Height int
	} `json:"content"`
}

type layoutResp struct {
	Live   bool `json:"live"`
	Layout struct {
		Template string     `json:"template"`
		Tiles    []tileResp `json:"tiles"`
	} `json:"layout"`
}

// frameAt decodes the frame shown at second t of a file as RGB.
func frameAt(t *testing.T, path string, at float64, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", fmt.Sprintf("%.3f", at), "-i", path, "-frames:v", "1",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != w*h*3 {
		t.Fatalf("decode frame at %.2f s of %s: %v (%d bytes)", at, path, err, len(out))
	}
	return out
}

func pixel(frame []byte, w, x, y int) rgb {
	i := (y*w + x) * 3
	return rgb{int(frame[i]), int(frame[i+1]), int(frame[i+2])}
}

// checkTiles verifies, tile by tile, that the frame shows the expected
// colour inside each tile's rectangle (within 2 px of every edge) and that
// the letterbox/background just outside a lone tile is not that colour.
func checkTiles(t *testing.T, label string, frame []byte, w, h int, lay layoutResp, want map[string]rgb) {
	t.Helper()
	if len(lay.Layout.Tiles) != len(want) {
		t.Errorf("%s: %d tiles, want %d", label, len(lay.Layout.Tiles), len(want))
	}
	for _, tile := range lay.Layout.Tiles {
		c, ok := want[tile.ParticipantID]
		if !ok {
			t.Errorf("%s: unexpected tile %s", label, tile.ParticipantID)
			continue
		}
		r := tile.Content
		if c == placeholder { // the placeholder fills the whole cell, initials in the middle
			r.X, r.Y, r.Width, r.Height = tile.X, tile.Y, tile.Width, tile.Height
		}
		const in = 3 // 2 px tolerance + chroma subsampling
		points := [][2]int{{r.X + in, r.Y + in}, {r.X + r.Width - 1 - in, r.Y + in}, {r.X + in, r.Y + r.Height - 1 - in},
			{r.X + r.Width - 1 - in, r.Y + r.Height - 1 - in}}
		if c != placeholder {
			points = append(points, [2]int{r.X + r.Width/2, r.Y + r.Height/2})
		}
		for _, p := range points {
			if got := pixel(frame, w, p[0], p[1]); !got.near(c, 48) {
				t.Errorf("%s: tile %s at (%d,%d) is %v, want %v (rect %+v)", label, tile.ParticipantID, p[0], p[1], got, c, r)
			}
		}
		// 3 px outside the cell, where no other tile is, the colour must stop.
		if x := tile.X - in; x >= 0 && !covered(lay, x, tile.Y+tile.Height/2) {
			if got := pixel(frame, w, x, tile.Y+tile.Height/2); got.near(c, 48) {
				t.Errorf("%s: tile %s bleeds left of x=%d", label, tile.ParticipantID, tile.X)
			}
		}
	}
}

func covered(lay layoutResp, x, y int) bool {
	for _, t := range lay.Layout.Tiles {
		if x >= t.X && x < t.X+t.Width && y >= t.Y && y < t.Y+t.Height {
			return true
		}
	}
	return false
}

func solidSender(t *testing.T, port int, ssrc uint32, argb uint32, frames int) *sender {
	return gstLaunch(t, fmt.Sprintf("videotestsrc is-live=true pattern=solid-color foreground-color=%#x num-buffers=%d ! video/x-raw,width=640,height=360,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=15 ! rtpvp8pay pt=96 ssrc=%d ! udpsink host=127.0.0.1 port=%d",
		argb, frames, ssrc, port))
}

// redAndBlueCameras adds alice's (ssrc 1) and bob's (ssrc 2) VP8 cameras to
// room and sends them solid red and solid blue for frames frames.
func redAndBlueCameras(t *testing.T, srv *server, room roomResp, frames int) (alice, bob *sender) {
	t.Helper()
	srv.addTrack(room.ID, map[string]any{"id": "a", "participant": "alice", "kind": "video", "codec": "vp8", "ssrc": 1, "payload_type": 96})
	srv.addTrack(room.ID, map[string]any{"id": "b", "participant": "bob", "kind": "video", "codec": "vp8", "ssrc": 2, "payload_type": 96})
	return solidSender(t, room.RTP.Port, 1, 0xffff0000, frames), solidSender(t, room.RTP.Port, 2, 0xff0000ff, frames)
}

// TestCompositeGridPixels records a composite of solid-colour participants
// and checks decoded frames tile by tile against the rectangles the layout
// API reports: before and after a live layout change, a join, a mute
// (placeholder) and a leave.
func TestCompositeGridPixels(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("grid")
	port := room.RTP.Port
	srv.addTrack(room.ID, map[string]any{"id": "a", "participant": "alice", "name": "Alice", "kind": "video", "codec": "vp8", "ssrc": 1, "payload_type": 96})
	srv.addTrack(room.ID, map[string]any{"id": "b", "participant": "bob", "name": "Bob", "kind": "video", "codec": "vp8", "ssrc": 2, "payload_type": 96})
	srv.addTrack(room.ID, map[string]any{"id": "c", "participant": "carol", "name": "Carol", "kind": "audio", "codec": "opus", "ssrc": 3, "payload_type": 111})
	solidSender(t, port, 1, 0xffff0000, 30*20)
	solidSender(t, port, 2, 0xff0000ff, 30*20)
	opusSender(t, port, 3, 50*20)
	time.Sleep(1500 * time.Millisecond)

	var rec struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		Encodings []struct {
			Path         string `json:"path"`
			State        string `json:"state"`
			VideoEncoder struct {
				Element  string `json:"element"`
				Hardware bool   `json:"hardware"`
			} `json:"video_encoder"`
		} `json:"encodings"`
	}
	srv.must(201, "POST", "/v1/rooms/grid/recordings", map[string]any{"id": "comp", "kind": "composite"}, &rec)
	if len(rec.Encodings) != 1 || rec.Encodings[0].VideoEncoder.Element != "x264enc" || rec.Encodings[0].VideoEncoder.Hardware {
		t.Fatalf("encoding: %+v (want the software x264enc on this machine)", rec.Encodings)
	}
	start := time.Now()
	phase := func() float64 { return time.Since(start).Seconds() }
	var grid, speaker, joined, muted, left layoutResp
	srv.must(200, "GET", "/v1/rooms/grid/layout", nil, &grid)
	if !grid.Live || grid.Layout.Template != "grid" {
		t.Fatalf("layout: %+v", grid)
	}
	time.Sleep(2 * time.Second)
	tSpeaker := phase()
	srv.must(200, "PUT", "/v1/rooms/grid/layout", map[string]any{"template": "speaker", "focus": "bob"}, &speaker)
	time.Sleep(2 * time.Second)
	tJoin := phase()
	srv.addTrack(room.ID, map[string]any{"id": "d", "participant": "dave", "name": "Dave", "kind": "video", "codec": "vp8", "ssrc": 4, "payload_type": 96})
	solidSender(t, port, 4, 0xff00ff00, 30*20)
	time.Sleep(2500 * time.Millisecond)
	srv.must(200, "GET", "/v1/rooms/grid/layout", nil, &joined)
	tMute := phase()
	srv.must(200, "PATCH", "/v1/rooms/grid/tracks/a", map[string]any{"muted": true}, nil)
	time.Sleep(2 * time.Second)
	srv.must(200, "GET", "/v1/rooms/grid/layout", nil, &muted)
	tLeave := phase()
	srv.must(200, "DELETE", "/v1/rooms/grid/tracks/b", nil, nil)
	time.Sleep(2 * time.Second)
	srv.must(200, "GET", "/v1/rooms/grid/layout", nil, &left)
	tEnd := phase()
	var final struct {
		State     string `json:"state"`
		Encodings []struct {
			Path, State string
		} `json:"encodings"`
	}
	srv.must(200, "DELETE", "/v1/rooms/grid/recordings/comp", nil, &final)
	if final.State != "stopped" || final.Encodings[0].State != "final" {
		t.Fatalf("stopped recording: %+v", final)
	}
	path := filepath.Join(srv.dataDir, final.Encodings[0].Path)
	p := ffprobe(t, path)
	if len(p.Streams) != 2 || p.Streams[0].CodecName != "h264" || p.Streams[0].Width != 1280 || p.Streams[1].CodecName != "aac" {
		t.Fatalf("streams: %+v", p.Streams)
	}
	if d := duration(p); math.Abs(d-tEnd) > 1.0 {
		t.Errorf("duration %.2f s, recorded for %.2f s", d, tEnd)
	}
	const w, h = 1280, 720
	// Sample each phase in its second half, well clear of the change.
	checkTiles(t, "grid", frameAt(t, path, tSpeaker-0.7, w, h), w, h, grid,
		map[string]rgb{"alice": red, "bob": blue, "carol": placeholder})
	checkTiles(t, "speaker", frameAt(t, path, tJoin-0.5, w, h), w, h, speaker,
		map[string]rgb{"alice": red, "bob": blue, "carol": placeholder})
	checkTiles(t, "join", frameAt(t, path, tMute-0.4, w, h), w, h, joined,
		map[string]rgb{"alice": red, "bob": blue, "carol": placeholder, "dave": green})
	checkTiles(t, "mute", frameAt(t, path, tLeave-0.5, w, h), w, h, muted,
		map[string]rgb{"alice": placeholder, "bob": blue, "carol": placeholder, "dave": green})
	checkTiles(t, "leave", frameAt(t, path, tEnd-0.6, w, h), w, h, left,
		map[string]rgb{"alice": placeholder, "carol": placeholder, "dave": green})
	// The speaker layout really changed the geometry: bob fills the stage.
	for _, tile := range speaker.Layout.Tiles {
		if tile.ParticipantID == "bob" && tile.Width < 1000 {
			t.Errorf("speaker layout: bob's tile %+v is not the stage", tile)
		}
	}
	_ = black
}

// stopCompositeFile stops composite recording id of room and returns the
// path of its one encoding's file, which must be final.
func stopCompositeFile(t *testing.T, srv *server, room, id string) string {
	t.Helper()
	var final struct {
		Encodings []struct{ Path, State string } `json:"encodings"`
	}
	srv.must(200, "DELETE", "/v1/rooms/"+room+"/recordings/"+id, nil, &final)
	if len(final.Encodings) != 1 || final.Encodings[0].State != "final" {
		t.Fatalf("stopped recording: %+v", final)
	}
	return filepath.Join(srv.dataDir, final.Encodings[0].Path)
}

// TestCompositeMixesEveryCodec: a VP8, a VP9 and an H.264 camera each get
// their picture in the composite, in their colours; then the VP8 camera's
// track changes codec to H.264 (a new segment: its tile is rebuilt with the
// new decoder) and shows the new camera's colour. The H.264 senders are
// OpenH264 (browsers' software H.264: no colour description in its
// stream), one at 720p. Before, an H.264 track (avc3, as the room parses
// it) could not link to avdec_h264 and the participant was left out; an
// unsignalled 720p stream would have been converted from a BT.709 guessed
// by its size.
func TestCompositeMixesEveryCodec(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("codecs")
	port := room.RTP.Port
	srv.addTrack(room.ID, map[string]any{"id": "a", "participant": "vp8", "kind": "video", "codec": "vp8", "ssrc": 1, "payload_type": 96})
	srv.addTrack(room.ID, map[string]any{"id": "b", "participant": "vp9", "kind": "video", "codec": "vp9", "ssrc": 2, "payload_type": 98})
	srv.addTrack(room.ID, map[string]any{"id": "c", "participant": "h264", "kind": "video", "codec": "h264", "ssrc": 3, "payload_type": 102})
	const frames = 30 * 12
	openH264 := func(argb uint32, w, h int, ssrc uint32) {
		gstLaunch(t, fmt.Sprintf("videotestsrc is-live=true pattern=solid-color foreground-color=%#x num-buffers=%d ! "+
			"video/x-raw,format=I420,width=%d,height=%d,framerate=30/1 ! openh264enc gop-size=15 ! "+
			"rtph264pay pt=102 ssrc=%d config-interval=-1 ! udpsink host=127.0.0.1 port=%d", argb, frames, w, h, ssrc, port))
	}
	vp8 := solidSender(t, port, 1, 0xffff0000, frames)
	gstLaunch(t, fmt.Sprintf("videotestsrc is-live=true pattern=solid-color foreground-color=0xff0000ff num-buffers=%d ! "+
		"video/x-raw,width=640,height=360,framerate=30/1 ! vp9enc deadline=1 cpu-used=8 keyframe-max-dist=15 ! "+
		"rtpvp9pay pt=98 ssrc=2 ! udpsink host=127.0.0.1 port=%d", frames, port))
	openH264(0xff00ff00, 1280, 720, 3)
	time.Sleep(1500 * time.Millisecond)
	srv.must(201, "POST", "/v1/rooms/codecs/recordings", map[string]any{"id": "comp", "kind": "composite"}, nil)
	start := time.Now()
	var lay layoutResp
	srv.must(200, "GET", "/v1/rooms/codecs/layout", nil, &lay)
	time.Sleep(4 * time.Second)
	tChange := time.Since(start).Seconds()
	srv.must(200, "PATCH", "/v1/rooms/codecs/tracks/a", map[string]any{"ssrc": 11, "codec": "h264", "payload_type": 102}, nil)
	vp8.stop()
	openH264(0xffffff00, 640, 360, 11)
	time.Sleep(3 * time.Second)
	var changed layoutResp
	srv.must(200, "GET", "/v1/rooms/codecs/layout", nil, &changed)
	tEnd := time.Since(start).Seconds()
	path := stopCompositeFile(t, srv, "codecs", "comp")
	const w, h = 1280, 720
	checkTiles(t, "three codecs", frameAt(t, path, tChange-0.5, w, h), w, h, lay,
		map[string]rgb{"vp8": red, "vp9": blue, "h264": green})
	checkTiles(t, "vp8 camera now H.264", frameAt(t, path, tEnd-0.5, w, h), w, h, changed,
		map[string]rgb{"vp8": {255, 255, 0}, "vp9": blue, "h264": green})
}

// TestCompositeFirstFrameShowsEveryone: a composite started in a room
// where everyone is already sending begins with every tile shown — its
// placeholder or its video — and no empty cell: its first frame is checked
// at each tile's corners (clear of the initials).
func TestCompositeFirstFrameShowsEveryone(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("first")
	port := room.RTP.Port
	colours := map[string]rgb{"alice": red, "bob": blue, "dave": green}
	ssrc := uint32(1)
	for _, p := range []string{"alice", "bob", "dave"} {
		srv.addTrack(room.ID, map[string]any{"id": p, "participant": p, "kind": "video", "codec": "vp8", "ssrc": ssrc, "payload_type": 96})
		c := colours[p]
		solidSender(t, port, ssrc, 0xff000000|uint32(c.R)<<16|uint32(c.G)<<8|uint32(c.B), 30*10)
		ssrc++
	}
	srv.addTrack(room.ID, map[string]any{"id": "carol", "participant": "carol", "kind": "audio", "codec": "opus", "ssrc": ssrc, "payload_type": 111})
	opusSender(t, port, ssrc, 50*10)
	colours["carol"] = placeholder
	time.Sleep(1500 * time.Millisecond)
	srv.must(201, "POST", "/v1/rooms/first/recordings", map[string]any{"id": "comp", "kind": "composite"}, nil)
	var lay layoutResp
	srv.must(200, "GET", "/v1/rooms/first/layout", nil, &lay)
	time.Sleep(2 * time.Second)
	path := stopCompositeFile(t, srv, "first", "comp")
	const w, h = 1280, 720
	frame := frameAt(t, path, 0, w, h)
	if len(lay.Layout.Tiles) != len(colours) {
		t.Fatalf("layout: %+v", lay.Layout.Tiles)
	}
	for _, tile := range lay.Layout.Tiles {
		const in = 4
		for _, p := range [][2]int{{tile.X + in, tile.Y + in}, {tile.X + tile.Width - 1 - in, tile.Y + tile.Height - 1 - in}} {
			got := pixel(frame, w, p[0], p[1])
			if !got.near(placeholder, 24) && !got.near(colours[tile.ParticipantID], 48) {
				t.Errorf("first frame: %s's tile at (%d,%d) is %v: neither its placeholder %v nor its video %v",
					tile.ParticipantID, p[0], p[1], got, placeholder, colours[tile.ParticipantID])
			}
		}
	}
}

// TestCompositeFitContainAndCover: a 4:3 camera is letterboxed with
// "contain" (its aspect reaches the layout) and fills its cell, cropped,
// with "cover".
func TestCompositeFitContainAndCover(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("fit")
	srv.addTrack(room.ID, map[string]any{"id": "a", "participant": "alice", "kind": "video", "codec": "vp8", "ssrc": 1, "payload_type": 96})
	srv.addTrack(room.ID, map[string]any{"id": "b", "participant": "bob", "kind": "video", "codec": "vp8", "ssrc": 2, "payload_type": 96})
	gstLaunch(t, fmt.Sprintf("videotestsrc is-live=true pattern=solid-color foreground-color=0xffff0000 num-buffers=360 ! video/x-raw,width=640,height=480,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=15 ! rtpvp8pay pt=96 ssrc=1 ! udpsink host=127.0.0.1 port=%d", room.RTP.Port))
	solidSender(t, room.RTP.Port, 2, 0xff0000ff, 360)
	time.Sleep(1500 * time.Millisecond)
	var rec struct {
		Encodings []struct{ Path string } `json:"encodings"`
	}
	srv.must(201, "POST", "/v1/rooms/fit/recordings", map[string]any{"id": "c", "kind": "composite"}, &rec)
	start := time.Now()
	time.Sleep(2500 * time.Millisecond) // the decoded size is known after the first frames
	var contain, cover layoutResp
	srv.must(200, "GET", "/v1/rooms/fit/layout", nil, &contain)
	tCover := time.Since(start).Seconds()
	srv.must(200, "PUT", "/v1/rooms/fit/layout", map[string]any{"template": "grid", "fit": "cover"}, &cover)
	time.Sleep(2500 * time.Millisecond)
	// Cover crops rather than stretches: the 640x480 camera loses 60 rows
	// at the top and bottom to fit a 16:9 cell.
	res, err := http.Get(srv.base + "/v1/rooms/fit/pipeline.dot")
	if err != nil {
		t.Fatal(err)
	}
	dot, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(dot), "top=60") || !strings.Contains(string(dot), "bottom=60") {
		t.Errorf("fit=cover did not crop the 4:3 camera to 16:9 (videocrop top/bottom=60 not in the pipeline graph)")
	}
	tEnd := time.Since(start).Seconds()
	srv.must(200, "DELETE", "/v1/rooms/fit/recordings/c", nil, nil)
	for _, tile := range contain.Layout.Tiles {
		ratio := float64(tile.Content.Width) / float64(tile.Content.Height)
		want := 16.0 / 9
		if tile.ParticipantID == "alice" {
			want = 4.0 / 3
		}
		if math.Abs(ratio-want) > 0.05 {
			t.Errorf("contain: %s content %dx%d has aspect %.2f, want %.2f", tile.ParticipantID, tile.Content.Width, tile.Content.Height, ratio, want)
		}
	}
	path := filepath.Join(srv.dataDir, rec.Encodings[0].Path)
	const w, h = 1280, 720
	checkTiles(t, "contain", frameAt(t, path, tCover-0.5, w, h), w, h, contain, map[string]rgb{"alice": red, "bob": blue})
	checkTiles(t, "cover", frameAt(t, path, tEnd-0.6, w, h), w, h, cover, map[string]rgb{"alice": red, "bob": blue})
	for _, tile := range cover.Layout.Tiles {
		if tile.Content.Width != tile.Width || tile.Content.Height != tile.Height {
			t.Errorf("cover: %s content %+v does not fill its cell %dx%d", tile.ParticipantID, tile.Content, tile.Width, tile.Height)
		}
	}
}

// TestCompositeStartedWithKeyframeInFlight starts a composite while the
// sender's first keyframe still waits in the jitter buffer: that frame's
// timestamp is before the compositor's start, and compositor never consumes
// such a frame, which blocked the tile on its placeholder for good (the
// decoder stuck behind it). Those frames must be dropped, the tile must
// show the video.
func TestCompositeStartedWithKeyframeInFlight(t *testing.T) {
	srv := startServer(t, "--jitter-ms", "1000") // the keyframe waits 1 s in the jitter buffer
	room := srv.createRoom("inflight")
	srv.addTrack(room.ID, map[string]any{"id": "a", "participant": "alice", "kind": "video", "codec": "vp8", "ssrc": 1, "payload_type": 96})
	solidSender(t, room.RTP.Port, 1, 0xffff0000, 30*30)
	waitFor(t, 10*time.Second, "first packet", func() bool {
		var tr trackResp
		srv.must(200, "GET", "/v1/rooms/inflight/tracks/a", nil, &tr)
		return statNum(tr, "packets") > 0
	})
	var rec struct {
		Encodings []struct{ Path string } `json:"encodings"`
	}
	srv.must(201, "POST", "/v1/rooms/inflight/recordings", map[string]any{"id": "c", "kind": "composite"}, &rec)
	start := time.Now()
	time.Sleep(4 * time.Second)
	var lay layoutResp
	srv.must(200, "GET", "/v1/rooms/inflight/layout", nil, &lay)
	tEnd := time.Since(start).Seconds()
	srv.must(200, "DELETE", "/v1/rooms/inflight/recordings/c", nil, nil)
	path := filepath.Join(srv.dataDir, rec.Encodings[0].Path)
	const w, h = 1280, 720
	checkTiles(t, "after 3 s", frameAt(t, path, tEnd-1, w, h), w, h, lay, map[string]rgb{"alice": red})
}

// TestCompositeStallAndChurn: one sender stalls (its tile turns into the
// placeholder while the composite keeps its frame rate), and tracks joining
// and leaving many times leave no pads or elements behind.
func TestCompositeStallAndChurn(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("churn")
	_, stalling := redAndBlueCameras(t, srv, room, 30*30)
	time.Sleep(1500 * time.Millisecond)
	var rec struct {
		Encodings []struct{ Path string } `json:"encodings"`
	}
	srv.must(201, "POST", "/v1/rooms/churn/recordings", map[string]any{"id": "c", "kind": "composite"}, &rec)
	start := time.Now()
	time.Sleep(2 * time.Second)
	elements := func() int {
		res, err := http.Get(srv.base + "/v1/rooms/churn/pipeline.dot")
		if err != nil {
			t.Fatal(err)
		}
		dot, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return strings.Count(string(dot), "subgraph cluster_")
	}
	stalling.stop() // bob's camera freezes: no more packets, track still registered
	tStall := time.Since(start).Seconds()
	// Count once bob's tile shows its placeholder (attached only while shown).
	time.Sleep(1500 * time.Millisecond)
	before := elements()
	for i := 0; i < 12; i++ {
		id := fmt.Sprintf("x%d", i)
		srv.addTrack(room.ID, map[string]any{"id": id, "participant": "guest" + id, "kind": "video", "codec": "vp8", "ssrc": 100 + i, "payload_type": 96})
		srv.addTrack(room.ID, map[string]any{"id": id + "a", "participant": "guest" + id, "kind": "audio", "codec": "opus", "ssrc": 200 + i, "payload_type": 111})
		time.Sleep(150 * time.Millisecond)
		srv.must(200, "DELETE", "/v1/rooms/churn/tracks/"+id, nil, nil)
		srv.must(200, "DELETE", "/v1/rooms/churn/tracks/"+id+"a", nil, nil)
	}
	time.Sleep(1500 * time.Millisecond)
	if after := elements(); after != before {
		t.Errorf("pipeline has %d elements/bins after 12 joins and leaves, %d before", after, before)
	}
	var lay layoutResp
	srv.must(200, "GET", "/v1/rooms/churn/layout", nil, &lay)
	tEnd := time.Since(start).Seconds()
	srv.must(200, "DELETE", "/v1/rooms/churn/recordings/c", nil, nil)
	path := filepath.Join(srv.dataDir, rec.Encodings[0].Path)
	t.Logf("recorded %.2f s; file %.2f s", tEnd, duration(ffprobe(t, path)))
	const w, h = 1280, 720
	checkTiles(t, "stalled", frameAt(t, path, tEnd-0.5, w, h), w, h, lay, map[string]rgb{"alice": red, "bob": placeholder})
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-count_frames", "-show_entries",
		"stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var frames int
	fmt.Sscanf(strings.TrimSpace(string(out)), "%d", &frames)
	if want := 30 * tEnd; float64(frames) < want-30 {
		t.Errorf("composite has %d frames over %.1f s (stall at %.1f s): the frame rate dropped", frames, tEnd, tStall)
	}
}

// TestOverloadedCompositeKeepsPace: a rendition this machine cannot encode
// in real time (2160p H.264 on two cores) drops frames before its encoder
// instead of holding up the compositor: the other rendition (720p) stays
// near the wall clock, and the per-track recording beside it keeps pace.
func TestOverloadedCompositeKeepsPace(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("overload")
	srv.addCamAndMic(room.ID, "alice", 31, 32)
	tracks := srv.startRecording(room.ID, nil)
	solidSender(t, room.RTP.Port, 31, 0xffff0000, 30*14)
	opusSender(t, room.RTP.Port, 32, 50*14)
	time.Sleep(time.Second)
	srv.must(201, "POST", "/v1/rooms/overload/recordings", map[string]any{"id": "c", "kind": "composite",
		"encodings": []map[string]any{{"width": 1280, "height": 720}, {"width": 3840, "height": 2160, "bitrate_kbps": 20000}}}, nil)
	start := time.Now()
	time.Sleep(8 * time.Second)
	var comp struct {
		Encodings []struct {
			Video      struct{ Height int } `json:"video"`
			DurationMS int64                `json:"duration_ms"`
		} `json:"encodings"`
	}
	srv.must(200, "GET", "/v1/rooms/overload/recordings/c", nil, &comp)
	var mid recordingResp
	srv.must(200, "GET", "/v1/rooms/overload/recordings/"+tracks.ID, nil, &mid)
	elapsed := time.Since(start)
	if len(comp.Encodings) != 2 || comp.Encodings[0].Video.Height != 720 {
		t.Fatalf("composite encodings %+v", comp.Encodings)
	}
	// The 720p rendition is behind by the mix's latency and its encoder's
	// own; the 2160p one only adds that it fell behind.
	if behind := elapsed - time.Duration(comp.Encodings[0].DurationMS)*time.Millisecond; behind > 1500*time.Millisecond {
		t.Errorf("720p output %d ms after %v: %v behind the wall clock", comp.Encodings[0].DurationMS, elapsed.Round(time.Millisecond), behind.Round(time.Millisecond))
	}
	t.Logf("after %v: 720p %d ms, 2160p %d ms", elapsed.Round(time.Millisecond), comp.Encodings[0].DurationMS, comp.Encodings[1].DurationMS)
	for _, f := range mid.Files {
		// The tracks started a second before the composite.
		if behind := elapsed + time.Second - time.Duration(f.DurationMS)*time.Millisecond; behind > 1500*time.Millisecond {
			t.Errorf("track %s recorded %d ms by %v: %v behind", f.Track, f.DurationMS, (elapsed + time.Second).Round(time.Millisecond), behind.Round(time.Millisecond))
		}
	}
	srv.must(200, "DELETE", "/v1/rooms/overload/recordings/c", nil, nil)
	srv.stopRecording(room.ID, tracks.ID)
}

// TestLaterLargerCompositeIsSharp: a 1280x720 composite started beside a
// running 320x180 one gets a mix of its own size, not the small mix scaled
// up: its tiles are where the layout (computed for 1280x720, with an 8 px
// gap) puts them, to within 2 px. The small recording goes on, its tiles
// where the same layout scaled to 320x180 puts them.
func TestLaterLargerCompositeIsSharp(t *testing.T) {
	srv := startServer(t)
	room := srv.createRoom("sharp")
	redAndBlueCameras(t, srv, room, 30*15)
	time.Sleep(1500 * time.Millisecond)
	srv.must(201, "POST", "/v1/rooms/sharp/recordings", map[string]any{"id": "small", "kind": "composite",
		"video": map[string]any{"width": 320, "height": 180, "bitrate_kbps": 300}, "layout": map[string]any{"template": "grid", "gap": 8}}, nil)
	time.Sleep(2 * time.Second)
	srv.must(201, "POST", "/v1/rooms/sharp/recordings", map[string]any{"id": "big", "kind": "composite"}, nil)
	time.Sleep(3 * time.Second)
	var lay layoutResp
	srv.must(200, "GET", "/v1/rooms/sharp/layout", nil, &lay)
	big := stopCompositeFile(t, srv, "sharp", "big")
	time.Sleep(time.Second)
	small := stopCompositeFile(t, srv, "sharp", "small")

	want := map[string]rgb{"alice": red, "bob": blue}
	checkTiles(t, "1280x720 started second", frameAt(t, big, 2, 1280, 720), 1280, 720, lay, want)
	scaled := lay
	scaled.Layout.Tiles = nil
	for _, tile := range lay.Layout.Tiles {
		tile.X, tile.Y, tile.Width, tile.Height = tile.X/4, tile.Y/4, tile.Width/4, tile.Height/4
		tile.Content.X, tile.Content.Y, tile.Content.Width, tile.Content.Height = tile.Content.X/4, tile.Content.Y/4, tile.Content.Width/4, tile.Content.Height/4
		scaled.Layout.Tiles = append(scaled.Layout.Tiles, tile)
	}
	// 2 s into the big recording is 4 s into the small one.
	checkTiles(t, "320x180 while the mix is 1280x720", frameAt(t, small, 4, 320, 180), 320, 180, scaled, want)
}
