package compositor

import (
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// TestPlaceholderRenderedAtTileSize: a placeholder comes out at the size of
// the tile it fills (odd sizes floored to even), so the compositor copies it
// instead of scaling it every frame: a dark frame with light initials in
// its middle.
func TestPlaceholderRenderedAtTileSize(t *testing.T) {
	gstx.Init()
	const w, h = 432, 240 // rows without stride padding
	ph, err := newPlaceholder("ph", "AB", 30, w+1, h)
	if err != nil {
		t.Fatal(err)
	}
	frames := make(chan []byte, 4)
	sink := bytesSink(t, "sink", "video/x-raw,format=I420,width=432,height=240", func(b []byte) {
		select {
		case frames <- append([]byte(nil), b...):
		default:
		}
	})
	pipe, err := gst.NewPipeline("ph-size")
	if err != nil {
		t.Fatal(err)
	}
	if err := pipe.AddMany(ph.Element, sink.Element); err != nil {
		t.Fatal(err)
	}
	if err := ph.Link(sink.Element); err != nil {
		t.Fatal(err)
	}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pipe.SetState(gst.StateNull) }()
	var f []byte
	select {
	case f = <-frames:
	case <-time.After(5 * time.Second):
		t.Fatal("no frame of 432x240 (not negotiated at the tile's size?)")
	}
	if len(f) != w*h*3/2 {
		t.Fatalf("frame of %d bytes, want %d", len(f), w*h*3/2)
	}
	if corner := f[2*w+2]; corner > 80 {
		t.Errorf("corner luma %d: not the dark fill", corner)
	}
	bright := 0
	for y := h / 3; y < 2*h/3; y++ {
		for x := w / 3; x < 2*w/3; x++ {
			if f[y*w+x] > 180 {
				bright++
			}
		}
	}
	if bright < 200 {
		t.Errorf("%d bright pixels in the middle third: no initials", bright)
	}
}
