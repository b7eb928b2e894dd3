package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Frame stamps: every input frame carries its frame number as a row of
// black/white cells (and a second row with the complement, to tell a
// misread from a reading), so each tile of a composite can be followed
// frame by frame: which input frame every output frame shows, hence input
// frames skipped, repeated, frozen.
const (
	stampX    = 16 // top-left corner in the 640x360 input
	stampY    = 16
	stampCell = 24 // cell size in input pixels
	stampBits = 12 // frame numbers modulo 4096
	lumaWhite = 235
	lumaBlack = 16
)

// stampI420 writes n into an I420 frame of w×h.
func stampI420(frame []byte, w, h, n int) {
	for b := 0; b < stampBits; b++ {
		bit := (n >> b) & 1
		for row := 0; row < 2; row++ {
			v := byte(lumaBlack)
			if bit^row == 1 {
				v = lumaWhite
			}
			x0, y0 := stampX+b*stampCell, stampY+row*stampCell
			for y := y0; y < y0+stampCell && y < h; y++ {
				for x := x0; x < x0+stampCell && x < w; x++ {
					frame[y*w+x] = v
				}
			}
		}
	}
	// Neutral chroma under the stamp.
	cw, ch := w/2, h/2
	u, v := frame[w*h:w*h+cw*ch], frame[w*h+cw*ch:]
	for y := stampY / 2; y < (stampY+2*stampCell)/2 && y < ch; y++ {
		for x := stampX / 2; x < (stampX+stampBits*stampCell)/2 && x < cw; x++ {
			u[y*cw+x], v[y*cw+x] = 128, 128
		}
	}
}

// rect is a rectangle in output pixels.
type rect struct{ X, Y, W, H int }

// grayFrame is an 8-bit luma picture.
type grayFrame struct {
	pix  []byte
	w, h int
}

func (g grayFrame) mean(cx, cy, r int) float64 {
	sum, n := 0, 0
	for y := max(cy-r, 0); y <= min(cy+r, g.h-1); y++ {
		for x := max(cx-r, 0); x <= min(cx+r, g.w-1); x++ {
			sum += int(g.pix[y*g.w+x])
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(sum) / float64(n)
}

// readStamp reads the frame number of an input of srcW×srcH drawn into
// content; ok is false when a cell pair does not read as a bit and its
// complement.
func readStamp(g grayFrame, content rect, srcW, srcH int) (n int, ok bool) {
	sx := float64(content.W) / float64(srcW)
	sy := float64(content.H) / float64(srcH)
	r := max(int(float64(stampCell)*min(sx, sy)/4), 1)
	for b := 0; b < stampBits; b++ {
		cx := content.X + int((float64(stampX+b*stampCell)+stampCell/2.0)*sx)
		yTop := content.Y + int((float64(stampY)+stampCell/2.0)*sy)
		yBot := content.Y + int((float64(stampY+stampCell)+stampCell/2.0)*sy)
		a, c := g.mean(cx, yTop, r), g.mean(cx, yBot, r)
		if math.Abs(a-c) < 60 || max(a, c) < 128 || min(a, c) > 128 {
			return 0, false
		}
		if a > c {
			n |= 1 << b
		}
	}
	return n, true
}

// tileStats follows one tile over the output frames of a window.
type tileStats struct {
	Participant string `json:"participant"`
	Frames      int    `json:"frames"`     // output frames looked at
	Unreadable  int    `json:"unreadable"` // frames whose stamp could not be read
	Shown       int    `json:"shown"`      // distinct input frames shown
	Repeats     int    `json:"repeats"`    // output frames showing the same input frame as the one before
	Skipped     int    `json:"skipped"`    // input frames never shown (gaps in the sequence)
	MaxRun      int    `json:"max_run"`    // most consecutive output frames showing one input frame
	Backwards   int    `json:"backwards"`  // steps that went back in the sequence
}

// followTile computes the stats of one tile from the frame number read in
// each output frame (-1: unreadable); numbers count modulo loop.
func followTile(seq []int, loop int) tileStats {
	s := tileStats{Frames: len(seq)}
	prev, run := -1, 0
	for _, n := range seq {
		if n < 0 {
			s.Unreadable++
			continue
		}
		if prev < 0 {
			s.Shown, run, s.MaxRun = 1, 1, 1
			prev = n
			continue
		}
		d := ((n-prev)%loop + loop) % loop
		switch {
		case d == 0:
			s.Repeats++
			run++
			s.MaxRun = max(s.MaxRun, run)
		case d > loop/2:
			s.Backwards++
			run = 1
		default:
			s.Shown++
			s.Skipped += d - 1
			run = 1
		}
		prev = n
	}
	return s
}

// frameTimes checks the output's frame timestamps over a window.
type frameTimes struct {
	Frames   int     `json:"frames"`   // frames with a timestamp in the window
	Expected int     `json:"expected"` // window × fps
	MaxGapMS float64 `json:"max_gap_ms"`
	Dups     int     `json:"duplicate_timestamps"`
	LastS    float64 `json:"last_s"` // last frame's time from the first
}

// checkFrameTimes counts the frames with a time in [from, to) (seconds from
// the first frame) and the largest step between consecutive frames there.
func checkFrameTimes(pts []float64, from, to float64, fps int) frameTimes {
	ft := frameTimes{Expected: int(math.Round((to - from) * float64(fps)))}
	if len(pts) == 0 {
		return ft
	}
	s := append([]float64(nil), pts...)
	sort.Float64s(s)
	t0 := s[0]
	ft.LastS = s[len(s)-1] - t0
	prev := math.NaN()
	for _, p := range s {
		t := p - t0
		if t < from-1e-6 || t >= to-1e-6 {
			prev = math.NaN()
			if t < from-1e-6 {
				prev = t
			}
			continue
		}
		ft.Frames++
		if !math.IsNaN(prev) {
			gap := (t - prev) * 1000
			if gap < 1e-3 {
				ft.Dups++
			}
			ft.MaxGapMS = max(ft.MaxGapMS, gap)
		}
		prev = t
	}
	return ft
}

// parsePTS reads ffprobe's `-show_entries packet=pts_time -of csv=p=0`.
func parsePTS(out []byte) ([]float64, error) {
	var pts []float64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := strings.Trim(strings.TrimSpace(sc.Text()), ",")
		if l == "" || l == "N/A" {
			continue
		}
		v, err := strconv.ParseFloat(l, 64)
		if err != nil {
			return nil, fmt.Errorf("pts %q: %w", l, err)
		}
		pts = append(pts, v)
	}
	return pts, sc.Err()
}

// outputCheck is what the bench verifies in a composite recording.
type outputCheck struct {
	File      string      `json:"file"`
	Times     frameTimes  `json:"times"`
	Tiles     []tileStats `json:"tiles"`
	DecodeErr string      `json:"decode_error,omitempty"`
}

// worst sums the tiles' losses: input frames skipped, the longest freeze
// (in output frames), unreadable stamps and backwards steps.
func (o *outputCheck) worst() (skipped, maxRun, unreadable, backwards int) {
	for _, t := range o.Tiles {
		skipped += t.Skipped
		maxRun = max(maxRun, t.MaxRun)
		unreadable += t.Unreadable
		backwards += t.Backwards
	}
	return
}

// Real-time limits of a composite: every output frame of the window is
// there with no gap over 1.5 frame intervals, and each tile shows the input
// frames in order with at most 1% skipped and no freeze over 3 frames
// (100 ms at 30 fps). Occasional single repeats + skips come from input
// and output clocks drifting against each other, not from lost frames.
const (
	maxSkipFraction = 0.01
	maxFreezeFrames = 3
)

// problems lists why an output does not count as real time.
func (o *outputCheck) problems(fps int) []string {
	var p []string
	if o.DecodeErr != "" {
		return []string{o.DecodeErr}
	}
	t := o.Times
	if t.Frames < t.Expected-1 {
		p = append(p, fmt.Sprintf("%s: %d of %d output frames in the window", filepath.Base(o.File), t.Frames, t.Expected))
	}
	if t.MaxGapMS > 1.5*1000/float64(fps) {
		p = append(p, fmt.Sprintf("%s: a %.0f ms gap between output frames", filepath.Base(o.File), t.MaxGapMS))
	}
	if t.Dups > 0 {
		p = append(p, fmt.Sprintf("%s: %d duplicate timestamps", filepath.Base(o.File), t.Dups))
	}
	for _, ts := range o.Tiles {
		switch {
		case ts.Frames == 0:
			p = append(p, fmt.Sprintf("tile %s: not looked at", ts.Participant))
		case ts.Unreadable > ts.Frames/100:
			p = append(p, fmt.Sprintf("tile %s: stamp unreadable in %d of %d frames", ts.Participant, ts.Unreadable, ts.Frames))
		case float64(ts.Skipped) > maxSkipFraction*float64(ts.Frames):
			p = append(p, fmt.Sprintf("tile %s: %d input frames skipped in %d", ts.Participant, ts.Skipped, ts.Frames))
		case ts.MaxRun > maxFreezeFrames:
			p = append(p, fmt.Sprintf("tile %s: froze for %d frames", ts.Participant, ts.MaxRun))
		case ts.Backwards > 0:
			p = append(p, fmt.Sprintf("tile %s: went backwards %d times", ts.Participant, ts.Backwards))
		}
	}
	return p
}

// tileRef is a tile to follow: whose video it is and where it is drawn.
type tileRef struct {
	Participant string
	Content     rect
}

// checkOutput reads a composite file's frame times (ffprobe) and decodes its
// video to luma (ffmpeg) to follow every tile's stamps over [from, to)
// seconds from its first frame.
func checkOutput(ctx context.Context, ffprobe, ffmpeg, path string, w, h, fps int, tiles []tileRef, srcW, srcH, loop int, from, to float64) *outputCheck {
	o := &outputCheck{File: path}
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		o.DecodeErr = fmt.Sprintf("ffprobe %s: %v", filepath.Base(path), err)
		return o
	}
	pts, err := parsePTS(out)
	if err != nil || len(pts) == 0 {
		o.DecodeErr = fmt.Sprintf("ffprobe %s: no frames (%v)", filepath.Base(path), err)
		return o
	}
	o.Times = checkFrameTimes(pts, from, to, fps)
	sort.Float64s(pts)

	cmd := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-nostdin", "-i", path, "-map", "0:v:0",
		"-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		o.DecodeErr = err.Error()
		return o
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		o.DecodeErr = err.Error()
		return o
	}
	seqs := make([][]int, len(tiles))
	buf := make([]byte, w*h)
	r := bufio.NewReaderSize(stdout, 1<<20)
	i := 0
	for ; ; i++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			if !errors.Is(err, io.EOF) {
				o.DecodeErr = fmt.Sprintf("ffmpeg %s: frame %d: %v", filepath.Base(path), i, err)
			}
			break
		}
		if i >= len(pts) {
			continue
		}
		t := pts[i] - pts[0]
		if t < from-1e-6 || t >= to-1e-6 {
			continue
		}
		g := grayFrame{pix: buf, w: w, h: h}
		for k, tl := range tiles {
			n, ok := readStamp(g, tl.Content, srcW, srcH)
			if !ok {
				n = -1
			}
			seqs[k] = append(seqs[k], n)
		}
	}
	if err := cmd.Wait(); err != nil && o.DecodeErr == "" {
		o.DecodeErr = fmt.Sprintf("ffmpeg %s: %v: %s", filepath.Base(path), err, oneLine(stderr.String()))
	}
	if o.DecodeErr == "" && i != len(pts) {
		o.DecodeErr = fmt.Sprintf("ffmpeg %s: decoded %d frames, ffprobe counted %d", filepath.Base(path), i, len(pts))
	}
	for k, tl := range tiles {
		ts := followTile(seqs[k], loop)
		ts.Participant = tl.Participant
		o.Tiles = append(o.Tiles, ts)
	}
	return o
}
