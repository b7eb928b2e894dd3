package compositor

import (
	"testing"
	"time"
)

// step feeds the detector 100 ms samples for dur and returns the speaker
// after each sample.
func step(d *SpeakerDetector, now *time.Time, dur time.Duration, levels map[string]float64) []string {
	var out []string
	for t := time.Duration(0); t < dur; t += 100 * time.Millisecond {
		*now = now.Add(100 * time.Millisecond)
		l := map[string]float64{}
		for k, v := range levels {
			l[k] = v
		}
		out = append(out, d.Update(*now, l))
	}
	return out
}

func last(s []string) string { return s[len(s)-1] }

func changes(s []string) int {
	n := 0
	for i := 1; i < len(s); i++ {
		if s[i] != s[i-1] {
			n++
		}
	}
	return n
}

func TestSpeakerDetectorHysteresisAndHold(t *testing.T) {
	now := time.Unix(0, 0)
	d := NewSpeakerDetector(SpeakerConfig{})
	if got := last(step(d, &now, time.Second, map[string]float64{"a": -80, "b": -85})); got != "" {
		t.Fatalf("background noise elected %q", got)
	}
	if got := last(step(d, &now, time.Second, map[string]float64{"a": -20, "b": -70})); got != "a" {
		t.Fatalf("a speaks: speaker %q", got)
	}
	// b talks over a, only slightly louder: within the margin, a keeps the floor.
	if s := step(d, &now, 3*time.Second, map[string]float64{"a": -22, "b": -19}); changes(s) != 0 || last(s) != "a" {
		t.Fatalf("a small lead must not switch: %v", s)
	}
	// Alternating loudness every 200 ms: no blinking.
	var all []string
	for i := 0; i < 15; i++ {
		lv := map[string]float64{"a": -15, "b": -35}
		if i%2 == 1 {
			lv = map[string]float64{"a": -35, "b": -15}
		}
		all = append(all, step(d, &now, 200*time.Millisecond, lv)...)
	}
	if changes(all) > 1 {
		t.Fatalf("speaker blinked %d times under alternating levels", changes(all))
	}
	// b clearly takes over for good.
	s := step(d, &now, 3*time.Second, map[string]float64{"a": -60, "b": -15})
	if last(s) != "b" {
		t.Fatalf("b dominates but speaker is %q", last(s))
	}
	// Minimum hold: a loud a right after the switch waits for MinHold.
	s = step(d, &now, 1500*time.Millisecond, map[string]float64{"a": -10, "b": -40})
	if s[0] != "b" {
		t.Fatalf("switched back at once: %v", s)
	}
	// Everyone silent for long: nobody speaks.
	if got := last(step(d, &now, 5*time.Second, map[string]float64{})); got != "" {
		t.Fatalf("after silence speaker is %q", got)
	}
}
