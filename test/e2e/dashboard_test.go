package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/streamline-media/streamline/internal/mocksfu"
)

// The dashboard in a real browser: Debian's chromium, headless, driven with
// chromedp against a streamline process with authentication on and the mock
// SFU sending two participants.

const dashAdminKey = "dash-admin-key"

// chromiumPath finds the browser; without it the test is skipped, except
// under CI where the test set of scripts/install-deps.sh installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: scripts/install-deps.sh test installs it, and CI requires the browser test")
	}
	t.Skip("chromium not installed (apt-get install chromium, or scripts/install-deps.sh test); with CI=true this is a failure")
	return ""
}

// artifactDir is where screenshots go: $ARTIFACTS_DIR or test/e2e/artifacts.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = "artifacts"
	}
	dir = filepath.Join(dir, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

type bearer struct{ cred string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.cred)
	return http.DefaultTransport.RoundTrip(r)
}

// authed performs an API request with a credential and decodes the answer.
func authed(t *testing.T, srv *server, cred, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+cred)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return res.StatusCode
}

type probed struct {
	probe
	streamDurations map[string]float64 // by codec_type
}

// probeAll runs ffprobe on the files in parallel (the machine is shared).
func probeAll(t *testing.T, paths []string) map[string]probed {
	t.Helper()
	type result struct {
		path string
		p    probed
		err  error
	}
	out := make(chan result, len(paths))
	for _, path := range paths {
		go func() {
			r := result{path: path}
			data, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path).CombinedOutput()
			if err == nil {
				var raw struct {
					Streams []struct {
						CodecType string `json:"codec_type"`
						Duration  string `json:"duration"`
					} `json:"streams"`
				}
				err = json.Unmarshal(data, &r.p.probe)
				if err == nil {
					err = json.Unmarshal(data, &raw)
				}
				r.p.streamDurations = map[string]float64{}
				for _, st := range raw.Streams {
					d, _ := strconv.ParseFloat(st.Duration, 64)
					r.p.streamDurations[st.CodecType] = d
				}
			}
			if err != nil {
				err = fmt.Errorf("ffprobe %s: %w: %s", path, err, data)
			}
			out <- r
		}()
	}
	res := map[string]probed{}
	for range paths {
		r := <-out
		if r.err != nil {
			t.Fatal(r.err)
		}
		res[r.path] = r.p
	}
	return res
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	return img
}

// changedFraction is the share of pixels whose colour moved by more than 24
// in some channel between two images of the same size.
func changedFraction(a, b image.Image) float64 {
	r := a.Bounds().Intersect(b.Bounds())
	changed, total := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			total++
			if absDiff(r1, r2) > 24<<8 || absDiff(g1, g2) > 24<<8 || absDiff(b1, b2) > 24<<8 {
				changed++
			}
		}
	}
	return float64(changed) / float64(max(total, 1))
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// meanRGB averages a region given in fractions of the image.
func meanRGB(img image.Image, x0, y0, x1, y1 float64) rgb {
	b := img.Bounds()
	var sr, sg, sb, n int
	for y := b.Min.Y + int(y0*float64(b.Dy())); y < b.Min.Y+int(y1*float64(b.Dy())); y++ {
		for x := b.Min.X + int(x0*float64(b.Dx())); x < b.Min.X+int(x1*float64(b.Dx())); x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			sr, sg, sb, n = sr+int(r>>8), sg+int(g>>8), sb+int(bl>>8), n+1
		}
	}
	n = max(n, 1)
	return rgb{sr / n, sg / n, sb / n}
}

// The probe region of the preview: top middle, in fractions of the frame.
const probeX0, probeY0, probeX1, probeY1 = 0.40, 0.03, 0.60, 0.12

// coversProbe reports whether a tile of the layout covers the probe region
// of a 1280x720 frame.
func coversProbe(lay layoutResp) bool {
	cx, cy := int((probeX0+probeX1)/2*1280), int((probeY0+probeY1)/2*720)
	return covered(lay, cx, cy)
}

func TestDashboardInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	t0 := time.Now()
	mark := func(what string) { t.Logf("%5.1fs %s", time.Since(t0).Seconds(), what) }
	arts := artifactDir(t)
	srv := startServer(t, "--api-key", dashAdminKey, "--jwt-secret", "dash-secret")
	out, err := exec.Command(filepath.Join(binDir, "streamline"), "token", "--secret", "dash-secret", "--role", "viewer",
		"--rooms", "dash", "--ttl", "1h").Output()
	if err != nil {
		t.Fatalf("mint viewer token: %v", err)
	}
	viewerToken := strings.TrimSpace(string(out))
	const room = "dash"

	// Two participants for the whole test.
	sfu, err := mocksfu.New(mocksfu.Config{Server: srv.base, Room: room, N: 2, Seed: 11,
		HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: bearer{dashAdminKey}}})
	if err != nil {
		t.Fatal(err)
	}
	sfuCtx, stopSFU := context.WithCancel(context.Background())
	sfuDone := make(chan error, 1)
	go func() { sfuDone <- sfu.Run(sfuCtx) }()
	t.Cleanup(func() { stopSFU(); <-sfuDone })
	waitFor(t, 15*time.Second, "the mock SFU's four tracks to send", func() bool {
		var r roomResp
		if authed(t, srv, dashAdminKey, "GET", "/v1/rooms/"+room, nil, &r) != 200 || len(r.Tracks) != 4 {
			return false
		}
		for _, tr := range r.Tracks {
			if statNum(tr, "packets") == 0 {
				return false
			}
		}
		return true
	})

	mark("mock SFU sending")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 1100))...)
	defer cancelAlloc()
	admin, cancelAdmin := chromedp.NewContext(allocCtx)
	defer cancelAdmin()
	run := func(tab context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(tab context.Context, js string) bool {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	poll := func(tab context.Context, what, js string, timeout time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(timeout),
			chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	// clickIn finds and clicks an element in one page-side step, retried
	// until it is there and enabled: lists the page refreshes replace their
	// nodes, and chromedp.Click's lookup-then-click can lose the node in
	// between ("Could not find node with given id").
	clickIn := func(tab context.Context, what, selector string) {
		t.Helper()
		sel, _ := json.Marshal(selector)
		poll(tab, what, `(() => { const b = document.querySelector(`+string(sel)+`); if (!b || b.disabled) return false; b.click(); return true; })()`, 10*time.Second)
	}
	save := func(name string, png []byte) {
		if err := os.WriteFile(filepath.Join(arts, name), png, 0o644); err != nil {
			t.Errorf("save %s: %v", name, err)
		}
	}
	shotPreview := func(tab context.Context) []byte {
		t.Helper()
		b, err := chromedp.Run(tab, chromedp.Screenshot(chromedp.ID("preview")))
		if err != nil {
			t.Fatalf("screenshot preview: %v", err)
		}
		return b
	}
	pageShot := func(tab context.Context, name string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
			t.Fatalf("scroll: %v", err)
		}
		b, err := chromedp.Run(tab, chromedp.FullScreenshot(90))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		save(name, b)
	}
	const previewLoaded = `(() => { const i = document.getElementById('preview'); return !!i && i.complete && i.naturalWidth > 0; })()`

	// Sign in with the API key through the login dialog (auth is on).
	run(admin, "open the room page", chromedp.Navigate(srv.base+"/#/room/"+room), chromedp.WaitVisible(chromedp.ID("login-token")))
	mark("login dialog shown")
	run(admin, "sign in", chromedp.SendKeys(chromedp.ID("login-token"), dashAdminKey), chromedp.Click(chromedp.ID("login-submit")))
	mark("signed in")
	started := time.Now()
	run(admin, "room page after sign-in", chromedp.WaitVisible(chromedp.ID("preview")))
	poll(admin, "the live preview", previewLoaded, 15*time.Second)
	t.Logf("preview showing %v after the page loaded", time.Since(started).Round(10*time.Millisecond))

	mark("signed in, preview showing")
	// The preview moves: two screenshots a second apart differ.
	p1 := shotPreview(admin)
	time.Sleep(time.Second)
	p2 := shotPreview(admin)
	save("preview-1.png", p1)
	save("preview-2.png", p2)
	if f := changedFraction(decodePNG(t, p1), decodePNG(t, p2)); f < 0.005 {
		t.Errorf("preview did not change in a second: %.2f%% of pixels differ", 100*f)
	} else {
		t.Logf("preview: %.1f%% of pixels changed in 1 s", 100*f)
	}

	mark("preview moving")
	// A viewer in another browser context (own storage) watches the room.
	viewer, cancelViewer := chromedp.NewContext(admin, chromedp.WithNewBrowserContext())
	defer cancelViewer()
	run(viewer, "viewer opens the room", chromedp.Navigate(srv.base+"/?token="+viewerToken+"#/room/"+room), chromedp.WaitVisible(chromedp.ID("preview")))
	poll(viewer, "the viewer's preview", previewLoaded, 15*time.Second)
	if !eval(viewer, `[...document.querySelectorAll('#layouts button, #start-composite, #start-tracks, #focus')].every((b) => b.disabled)`) {
		t.Error("viewer: layout and recording controls are enabled")
	}

	mark("viewer watching")
	// Layout: grid (default) leaves the top band of the frame empty; a click
	// on "Single" with focus p1 fills it. Checked through the API and
	// through the preview's pixels, in both directions.
	var lay layoutResp
	authed(t, srv, dashAdminKey, "GET", "/v1/rooms/"+room+"/layout", nil, &lay)
	if lay.Layout.Template != "grid" || len(lay.Layout.Tiles) != 2 || !lay.Live || coversProbe(lay) {
		t.Fatalf("initial layout: %+v", lay)
	}
	bg := meanRGB(decodePNG(t, p2), probeX0, probeY0, probeX1, probeY1)
	if !bg.near(black, 30) {
		t.Fatalf("grid: probe region outside every tile shows %v, want the black background", bg)
	}
	type step struct{ template, focus string }
	for _, st := range []step{{"single", "p1"}, {"grid", ""}} {
		run(admin, "choose focus", chromedp.SetValue(chromedp.ID("focus"), st.focus))
		clicked := time.Now()
		run(admin, "click layout "+st.template, chromedp.Click(chromedp.CSS(`#layouts button[data-template="`+st.template+`"]`)))
		waitFor(t, 5*time.Second, "layout "+st.template+" through the API", func() bool {
			lay = layoutResp{}
			var raw struct {
				Spec struct{ Template, Focus string } `json:"spec"`
			}
			authed(t, srv, dashAdminKey, "GET", "/v1/rooms/"+room+"/layout", nil, &lay)
			authed(t, srv, dashAdminKey, "GET", "/v1/rooms/"+room+"/layout", nil, &raw)
			return lay.Layout.Template == st.template && raw.Spec.Focus == st.focus
		})
		wantFilled := coversProbe(lay)
		if wantFilled != (st.template == "single") {
			t.Fatalf("%s layout: probe covered=%v, tiles %+v", st.template, wantFilled, lay.Layout.Tiles)
		}
		var shot []byte
		var got rgb
		deadline := time.Now().Add(5 * time.Second)
		for {
			shot = shotPreview(admin)
			got = meanRGB(decodePNG(t, shot), probeX0, probeY0, probeX1, probeY1)
			if wantFilled != got.near(black, 30) {
				break
			}
			if time.Now().After(deadline) {
				save("preview-"+st.template+"-timeout.png", shot)
				t.Fatalf("%s: preview probe region is %v 5 s after the click (filled: %v)", st.template, got, wantFilled)
			}
			time.Sleep(100 * time.Millisecond)
		}
		save("preview-"+st.template+".png", shot)
		t.Logf("layout %s: preview pixels changed %v after the click (probe %v)", st.template, time.Since(clicked).Round(10*time.Millisecond), got)
		// Every viewer sees the change (layout_changed over the WebSocket).
		poll(viewer, "the viewer's layout buttons to follow", `document.querySelector('#layouts button.active')?.dataset.template === '`+st.template+`'`, 5*time.Second)
	}

	mark("layouts checked")
	// Audio levels and the active speaker reach the page.
	poll(admin, "an audio level meter to move", `[...document.querySelectorAll('.meter i')].some((i) => parseFloat(i.style.width) > 10)`, 10*time.Second)
	poll(admin, "the active speaker to be highlighted", `!!document.querySelector('.person.speaking')`, 10*time.Second)

	mark("levels and speaker seen")
	// Recordings started and stopped from the UI.
	// 640x360 keeps the encoder light on a busy 2-core machine.
	run(admin, "start a composite recording", chromedp.SetValue(chromedp.ID("rec-size"), "640x360"), chromedp.Click(chromedp.ID("start-composite")))
	poll(admin, "the composite recording to show", `document.querySelectorAll('.rec.active').length === 1`, 10*time.Second)
	run(admin, "start a track recording", chromedp.WaitEnabled(chromedp.ID("start-tracks")), chromedp.Click(chromedp.ID("start-tracks")))
	poll(admin, "both recordings to show", `document.querySelectorAll('.rec.active').length === 2`, 10*time.Second)
	ids, err := chromedp.Run(admin, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.rec.active')].map((e) => e.dataset.id)`))
	if err != nil || len(ids) != 2 {
		t.Fatalf("active recordings in the page: %v, %v", ids, err)
	}

	mark("recordings started")
	// The viewer sees them but cannot stop one: the button is disabled, and
	// a click forced past it is refused by the server, with the error shown.
	poll(viewer, "the viewer's recordings list", `document.querySelectorAll('.rec.active .stop-rec').length === 2`, 10*time.Second)
	if !eval(viewer, `[...document.querySelectorAll('.stop-rec')].every((b) => b.disabled)`) {
		t.Error("viewer: stop buttons are enabled")
	}
	eval(viewer, `(() => { const b = document.querySelector('.stop-rec'); b.disabled = false; b.click(); return true; })()`)
	poll(viewer, "the server's refusal to be shown", `[...document.querySelectorAll('.toast.error')].some((e) => /forbidden|may not/.test(e.textContent))`, 5*time.Second)
	pageShot(viewer, "room-viewer.jpg")
	for _, id := range ids {
		var rec recordingResp
		if code := authed(t, srv, viewerToken, "DELETE", "/v1/rooms/"+room+"/recordings/"+id, nil, nil); code != 403 {
			t.Errorf("viewer DELETE recording %s: %d, want 403", id, code)
		}
		authed(t, srv, dashAdminKey, "GET", "/v1/rooms/"+room+"/recordings/"+id, nil, &rec)
		if rec.State != "recording" {
			t.Fatalf("recording %s is %q after the viewer's attempt", id, rec.State)
		}
	}

	mark("viewer refused")
	time.Sleep(2500 * time.Millisecond) // some media in the files
	pageShot(admin, "room-recording.jpg")
	mark("stopping")
	for _, id := range ids {
		clickIn(admin, "stop "+id, `.rec[data-id="`+id+`"] .stop-rec`)
	}
	poll(admin, "both recordings to stop", `document.querySelectorAll('.rec').length === 2 && [...document.querySelectorAll('.rec .pill')].every((p) => p.textContent === 'stopped')`, 30*time.Second)
	mark("stopped in the UI")
	type recInfo struct {
		recordingResp
		Kind      string    `json:"kind"`
		StartedAt time.Time `json:"started_at"`
		StoppedAt time.Time `json:"stopped_at"`
	}
	var recs []recInfo
	var paths []string
	for _, id := range ids {
		var rec recInfo
		authed(t, srv, dashAdminKey, "GET", "/v1/rooms/"+room+"/recordings/"+id, nil, &rec)
		if rec.State != "stopped" || len(rec.Files) == 0 {
			t.Fatalf("recording %s: state %s, %d files", id, rec.State, len(rec.Files))
		}
		recs = append(recs, rec)
		for _, f := range rec.Files {
			paths = append(paths, filepath.Join(srv.dataDir, f.Path))
		}
	}
	probes := probeAll(t, paths)
	for _, rec := range recs {
		for _, f := range rec.Files {
			p := probes[filepath.Join(srv.dataDir, f.Path)]
			if d := duration(p.probe); d < 1.5 || len(p.Streams) == 0 {
				t.Errorf("%s: %d streams, %.2f s", f.Path, len(p.Streams), d)
				continue
			}
			t.Logf("%s: streams %v, %.2f s", f.Path, p.streamDurations, duration(p.probe))
			if rec.Kind != "composite" {
				continue
			}
			// The composite joined a mix the preview had kept running for
			// many seconds: its file covers the recording (which starts a
			// little after started_at, once the encoders are chosen), not
			// the mix's age, and its video is not cut short at the start.
			// (The two streams end where their mixers had got to at the
			// stop; on an overloaded machine the video mixer lags the audio
			// one by up to a second or so.)
			if wall := rec.StoppedAt.Sub(rec.StartedAt).Seconds(); duration(p.probe) > wall+0.5 {
				t.Errorf("%s: %.2f s long, recorded for %.2f s", f.Path, duration(p.probe), wall)
			}
			if v, a := p.streamDurations["video"], p.streamDurations["audio"]; math.Abs(v-a) > 2 {
				t.Errorf("%s: video %.2f s, audio %.2f s", f.Path, v, a)
			}
		}
	}

	mark("recordings stopped and probed")
	// In-browser playback of a recorded WebM (a raw video track) and of the
	// composite MP4 when this chromium has H.264.
	poll(admin, "play buttons", `document.querySelectorAll('button[data-action="play"]').length > 0`, 5*time.Second)
	const videoReady = `(() => { const v = document.getElementById('player-video'); return v.readyState >= 2 && v.videoWidth > 0; })()`
	clickIn(admin, "play a WebM track", `button[data-action="play"][data-path$="video.webm"]`)
	poll(admin, "the WebM to play", videoReady, 10*time.Second)
	mark("webm playing")
	pageShot(admin, "player-webm.jpg")
	run(admin, "close the player", chromedp.Click(chromedp.ID("player-close")))
	if eval(admin, `document.createElement('video').canPlayType('video/mp4; codecs="avc1.42E01E, mp4a.40.2"') !== ''`) {
		clickIn(admin, "play the composite MP4", `button[data-action="play"][data-path$=".mp4"]`)
		if _, err := chromedp.Run(admin, chromedp.Poll[chromedp.Void](videoReady, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			state, _ := chromedp.Run(admin, chromedp.Evaluate[string](`(() => { const v = document.getElementById('player-video');
				return JSON.stringify({src: v.currentSrc, ready: v.readyState, net: v.networkState, err: v.error && [v.error.code, v.error.message]}); })()`))
			t.Fatalf("the MP4 did not play: %v; video element: %s", err, state)
		}
		run(admin, "close the player", chromedp.Click(chromedp.ID("player-close")))
	} else {
		t.Log("this chromium cannot play H.264 MP4 (no proprietary codecs); MP4 playback not checked")
	}

	mark("playback checked")
	// The pipeline graph renders, and the rooms list shows the room.
	run(admin, "open the pipeline graph", chromedp.Click(chromedp.CSS(`#graph summary`)))
	poll(admin, "the pipeline graph", `(() => { const i = document.getElementById('graph-img'); return i.complete && i.naturalWidth > 0; })()`, 20*time.Second)
	mark("graph shown")
	pageShot(admin, "room-admin.jpg")
	run(admin, "rooms list", chromedp.Navigate(srv.base+"/#/"), chromedp.WaitVisible(chromedp.CSS(`a.room-link`)))
	poll(admin, "the node list", `!!document.querySelector('.node')`, 10*time.Second)
	if !eval(admin, `document.querySelector('#rooms-body').textContent.includes('Participant 1')`) {
		t.Error("rooms list does not show the participants")
	}
	pageShot(admin, "rooms.jpg")

	mark("graph and rooms list checked")
	// Leaving the room page closed the admin's stream; closing the viewer's
	// tab closes the last one, and the compositor goes away with it.
	cancelViewer()
	waitFor(t, 10*time.Second, "the preview branch to be released", func() bool {
		var l layoutResp
		authed(t, srv, dashAdminKey, "GET", "/v1/rooms/"+room+"/layout", nil, &l)
		return !l.Live
	})
	t.Logf("screenshots in %s", arts)
}
