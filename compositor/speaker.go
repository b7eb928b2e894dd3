package compositor

import "time"

// SpeakerConfig tunes active-speaker detection.
type SpeakerConfig struct {
	// Threshold is the level (dBFS) above which someone counts as speaking
	// (default -45).
	Threshold float64
	// Margin is how much louder (dB) a challenger must be than the current
	// speaker to take over (default 6): hysteresis against blinking.
	Margin float64
	// Confirm is how long a challenger must stay ahead before taking over
	// (default 600 ms).
	Confirm time.Duration
	// MinHold is the shortest time a speaker keeps the floor (default 2 s).
	MinHold time.Duration
	// Silence drops the speaker after this long below Threshold (default 3 s).
	Silence time.Duration
	// Smoothing is the weight of a new sample in the level average (default 0.3).
	Smoothing float64
}

// SpeakerDetector picks the active speaker from audio levels with hysteresis
// and a minimum hold time, so the speaker layout never blinks between two
// people talking over each other. It is a pure function of its inputs and
// the times given; not safe for concurrent use.
type SpeakerDetector struct {
	cfg        SpeakerConfig
	smoothed   map[string]float64
	current    string
	since      time.Time // when current took the floor
	lastLoud   time.Time // when current was last above threshold
	challenger string
	challenged time.Time
}

// NewSpeakerDetector returns a detector with cfg's zero fields defaulted.
func NewSpeakerDetector(cfg SpeakerConfig) *SpeakerDetector {
	if cfg.Threshold == 0 {
		cfg.Threshold = -45
	}
	if cfg.Margin == 0 {
		cfg.Margin = 6
	}
	if cfg.Confirm == 0 {
		cfg.Confirm = 600 * time.Millisecond
	}
	if cfg.MinHold == 0 {
		cfg.MinHold = 2 * time.Second
	}
	if cfg.Silence == 0 {
		cfg.Silence = 3 * time.Second
	}
	if cfg.Smoothing == 0 {
		cfg.Smoothing = 0.3
	}
	return &SpeakerDetector{cfg: cfg, smoothed: map[string]float64{}}
}

// Update takes the participants' current levels (dBFS; absent = silent) at
// time now and returns the active speaker ("" when nobody has spoken yet or
// the speaker fell silent).
func (d *SpeakerDetector) Update(now time.Time, levels map[string]float64) string {
	for id := range d.smoothed {
		if _, ok := levels[id]; !ok {
			levels[id] = -96
		}
	}
	loudest, loudestDB := "", d.cfg.Threshold
	for id, db := range levels {
		prev, ok := d.smoothed[id]
		if !ok {
			prev = -96
		}
		s := prev + d.cfg.Smoothing*(db-prev)
		d.smoothed[id] = s
		if s > loudestDB || (s == loudestDB && loudest != "" && id < loudest) {
			loudest, loudestDB = id, s
		}
	}
	if d.current != "" {
		if d.smoothed[d.current] >= d.cfg.Threshold {
			d.lastLoud = now
		} else if now.Sub(d.lastLoud) >= d.cfg.Silence && now.Sub(d.since) >= d.cfg.MinHold {
			d.current, d.challenger = "", ""
		}
	}
	switch {
	case loudest == "" || loudest == d.current:
		d.challenger = ""
	case d.current == "":
		d.take(loudest, now)
	case loudestDB >= d.smoothed[d.current]+d.cfg.Margin || d.smoothed[d.current] < d.cfg.Threshold:
		if d.challenger != loudest {
			d.challenger, d.challenged = loudest, now
		}
		if now.Sub(d.challenged) >= d.cfg.Confirm && now.Sub(d.since) >= d.cfg.MinHold {
			d.take(loudest, now)
		}
	default:
		d.challenger = ""
	}
	return d.current
}

func (d *SpeakerDetector) take(id string, now time.Time) {
	d.current, d.since, d.lastLoud, d.challenger = id, now, now, ""
}
