package ingest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// TestFailedFileLeavesTheTrackGoing: a track's file in one recording can no
// longer be written (it is /dev/full, a full disk's answer to every write);
// that file fails with the error and stops where it failed, while the same
// track's file in another recording and a tap on the track go on. Before,
// the muxer's error reached the track's tee and stopped the track.
func TestFailedFileLeavesTheTrackGoing(t *testing.T) {
	told := make(chan FileEntry, 4)
	r := newTestRoomWith(t, func(c *RoomConfig) {
		c.OnFileFailed = func(rec string, f FileEntry) {
			if rec == "full" {
				told <- f
			}
		}
	})
	full, err := r.StartRecording("full", "")
	if err != nil {
		t.Fatal(err)
	}
	ok, err := r.StartRecording("ok", "")
	if err != nil {
		t.Fatal(err)
	}
	// The track joins after both recordings started; its file in "full"
	// is where the recording will open it.
	dir := filepath.Join(r.cfg.DataDir, "test", full.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/full", filepath.Join(dir, "alice_cam.webm")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddTrack(TrackInfo{ID: "cam", Participant: "alice", Codec: "vp8", SSRC: 2222, PayloadType: 96}); err != nil {
		t.Fatal(err)
	}
	tap, err := r.Tap("cam")
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	sink, err := gst.NewElementWithProperties("fakesink", map[string]any{"sync": false, "async": false})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Pipeline().Add(sink); err != nil {
		t.Fatal(err)
	}
	tapped := gstx.WatchTimes(sink.GetStaticPad("sink"))
	defer tapped.Free()
	if ret := tap.Pad.Link(sink.GetStaticPad("sink")); ret != gst.PadLinkOK {
		t.Fatalf("link tap: %s", ret)
	}
	sink.SyncStateWithParent()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gstSender(t, ctx, fmt.Sprintf("videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 ssrc=2222 ! udpsink host=127.0.0.1 port=%d", r.Addr().Port()))
	time.Sleep(4 * time.Second)
	cancel()
	failed, err := r.StopRecording(full.ID)
	if err != nil {
		t.Fatal(err)
	}
	good, err := r.StopRecording(ok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed.Files) != 1 || failed.Files[0].State != FileFailed || failed.Files[0].Error == "" {
		t.Fatalf("the unwritable file: %+v; want failed, with the error", failed.Files)
	}
	select {
	case f := <-told:
		if f.Path != failed.Files[0].Path || f.State != FileFailed || f.Error != failed.Files[0].Error {
			t.Errorf("OnFileFailed got %s %s %q; want %s failed %q", f.Path, f.State, f.Error, failed.Files[0].Path, failed.Files[0].Error)
		}
	default:
		t.Error("OnFileFailed was not called")
	}
	if len(told) > 0 {
		t.Errorf("OnFileFailed called %d more times", len(told))
	}
	if d := failed.Files[0].DurationMS; d > 2000 { // filesink writes in 64 KiB blocks: ~1 s here
		t.Errorf("the unwritable file reports %d ms recorded; want its duration to stop at the failure", d)
	}
	if len(good.Files) != 1 || good.Files[0].State != FileFinal {
		t.Fatalf("the other recording's file: %+v", good.Files)
	}
	if _, dur := ffprobe(t, filepath.Join(r.cfg.DataDir, good.Files[0].Path)); dur < 3 {
		t.Errorf("the other recording's file lasts %.2f s, want ~3.5-4: the failed file stopped the track", dur)
	}
	if n := tapped.Buffers(); n < 90 {
		t.Errorf("the tap got %d frames, want ≥ 90 (3 s at 30 fps): the failed file stopped the track", n)
	}
	t.Logf("failed file: %q after %d ms; other file and tap went on (%d frames tapped)", failed.Files[0].Error, failed.Files[0].DurationMS, tapped.Buffers())
}

// freeUDPPort is a UDP port nobody holds right now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestTrackSourceMovesAfterSilence: while a track's learned source sends,
// another address's packets for its SSRC are foreign (dropped); once the
// source has been silent for SourceMoveAfter, a new address takes the track
// over (an SFU restarted, a NAT rebound), and its media, with fresh sequence
// numbers and timestamps, continues the same file.
func TestTrackSourceMovesAfterSilence(t *testing.T) {
	defer func(d time.Duration) { SourceMoveAfter = d }(SourceMoveAfter)
	SourceMoveAfter = time.Second
	r := newTestRoom(t)
	if _, err := r.AddTrack(TrackInfo{ID: "cam", Participant: "alice", Codec: "vp8", SSRC: 3333, PayloadType: 96}); err != nil {
		t.Fatal(err)
	}
	rec, err := r.StartRecording("moves", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	send := func(frames, fromPort int) *exec.Cmd {
		return gstSender(t, ctx, fmt.Sprintf("videotestsrc is-live=true num-buffers=%d ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=15 ! rtpvp8pay pt=96 ssrc=3333 ! udpsink host=127.0.0.1 port=%d bind-address=127.0.0.1 bind-port=%d", frames, r.Addr().Port(), fromPort))
	}
	portA, portC, portB := freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)
	a := send(90, portA)
	time.Sleep(time.Second)
	c := send(30, portC) // while A sends: foreign
	_ = c.Wait()
	_ = a.Wait()
	time.Sleep(1500 * time.Millisecond)
	b := send(60, portB) // after A fell silent: takes over
	_ = b.Wait()
	time.Sleep(500 * time.Millisecond)
	info, err := r.StopRecording(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := r.Track("cam")
	if err != nil {
		t.Fatal(err)
	}
	st := tr.Stats
	if st.SourceMoves != 1 || st.Source != fmt.Sprintf("127.0.0.1:%d", portB) {
		t.Errorf("source moves %d, source %s; want 1, 127.0.0.1:%d", st.SourceMoves, st.Source, portB)
	}
	if st.ForeignSource < 20 {
		t.Errorf("foreign packets %d; want the second sender's (~30+) while the first one sent", st.ForeignSource)
	}
	if len(info.Files) != 1 || info.Files[0].State != FileFinal {
		t.Fatalf("files %+v", info.Files)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0",
		filepath.Join(r.cfg.DataDir, info.Files[0].Path)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n < 130 || n > 160 {
		t.Errorf("the file holds %d frames; want the first and the last sender's 150 (not the foreign one's 30)", n)
	}
}
