package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestSplitMode(t *testing.T) {
	for _, c := range []struct {
		args []string
		mode string
		rest []string
	}{
		{nil, "tracks", nil},
		{[]string{"-quick"}, "tracks", []string{"-quick"}},
		{[]string{"-mode", "composite", "-runs", "2"}, "composite", []string{"-runs", "2"}},
		{[]string{"-runs", "2", "--mode=composite"}, "composite", []string{"-runs", "2"}},
		{[]string{"-mode=tracks"}, "tracks", nil},
		{[]string{"-mode", "control", "-clients", "10"}, "control", []string{"-clients", "10"}},
	} {
		mode, rest, err := splitMode(c.args)
		if err != nil || mode != c.mode || !reflect.DeepEqual(rest, c.rest) {
			t.Errorf("%q: %q %q %v", c.args, mode, rest, err)
		}
	}
	for _, bad := range [][]string{{"-mode"}, {"-mode", "mixed"}} {
		if _, _, err := splitMode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseCompFlags(t *testing.T) {
	var errb bytes.Buffer
	c, err := parseCompFlags([]string{"-quick", "-sizes", "4,9"}, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.sizes, []int{4, 9}) || c.runs != 1 || c.seconds != 6 || !reflect.DeepEqual(c.rooms, []int{1}) {
		t.Fatalf("quick with sizes: %+v", c)
	}
	c, err = parseCompFlags([]string{"-rooms", "none"}, &errb)
	if err != nil || len(c.rooms) != 0 || !reflect.DeepEqual(c.sizes, []int{4, 9}) || c.runs != 3 || c.seconds != 20 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for _, bad := range [][]string{{"-sizes", "1"}, {"-sizes", "x"}, {"-sizes", "none", "-rooms", "none"}, {"-seconds", "1"}, {"-runs", "0"}} {
		if _, err := parseCompFlags(bad, &errb); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A stamped frame reads back, drawn 1:1 and scaled down into a tile.
func TestStampRoundTrip(t *testing.T) {
	frame := make([]byte, inputW*inputH*3/2)
	for i := range frame {
		frame[i] = byte(i * 7) // busy background
	}
	for _, n := range []int{0, 1, 599, 1234, 4095} {
		stampI420(frame, inputW, inputH, n)
		// 1:1 at an offset inside a 1280x720 luma picture.
		g := grayFrame{pix: make([]byte, 1280*720), w: 1280, h: 720}
		for y := 0; y < inputH; y++ {
			copy(g.pix[(y+360)*1280+640:], frame[y*inputW:(y+1)*inputW])
		}
		if got, ok := readStamp(g, rect{640, 360, inputW, inputH}, inputW, inputH); !ok || got != n {
			t.Errorf("1:1: read %d %v, want %d", got, ok, n)
		}
		// Scaled to 2/3 (a 3x3 grid tile), nearest neighbour.
		tw, th := 426, 240
		s := grayFrame{pix: make([]byte, 1280*720), w: 1280, h: 720}
		for y := 0; y < th; y++ {
			for x := 0; x < tw; x++ {
				s.pix[(y+240)*1280+426+x] = frame[(y*inputH/th)*inputW+x*inputW/tw]
			}
		}
		if got, ok := readStamp(s, rect{426, 240, tw, th}, inputW, inputH); !ok || got != n {
			t.Errorf("scaled: read %d %v, want %d", got, ok, n)
		}
	}
	// A tile without a stamp (placeholder, background) does not read.
	flat := grayFrame{pix: bytes.Repeat([]byte{40}, 1280*720), w: 1280, h: 720}
	if _, ok := readStamp(flat, rect{0, 0, 640, 360}, inputW, inputH); ok {
		t.Error("a flat tile read as a stamp")
	}
}

func TestFollowTile(t *testing.T) {
	// Clean, across the loop's wrap.
	s := followTile([]int{597, 598, 599, 0, 1, 2}, 600)
	if s.Shown != 6 || s.Repeats != 0 || s.Skipped != 0 || s.MaxRun != 1 || s.Backwards != 0 {
		t.Errorf("clean: %+v", s)
	}
	// One repeat and one skip (clock drift), an unreadable frame.
	s = followTile([]int{10, 11, 11, 13, -1, 14}, 600)
	if s.Repeats != 1 || s.Skipped != 1 || s.MaxRun != 2 || s.Unreadable != 1 || s.Shown != 4 {
		t.Errorf("drift: %+v", s)
	}
	// A freeze of 5 frames then a jump.
	s = followTile([]int{20, 21, 21, 21, 21, 21, 30}, 600)
	if s.MaxRun != 5 || s.Skipped != 8 || s.Repeats != 4 {
		t.Errorf("freeze: %+v", s)
	}
	if s := followTile([]int{50, 49}, 600); s.Backwards != 1 {
		t.Errorf("backwards: %+v", s)
	}
}

func TestCheckFrameTimes(t *testing.T) {
	var pts []float64
	for i := 0; i < 300; i++ { // 10 s at 30 fps starting at 5.0
		if i == 150 || i == 151 {
			continue // a 100 ms hole at 5 s
		}
		pts = append(pts, 5+float64(i)/30)
	}
	ft := checkFrameTimes(pts, 1, 9, 30)
	if ft.Expected != 240 || ft.Frames != 238 || ft.MaxGapMS < 99 || ft.MaxGapMS > 101 || ft.Dups != 0 {
		t.Fatalf("%+v", ft)
	}
	if ft.LastS < 9.96 || ft.LastS > 9.97 {
		t.Errorf("last %v", ft.LastS)
	}
	o := &outputCheck{File: "x.mp4", Times: ft, Tiles: []tileStats{{Participant: "p00", Frames: 238, Shown: 238}}}
	if p := o.problems(30); len(p) != 2 || !strings.Contains(p[0], "238 of 240") || !strings.Contains(p[1], "100 ms gap") {
		t.Errorf("problems %q", p)
	}
	o.Times = checkFrameTimes(pts, 0, 4, 30)
	if p := o.problems(30); len(p) != 0 {
		t.Errorf("clean window: %q", p)
	}
	o.Tiles[0].MaxRun = 4
	if p := o.problems(30); len(p) != 1 || !strings.Contains(p[0], "froze") {
		t.Errorf("freeze: %q", p)
	}
}

func TestParsePTS(t *testing.T) {
	pts, err := parsePTS([]byte("0.000000\n0.033333,\nN/A\n\n0.066667\n"))
	if err != nil || !reflect.DeepEqual(pts, []float64{0, 0.033333, 0.066667}) {
		t.Fatalf("%v %v", pts, err)
	}
	if _, err := parsePTS([]byte("zero\n")); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestTilesOfLayout(t *testing.T) {
	var l layoutJSON
	body := `{"live":true,"layout":{"frame":{"width":1280,"height":720},"tiles":[
	  {"participant_id":"p01","source":"camera","x":640,"y":0,"width":640,"height":360,"content":{"x":640,"y":0,"width":640,"height":360}},
	  {"participant_id":"p00","source":"camera","x":0,"y":0,"width":640,"height":360,"content":{"x":0,"y":0,"width":640,"height":360}}]}}`
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	tiles, err := tilesOf(l, []string{"p00", "p01"})
	if err != nil || len(tiles) != 2 || tiles[0].Content != (rect{0, 0, 640, 360}) || tiles[1].Content.X != 640 {
		t.Fatalf("%+v %v", tiles, err)
	}
	if _, err := tilesOf(l, []string{"p00", "p02"}); err == nil {
		t.Fatal("missing tile accepted")
	}
}

func TestXstackGraph(t *testing.T) {
	tiles := []tileRef{{Content: rect{0, 0, 640, 360}}, {Content: rect{640, 0, 640, 360}},
		{Content: rect{0, 360, 640, 360}}, {Content: rect{640, 360, 640, 360}}}
	g := xstackVideo(tiles, 1280, 720)
	if !strings.Contains(g, "xstack=inputs=4:layout=0_0|640_0|0_360|640_360:fill=black[v]") || strings.Contains(g, "pad=") {
		t.Errorf("2x2: %s", g)
	}
	// A 3x3 grid of 426-wide cells ends 2 pixels short: padded to the frame.
	var nine []tileRef
	for i := 0; i < 9; i++ {
		nine = append(nine, tileRef{Content: rect{(i % 3) * 426, (i / 3) * 240, 426, 240}})
	}
	if g := xstackVideo(nine, 1280, 720); !strings.HasSuffix(g, ",pad=1280:720:0:0:black[v]") || !strings.Contains(g, "[8:v]scale=426:240") {
		t.Errorf("3x3: %s", g)
	}
	args := strings.Join(ffmpegCompositeArgs([]string{"a.webm", "b.webm"}, tiles[:2], 1280, 720, 30, 2500, 128, "o.mp4", false), " ")
	if paced := strings.Join(ffmpegCompositeArgs([]string{"a.webm", "b.webm"}, tiles[:2], 1280, 720, 30, 2500, 128, "o.mp4", true), " "); strings.Contains(args, "-re") ||
		!strings.Contains(paced, "-re -i a.webm -re -i b.webm") {
		t.Errorf("paced %q, free %q", paced, args)
	}
	for _, want := range []string{"-i a.webm -i b.webm", "[0:a][1:a]amix=inputs=2[a]", "-preset veryfast -tune zerolatency -b:v 2500k -g 60 -bf 0"} {
		if !strings.Contains(args, want) {
			t.Errorf("ffmpeg args lack %q: %s", want, args)
		}
	}
}

func TestFloorDescs(t *testing.T) {
	d := floorDescs([]string{"/t/p0.webm", "/t/p1.webm"}, "/t/grid.yuv", "/t/out", 1280, 720, 30, 2500, "avenc_aac", 128)
	if strings.Count(d.Decode, "vp8dec") != 2 || strings.Count(d.Audio, opusDecoder()) != 2 || !strings.Contains(d.Audio, "avenc_aac bitrate=128000") {
		t.Errorf("decode %q audio %q", d.Decode, d.Audio)
	}
	if !strings.Contains(d.Encode, "x264enc speed-preset=veryfast tune=zerolatency bitrate=2500 key-int-max=60 bframes=0") ||
		!strings.HasPrefix(d.Encode, d.ReadGrid[:strings.Index(d.ReadGrid, " ! fakesink")]) {
		t.Errorf("encode %q read %q", d.Encode, d.ReadGrid)
	}
	// The paced floor is the same three parts, each released at its media time.
	for _, want := range []string{"/t/p1.webm ! matroskademux ! video/x-vp8 ! vp8dec ! fakesink sync=true",
		"identity sync=true ! audioconvert ! avenc_aac bitrate=128000", "identity sync=true ! x264enc speed-preset=veryfast"} {
		if !strings.Contains(d.Paced, want) {
			t.Errorf("paced %q lacks %q", d.Paced, want)
		}
	}
	if strings.Count(d.Paced, "vp8dec") != 2 || strings.Count(d.Paced, opusDecoder()) != 2 || strings.Contains(d.Paced, "sync=false") ||
		d.PacedRead != strings.Replace(d.ReadGrid, "sync=false", "sync=true", 1) {
		t.Errorf("paced %q read %q", d.Paced, d.PacedRead)
	}
}

func TestGstCompositeDesc(t *testing.T) {
	tiles := []tileRef{{Content: rect{X: 0, Y: 90, W: 640, H: 360}}, {Content: rect{X: 640, Y: 90, W: 640, H: 360}}}
	free := gstCompositeDesc([]string{"/t/p0.webm", "/t/p1.webm"}, tiles, 1280, 720, 30, 2500, "avenc_aac", 128, "/t/g.mp4", false)
	for _, want := range []string{"sink_1::xpos=640 sink_1::ypos=90 sink_1::width=640 sink_1::height=360",
		"x264enc speed-preset=veryfast tune=zerolatency bitrate=2500 key-int-max=60 bframes=0", "avenc_aac bitrate=128000",
		"filesrc location=/t/p1.webm ! matroskademux name=d1 d1. ! video/x-vp8 ! queue ! vp8dec ! comp.sink_1"} {
		if !strings.Contains(free, want) {
			t.Errorf("%q lacks %q", free, want)
		}
	}
	if strings.Contains(free, "sync=true") {
		t.Errorf("unpaced pipeline syncs: %q", free)
	}
	paced := gstCompositeDesc([]string{"/t/p0.webm", "/t/p1.webm"}, tiles, 1280, 720, 30, 2500, "avenc_aac", 128, "/t/g.mp4", true)
	if strings.Count(paced, "identity sync=true") != 2 || strings.Count(paced, "vp8dec") != 2 {
		t.Errorf("paced pipeline: %q", paced)
	}
}

func TestCompRunVerdicts(t *testing.T) {
	r := &compRun{Rooms: 2, WindowS: 10, CPU: 8, IdleS: 5, IdleCPU: 1, mediaS: 20, Sent: 10, Received: 10,
		IdleRSS: 100 << 20, PeakRSS: 300 << 20, Floor: &floorRun{DecodeCPU: 2, AudioCPU: 1, EncodeCPU: 7}, FFmpegCPU: 12}
	if r.serverRate() != 0.8 || r.ingestRate() != 0.2 || r.floorRate() != 0.5 || r.ffmpegRate() != 0.6 || r.mibPerRoom() != 100 {
		t.Fatalf("rates %v %v %v %v %v", r.serverRate(), r.ingestRate(), r.floorRate(), r.ffmpegRate(), r.mibPerRoom())
	}
	if c := r.compRate(); c < 0.5999 || c > 0.6001 {
		t.Fatalf("composite-attributable %v", c)
	}
	if !r.clean() {
		t.Fatalf("clean run: %q", r.problems())
	}
	r.Outputs = []*roomOutput{{Room: "comp-00", Problems: []string{"tile p00: froze for 9 frames"}}}
	if r.clean() || !strings.Contains(strings.Join(r.problems(), ";"), "comp-00: tile p00") {
		t.Fatalf("problems %q", r.problems())
	}
	c := &capResult{Rooms: 3, Runs: []*compRun{r, {Sent: 1, Received: 1}}}
	if capPassed(c) {
		t.Fatal("1 of 2 clean passed")
	}
}

// TestCapacityVerdictOnlyFromOne: when the smallest room count tried
// already fails, the summary says so instead of "0 rooms: NOT met".
func TestCapacityVerdictOnlyFromOne(t *testing.T) {
	failing := &compRun{Rooms: 5, Size: 4, Outputs: []*roomOutput{{Room: "comp-00", Problems: []string{"late"}}}}
	cb := &compBench{bench: &bench{}, cc: compConfig{roomSize: 4}}
	got := cb.compSummary(&compResults{Capacity: []*capResult{{Rooms: 5, Runs: []*compRun{failing}}}}, false)
	if !strings.Contains(got, "no count tried held (5 or more rooms of 4") || strings.Contains(got, "0 simultaneous") {
		t.Fatalf("summary: %q", got)
	}
	got = cb.compSummary(&compResults{Capacity: []*capResult{{Rooms: 1, Runs: []*compRun{failing}}}}, false)
	if !strings.Contains(got, "0 simultaneous rooms of 4") || !strings.Contains(got, "NOT met") {
		t.Fatalf("summary from one room: %q", got)
	}
}

// TestUnmeasuredServerIsNoVerdict: a run whose server process was not
// measured (no CPU, no RSS: -server named a wrapper) must not read as a
// composite costing nothing that meets every target.
func TestUnmeasuredServerIsNoVerdict(t *testing.T) {
	r := &compRun{Size: 9, Rooms: 1, WindowS: 10, IdleS: 5, Sent: 10, Received: 10,
		Floor: &floorRun{DecodeCPU: 2, AudioCPU: 1, EncodeCPU: 7}, FFmpegCPU: 12}
	cb := &compBench{bench: &bench{}}
	got := cb.compSummary(&compResults{Sizes: []*sizeResult{{Size: 9, Runs: []*compRun{r}}}}, false)
	if strings.Contains(got, "met") || !strings.Contains(got, "no complete run") {
		t.Fatalf("summary of an unmeasured run: %q", got)
	}
}

// TestQuickCompositeBench runs the composite mode end to end at its
// smallest (one room of 2, 3 s of media, no capacity series): it checks the
// machinery — inputs, server run, output checks, floor, ffmpeg, report —
// not any performance figure.
func TestQuickCompositeBench(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end smoke run of about 30 s")
	}
	for _, tool := range []string{"go", "gst-launch-1.0", "ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	wd, _ := os.Getwd()
	root, err := moduleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "streamline")
	build := exec.Command("go", "build", "-o", bin, "./cmd/streamline")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build server: %v: %s", err, out)
	}
	jsonOut := filepath.Join(t.TempDir(), "comp.json")
	var out, errb bytes.Buffer
	rc := run([]string{"-mode", "composite", "-sizes", "2", "-rooms", "none", "-runs", "1", "-seconds", "3",
		"-idle-seconds", "1s", "-settle", "2500ms", "-server", bin, "-json", jsonOut}, &out, &errb)
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	if rc != 0 {
		t.Fatalf("exit %d", rc)
	}
	for _, want := range []string{"composite: N=2: server/floor", "cmp/flr"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(errb.String(), "ERROR") {
		t.Errorf("a run failed")
	}
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	var res compResults
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Sizes) != 1 || len(res.Sizes[0].Runs) != 1 {
		t.Fatalf("json: %s", data)
	}
	r := res.Sizes[0].Runs[0]
	if r.CPU <= 0 || r.IdleCPU <= 0 || r.Floor == nil || r.Floor.EncodeCPU <= 0 || r.FFmpegCPU <= 0 || len(r.Outputs) != 1 ||
		r.GstCPU <= 0 || r.GstPacedCPU <= 0 || r.GstErr != "" || r.GstPacedErr != "" {
		t.Fatalf("run: %+v", r)
	}
	// The paced floor and ffmpeg ran (3 s of media each), and the summary
	// holds the paced ratios.
	if r.Floor.PacedCPU <= 0 || r.FFmpegPacedCPU <= 0 || r.FFmpegPacedErr != "" {
		t.Fatalf("paced floor %v, paced ffmpeg %v %q", r.Floor.PacedCPU, r.FFmpegPacedCPU, r.FFmpegPacedErr)
	}
	for _, want := range []string{"server/floor paced", "server/ffmpeg paced", "pacing: a unit of work"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The tiles were found and followed by their stamps.
	o := r.Outputs[0]
	if o.Check == nil || len(o.Check.Tiles) != 2 || o.Check.Times.Frames < 60 {
		t.Fatalf("output check: %+v", o.Check)
	}
	for _, tl := range o.Check.Tiles {
		if tl.Shown < 30 {
			t.Errorf("tile %s: %d input frames shown", tl.Participant, tl.Shown)
		}
	}
	// Both participants' tones were looked for, and heard, in the mix.
	if a := o.Audio; a == nil || a.Err != "" || a.Blocks < 20 || len(a.Missing) != 2 {
		t.Fatalf("audio check: %+v", a)
	}
	for i, m := range o.Audio.Missing {
		if 2*m > o.Audio.Blocks {
			t.Errorf("participant %d's tone missing in %d of %d blocks", i, m, o.Audio.Blocks)
		}
	}
}

// TestMemorySummaryPerSize: the memory figure is given per room size and
// per capacity count (not one median over rooms of 4, of 9 and several
// rooms at once), and the verdict comes from the worst run of all.
func TestMemorySummaryPerSize(t *testing.T) {
	const mib = 1 << 20
	run := func(rooms int, peak, idle uint64) *compRun {
		return &compRun{Rooms: rooms, PeakRSS: peak * mib, IdleRSS: idle * mib}
	}
	cb := &compBench{bench: &bench{}, cc: compConfig{roomSize: 4}}
	res := &compResults{
		Sizes: []*sizeResult{
			{Size: 4, Runs: []*compRun{run(1, 140, 20), run(1, 142, 20), run(1, 150, 20)}},
			{Size: 9, Runs: []*compRun{run(1, 160, 20), {Err: "failed", Rooms: 1, PeakRSS: 900 * mib}}},
		},
		Capacity: []*capResult{{Rooms: 1, Runs: []*compRun{run(1, 145, 20)}}, {Rooms: 3, Runs: []*compRun{run(3, 290, 20)}}},
	}
	got := cb.memorySummary(res)
	want := "peak memory per room (MiB, medians): N=4 122, N=9 140, 1 room of 4 125, 3 rooms of 4 90; worst run 140.0 (target ≤150: met)"
	if got != want {
		t.Fatalf("summary\n got %q\nwant %q", got, want)
	}
	res.Sizes[1].Runs = append(res.Sizes[1].Runs, run(1, 180, 20))
	if got := cb.memorySummary(res); !strings.Contains(got, "worst run 160.0 (target ≤150: NOT met)") || !strings.Contains(got, "N=9 150") {
		t.Fatalf("a run over the target: %q", got)
	}
	// Just over the target: the figure shows it (a rounded "150" read "NOT met").
	res.Sizes[1].Runs = []*compRun{{Rooms: 1, PeakRSS: 170*mib + 300<<10, IdleRSS: 20 * mib}}
	if got := cb.memorySummary(res); !strings.Contains(got, "worst run 150.3 (target ≤150: NOT met)") {
		t.Fatalf("just over the target: %q", got)
	}
	if got := cb.memorySummary(&compResults{Sizes: []*sizeResult{{Size: 4, Runs: []*compRun{{Rooms: 1}}}}}); got != "" {
		t.Fatalf("nothing measured: %q", got)
	}
}

// TestCapacityCostPerRoomAgainstTheFloor: the capacity report and summary
// give a held count's composite cost per room (server − ingest window, per
// room) against the floor of the ratio runs of the same room size.
func TestCapacityCostPerRoomAgainstTheFloor(t *testing.T) {
	one := &compRun{Size: 4, Rooms: 1, WindowS: 10, CPU: 8, IdleS: 5, IdleCPU: 1, mediaS: 10, Sent: 10, Received: 10,
		Floor: &floorRun{DecodeCPU: 1, AudioCPU: 1, EncodeCPU: 4}} // floor 0.6, composite 0.6
	three := &compRun{Size: 4, Rooms: 3, WindowS: 10, CPU: 21, IdleS: 5, IdleCPU: 1.5, Sent: 10, Received: 10} // (2.1 − 0.3) / 3 = 0.6 a room
	res := &compResults{Sizes: []*sizeResult{{Size: 4, Runs: []*compRun{one}}}, Capacity: []*capResult{{Rooms: 3, Runs: []*compRun{three}}}}
	cb := &compBench{bench: &bench{}, cc: compConfig{roomSize: 4}}
	if got := capCompPerRoom(res.Capacity[0]); got < 0.5999 || got > 0.6001 {
		t.Fatalf("composite per room %v, want 0.6", got)
	}
	var b strings.Builder
	cb.capacityReport(&b, res)
	if !regexp.MustCompile(`(?m)^\s+3\s+1/1\s+2\.100\s+0\.700\s+0\.300\s+0\.600\s+1\.00x`).MatchString(b.String()) {
		t.Fatalf("capacity table:\n%s", b.String())
	}
	if got := cb.compSummary(res, false); !strings.Contains(got, "with 3 rooms running, a room's composite costs 0.600 cores, 1.00x the floor") {
		t.Fatalf("summary: %q", got)
	}
	// Without ratio runs of that size there is no floor to compare with.
	b.Reset()
	cb.capacityReport(&b, &compResults{Capacity: res.Capacity})
	if !regexp.MustCompile(`(?m)^\s+3\s+1/1\s+2\.100\s+0\.700\s+0\.300\s+0\.600\s+-\s`).MatchString(b.String()) {
		t.Fatalf("capacity table without a floor:\n%s", b.String())
	}
}

// TestSummaryShowsRunSpread: with more than one run, the summary gives the
// lowest and highest ratio beside the median; with one, no range.
func TestSummaryShowsRunSpread(t *testing.T) {
	run := func(cpu float64) *compRun {
		return &compRun{Size: 4, Rooms: 1, WindowS: 10, IdleS: 5, CPU: cpu, PeakRSS: 100 << 20, Sent: 10, Received: 10,
			Floor: &floorRun{DecodeCPU: 1, AudioCPU: 1, EncodeCPU: 8}, mediaS: 10}
	}
	cb := &compBench{bench: &bench{}}
	// Floor 1.0 core; server 12, 15 and 13 CPU-s over 10 s, no ingest cost.
	got := cb.compSummary(&compResults{Sizes: []*sizeResult{{Size: 4, Runs: []*compRun{run(12), run(15), run(13)}}}}, false)
	if !strings.Contains(got, "server/floor 1.30x") || !strings.Contains(got, "median of 3, runs 1.20–1.50x") {
		t.Errorf("summary of three runs: %q", got)
	}
	got = cb.compSummary(&compResults{Sizes: []*sizeResult{{Size: 4, Runs: []*compRun{run(12)}}}}, false)
	if !strings.Contains(got, "median of 1)") {
		t.Errorf("summary of one run: %q", got)
	}
}

func TestCapacityVerdict(t *testing.T) {
	for _, c := range []struct {
		size, best int
		allHeld    bool
		want       string
	}{
		{4, 3, true, "met"}, {4, 4, false, "met"}, {4, 2, false, "NOT met"}, {4, 0, false, "NOT met"},
		{4, 1, true, "not tried: every count up to 1 held"}, {9, 5, true, "not measured with rooms of 9"},
	} {
		if got := capacityVerdict(c.size, c.best, c.allHeld); got != c.want {
			t.Errorf("capacityVerdict(%d, %d, %v) = %q, want %q", c.size, c.best, c.allHeld, got, c.want)
		}
	}
}
