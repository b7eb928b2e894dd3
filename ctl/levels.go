package ctl

import (
	"math"
	"time"

	"github.com/streamline-media/streamline/compositor"
)

// levelsInterval is how often audio_levels events are sent while a room's
// compositor runs.
var levelsInterval = 250 * time.Millisecond

// runLevels publishes the mix's per-participant audio levels (dBFS, rounded
// to 1 dB) and the active speaker until stop is closed. Nothing is sent
// while every participant stays silent, after one event saying so.
func (s *Server) runLevels(room string, g *compositor.Graph, stop <-chan struct{}) {
	tick := time.NewTicker(levelsInterval)
	defer tick.Stop()
	quiet := false
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		levels := g.Levels()
		silent := true
		for p, db := range levels {
			db = math.Round(db)
			levels[p] = db
			if db > -96 {
				silent = false
			}
		}
		if silent && quiet {
			continue
		}
		quiet = silent
		s.hub.publish(Event{Type: "audio_levels", Room: room, Data: map[string]any{"levels": levels, "speaker": g.Speaker()}})
	}
}
