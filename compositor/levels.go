package compositor

// Levels returns the current loudness (dBFS, -96 = silence) of each
// participant with audio in the mix: the loudest of their tracks, from the
// same probes the active-speaker detector reads. Muted participants and
// those whose audio stopped arriving report -96.
func (g *Graph) Levels() map[string]float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]float64, len(g.audios))
	for _, ai := range g.audios {
		db, ok := ai.level()
		if !ok || ai.muted {
			db = -96
		}
		if cur, seen := out[ai.in.Participant]; !seen || db > cur {
			out[ai.in.Participant] = db
		}
	}
	return out
}
