package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
)

// The audio of a composite is checked the way its video is: each input
// carries its own tone (renderInput: participant i at inputTone(i)), so the
// mix must hold every participant's tone in every 100 ms block of the
// measured window. A run whose mixer dropped or starved a voice is not a
// clean run, however cheap it was.

// inputTone is participant i's tone in Hz (renderInput): 56.7 Hz apart,
// not on a harmonic series. Tones 55 Hz apart summed to a waveform of
// period 1/55 s whose shape, and so what AAC spends encoding the mix, was
// fixed by the inputs' start offsets, which differ between the floor
// (files mixed from their starts) and the server (senders starting at
// random times): the same nine inputs mixed with three sets of offsets
// cost 0.6, 0.55 and 1.75–2.4 CPU-s of avenc_aac for 20 s (clipping at 0.3
// each). Detuned, the mix runs through its shapes every 0.6 s whatever the
// offsets (synthetic mixes: 0.76–0.82 CPU-s over five sets of offsets,
// 0.52–0.78 on the harmonic series).
func inputTone(i int) float64 { return 220 + 56.7*float64(i) }

// inputToneAmp is each input's tone amplitude (of full scale): nine of them
// sum to at most 0.9, so the mix never clips. Clipped (0.3 each), the cost
// of encoding the mix swung 0.49–1.35 CPU-s for 20 s with the offsets even
// on detuned tones; a call's mix is not run into clipping either.
const inputToneAmp = 0.1

const (
	toneRate  = 48000
	toneBlock = toneRate / 10 // 100 ms
	// minToneAmp is the least amplitude (of full scale) a present tone has
	// in a block: a sixth of an input's, as when inputs were 0.3 and this
	// 0.05. Mixed, Opus and AAC coded, each measured 0.040–0.084 in its
	// weakest block (four runs), while a missing one reads < 0.004 (the
	// Hann window's leakage from a neighbour 56.7 Hz away).
	minToneAmp = inputToneAmp / 6
	// maxMissingFraction of a participant's blocks may lack its tone.
	maxMissingFraction = 0.01
)

// audioCheck is what checkAudio found in the window.
type audioCheck struct {
	Blocks  int       `json:"blocks"`
	Missing []int     `json:"missing_blocks"` // by participant: blocks without its tone
	MinAmp  []float64 `json:"min_amplitude"`  // by participant: its weakest block
	Err     string    `json:"error,omitempty"`
}

// partTones are the tones of the first n participants.
func partTones(n int) []float64 {
	freqs := make([]float64, n)
	for i := range freqs {
		freqs[i] = inputTone(i)
	}
	return freqs
}

// checkAudio decodes the first audio stream of path to mono and looks for
// freqs in each 100 ms block from..to (seconds, in the file's time).
func checkAudio(ctx context.Context, ffmpeg, path string, freqs []float64, from, to float64) *audioCheck {
	cmd := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-nostdin", "-i", path, "-map", "0:a:0",
		"-ac", "1", "-ar", fmt.Sprint(toneRate), "-f", "s16le", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return &audioCheck{Err: fmt.Sprintf("decode audio of %s: %v %s", filepath.Base(path), err, bytes.TrimSpace(stderr.Bytes()))}
	}
	samples := make([]float64, len(out)/2)
	for i := range samples {
		samples[i] = float64(int16(binary.LittleEndian.Uint16(out[2*i:]))) / 32768
	}
	return findTones(samples, freqs, from, to)
}

// findTones measures each frequency's amplitude in each whole 100 ms block
// of samples (mono, toneRate) between from and to seconds.
func findTones(samples, freqs []float64, from, to float64) *audioCheck {
	c := &audioCheck{Missing: make([]int, len(freqs)), MinAmp: make([]float64, len(freqs))}
	for i := range c.MinAmp {
		c.MinAmp[i] = math.Inf(1)
	}
	window := make([]float64, toneBlock)
	var gain float64
	for i := range window {
		window[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(toneBlock-1))
		gain += window[i]
	}
	first := max(int(math.Ceil(from*toneRate/toneBlock)), 0)
	for b := first; (b+1)*toneBlock <= len(samples) && float64((b+1)*toneBlock) <= to*toneRate; b++ {
		block := samples[b*toneBlock : (b+1)*toneBlock]
		c.Blocks++
		for k, f := range freqs {
			a := toneAmplitude(block, window, gain, f)
			c.MinAmp[k] = min(c.MinAmp[k], a)
			if a < minToneAmp {
				c.Missing[k]++
			}
		}
	}
	if c.Blocks == 0 {
		c.Err = fmt.Sprintf("no whole 100 ms block of audio between %.1f and %.1f s (%.1f s decoded)", from, to,
			float64(len(samples))/toneRate)
		c.MinAmp = nil
	}
	return c
}

// toneAmplitude is the amplitude of frequency f in block (Goertzel, with
// the window whose sum is gain).
func toneAmplitude(block, window []float64, gain, f float64) float64 {
	coeff := 2 * math.Cos(2*math.Pi*f/toneRate)
	var s1, s2 float64
	for i, x := range block {
		s0 := x*window[i] + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(max(power, 0)) / gain
}

// problems names the participants whose tone is missing from more than
// maxMissingFraction of the window; detail, if set, adds what is known of
// where a participant's audio went.
func (c *audioCheck) problems(parts []string, detail func(part string) string) []string {
	if c == nil {
		return nil
	}
	if c.Err != "" {
		return []string{"audio: " + c.Err}
	}
	var p []string
	for i, m := range c.Missing {
		if float64(m) > maxMissingFraction*float64(c.Blocks) {
			name := fmt.Sprintf("participant %d", i)
			if i < len(parts) {
				name = parts[i]
			}
			msg := fmt.Sprintf("audio: %s's tone missing in %d of %d blocks of 100 ms", name, m, c.Blocks)
			if detail != nil && i < len(parts) {
				msg += " (" + detail(parts[i]) + ")"
			}
			p = append(p, msg)
		}
	}
	return p
}
