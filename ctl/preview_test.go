package ctl

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// openPreview starts an MJPEG stream and returns its part reader.
func openPreview(t *testing.T, ctx context.Context, url string) (*multipart.Reader, *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		data, _ := io.ReadAll(res.Body)
		t.Fatalf("preview: %d %s", res.StatusCode, data)
	}
	mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("content type %q: %v", res.Header.Get("Content-Type"), err)
	}
	return multipart.NewReader(res.Body, params["boundary"]), res
}

func readFrame(t *testing.T, mr *multipart.Reader) []byte {
	t.Helper()
	part, err := mr.NextPart()
	if err != nil {
		t.Fatalf("next frame: %v", err)
	}
	if ct := part.Header.Get("Content-Type"); ct != "image/jpeg" {
		t.Fatalf("part type %q", ct)
	}
	data, err := io.ReadAll(part)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("frame is not a JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != previewWidth || b.Dy() != 360 {
		t.Fatalf("frame %dx%d, want %dx360", b.Dx(), b.Dy(), previewWidth)
	}
	return data
}

// TestPreviewBranchSharedAndReleased: two watchers share one preview branch;
// the compositor runs while anyone watches and is gone, branch and all, when
// the last one disconnects.
func TestPreviewBranchSharedAndReleased(t *testing.T) {
	s, ts := newTestServer(t, 2)
	do(t, ts, "POST", "/v1/rooms", `{"id":"pv"}`)
	room := s.room("pv")
	dot := func() string { return room.PipelineDOT() }
	if strings.Contains(dot(), "preview") || strings.Contains(dot(), "comp-video") {
		t.Fatal("preview or compositor present before anyone watches")
	}

	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	mr1, res1 := openPreview(t, ctx1, ts.URL+"/v1/rooms/pv/preview.mjpeg")
	defer res1.Body.Close()
	readFrame(t, mr1)
	readFrame(t, mr1)

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	mr2, res2 := openPreview(t, ctx2, ts.URL+"/v1/rooms/pv/preview.mjpeg")
	defer res2.Body.Close()
	readFrame(t, mr2)
	if n := strings.Count(dot(), "preview1-jpeg"); n != 1 || strings.Contains(dot(), "preview2") {
		t.Fatalf("want one shared preview branch; dot has preview1-jpeg %d times", n)
	}
	_, lay, _ := do(t, ts, "GET", "/v1/rooms/pv/layout", "")
	if lay["live"] != true {
		t.Fatalf("layout not live while previewed: %v", lay)
	}

	// A snapshot while streams run uses the same branch.
	code, _, h := do(t, ts, "GET", "/v1/rooms/pv/preview.jpg", "")
	if code != 200 || h.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("snapshot: %d %s", code, h.Get("Content-Type"))
	}

	cancel1()
	readFrame(t, mr2) // the other watcher keeps receiving
	if !strings.Contains(dot(), "preview1") {
		t.Fatal("branch removed while a watcher remains")
	}
	cancel2()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Contains(dot(), "preview1") || strings.Contains(dot(), "comp-video") {
		if time.Now().After(deadline) {
			t.Fatal("preview branch or compositor still in the pipeline 5 s after the last watcher left")
		}
		time.Sleep(50 * time.Millisecond)
	}
	m := s.media("pv")
	m.mu.Lock()
	graph, holders := m.graph, len(m.holders)
	m.mu.Unlock()
	m.preview.mu.Lock()
	watchers := len(m.preview.watchers)
	m.preview.mu.Unlock()
	if graph != nil || holders != 0 || watchers != 0 {
		t.Fatalf("after the last watcher: graph %v, %d holders, %d watchers", graph != nil, holders, watchers)
	}

	// Watching again builds a new branch.
	ctx3, cancel3 := context.WithCancel(context.Background())
	mr3, res3 := openPreview(t, ctx3, ts.URL+"/v1/rooms/pv/preview.mjpeg")
	defer res3.Body.Close()
	readFrame(t, mr3)
	// Deleting the room ends the stream and finishes cleanly.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := mr3.NextPart(); err != nil {
				return
			}
		}
	}()
	if code, body, _ := do(t, ts, "DELETE", "/v1/rooms/pv", ""); code != 200 {
		t.Fatalf("delete room: %d %v", code, body)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5 s after its room was deleted")
	}
	cancel3()
	if code, _, _ := do(t, ts, "GET", "/v1/rooms/pv/preview.mjpeg", ""); code != 404 {
		t.Fatalf("preview of a deleted room: %d", code)
	}
}

// TestPreviewEndStreams: EndStreams (HTTP shutdown) ends open streams.
func TestPreviewEndStreams(t *testing.T) {
	s, ts := newTestServer(t, 2)
	do(t, ts, "POST", "/v1/rooms", `{"id":"pe"}`)
	mr, res := openPreview(t, context.Background(), ts.URL+"/v1/rooms/pe/preview.mjpeg")
	defer res.Body.Close()
	readFrame(t, mr)
	s.EndStreams()
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := mr.NextPart(); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5 s after EndStreams")
	}
}

// TestPreviewFollowsLayoutAndLeavesNothing: a layout change (a red
// background) reaches the preview's frames; watchers coming and going many
// times leave no goroutines or elements behind.
func TestPreviewFollowsLayoutAndLeavesNothing(t *testing.T) {
	s, ts := newTestServer(t, 2)
	do(t, ts, "POST", "/v1/rooms", `{"id":"pl"}`)
	room := s.room("pl")
	baseDot := strings.Count(room.PipelineDOT(), "subgraph")
	baseGoroutines := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	mr, res := openPreview(t, ctx, ts.URL+"/v1/rooms/pl/preview.mjpeg")
	readFrame(t, mr)
	isRed := func(f []byte) bool {
		img, _ := jpeg.Decode(bytes.NewReader(f))
		r, g, b, _ := img.At(previewWidth/2, 180).RGBA()
		return r>>8 > 200 && g>>8 < 60 && b>>8 < 60
	}
	if f := readFrame(t, mr); isRed(f) {
		t.Fatal("red before the layout asked for it")
	}
	changed := time.Now()
	if code, body, _ := do(t, ts, "PUT", "/v1/rooms/pl/layout", `{"template":"grid","background":"#ff0000"}`); code != 200 {
		t.Fatalf("layout: %d %v", code, body)
	}
	for n := 0; !isRed(readFrame(t, mr)); n++ {
		if n > 50 {
			t.Fatal("the preview never showed the new background")
		}
	}
	t.Logf("layout change visible in the preview %v after the PUT", time.Since(changed).Round(time.Millisecond))
	cancel()
	res.Body.Close()

	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		mr, res := openPreview(t, ctx, ts.URL+"/v1/rooms/pl/preview.mjpeg")
		readFrame(t, mr)
		cancel()
		res.Body.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		dot := room.PipelineDOT()
		n := runtime.NumGoroutine()
		if !strings.Contains(dot, "preview") && strings.Count(dot, "subgraph") == baseDot && n <= baseGoroutines+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the watchers left: %d goroutines (%d before), preview in graph: %v, %d subgraphs (%d before)",
				n, baseGoroutines, strings.Contains(dot, "preview"), strings.Count(dot, "subgraph"), baseDot)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
