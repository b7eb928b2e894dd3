package ingest

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// mergeTimeout bounds one participant remux.
var mergeTimeout = 2 * time.Minute

// participantGroup is the set of per-track files merged into one
// per-participant file: at most one audio and one video file.
type participantGroup struct {
	participant string
	audio       *FileEntry
	video       *FileEntry
}

func (g *participantGroup) files() []*FileEntry {
	var out []*FileEntry
	for _, f := range []*FileEntry{g.video, g.audio} {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}

// groupByParticipant pairs each participant's finished files in start order:
// a file joins the participant's first group that lacks its kind. A codec
// change or a second camera therefore makes a second file for the participant.
func groupByParticipant(files []*FileEntry) []*participantGroup {
	sorted := append([]*FileEntry(nil), files...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].StartOffsetMS < sorted[j].StartOffsetMS })
	var groups []*participantGroup
	byParticipant := map[string][]*participantGroup{}
	for _, f := range sorted {
		if f.State != FileFinal || !f.started {
			continue
		}
		var target *participantGroup
		for _, g := range byParticipant[f.Participant] {
			if (f.Kind == string(Audio) && g.audio == nil) || (f.Kind == string(Video) && g.video == nil) {
				target = g
				break
			}
		}
		if target == nil {
			target = &participantGroup{participant: f.Participant}
			byParticipant[f.Participant] = append(byParticipant[f.Participant], target)
			groups = append(groups, target)
		}
		if f.Kind == string(Audio) {
			target.audio = f
		} else {
			target.video = f
		}
	}
	return groups
}

// mergeParticipants remuxes a per_participant recording's per-track files
// (no transcoding) into one file per participant, keeping each track's
// offset so audio and video stay aligned. On success the per-track files are
// removed and the recording lists the merged files; on failure the per-track
// files stay and are listed, and the error is returned.
func mergeParticipants(rec *Recording, log *slog.Logger) error {
	rec.mu.Lock()
	files := append([]*FileEntry(nil), rec.info.Files...)
	dir, dataDir := rec.info.Dir, rec.dataDir
	rec.mu.Unlock()

	groups := groupByParticipant(files)
	merged := make([]*FileEntry, 0, len(groups))
	count := map[string]int{}
	for _, g := range groups {
		name := safeName(g.participant)
		if n := count[g.participant]; n > 0 {
			name += fmt.Sprintf("_%d", n)
		}
		count[g.participant]++
		out, err := mergeGroup(g, dataDir, dir, name)
		if err != nil {
			return fmt.Errorf("merge participant %s: %w", g.participant, err)
		}
		merged = append(merged, out)
	}
	for _, f := range files {
		if err := os.Remove(filepath.Join(dataDir, f.Path)); err != nil && !os.IsNotExist(err) {
			log.Warn("remove merged track file", "path", f.Path, "error", err)
		}
	}
	_ = os.Remove(filepath.Join(dataDir, partsDirFor(dir, ModePerParticipant)))
	rec.mu.Lock()
	rec.info.Files = merged
	rec.mu.Unlock()
	return nil
}

func mergeGroup(g *participantGroup, dataDir, dir, name string) (*FileEntry, error) {
	members := g.files()
	start := members[0].StartOffsetMS
	end := int64(0)
	container := "webm"
	var codecs, tracks []string
	for _, f := range members {
		start = min(start, f.StartOffsetMS)
		end = max(end, f.StartOffsetMS+f.DurationMS)
		if f.Container == "mkv" {
			container = "mkv"
		}
		codecs = append(codecs, f.Codec)
		tracks = append(tracks, f.Track)
	}
	rel := filepath.Join(dir, name+"."+container)
	mux := "webmmux"
	if container == "mkv" {
		mux = "matroskamux"
	}
	var desc strings.Builder
	fmt.Fprintf(&desc, "%s name=mux streamable=false ! filesink location=%q ", mux, filepath.Join(dataDir, rel))
	for i, f := range members {
		// Name the muxer pad: an unnegotiated queue cannot pick one itself.
		fmt.Fprintf(&desc, "filesrc location=%q ! matroskademux ! queue name=q%d ! mux.%s_%d ", filepath.Join(dataDir, f.Path), i, f.Kind, i)
	}
	pipe, err := gst.NewPipelineFromString(desc.String())
	if err != nil {
		return nil, fmt.Errorf("build remux pipeline: %w", err)
	}
	ok := false
	defer func() {
		_ = gstx.StopElement(pipe.Element, 10*time.Second)
		if !ok { // never leave a half-written, unlisted file behind
			_ = os.Remove(filepath.Join(dataDir, rel))
		}
	}()
	for i, f := range members {
		q, err := pipe.GetElementByName(fmt.Sprintf("q%d", i))
		if err != nil {
			return nil, fmt.Errorf("remux queue: %w", err)
		}
		q.GetStaticPad("src").SetOffset((f.StartOffsetMS - start) * int64(time.Millisecond))
	}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		return nil, fmt.Errorf("start remux: %w", err)
	}
	bus := pipe.GetPipelineBus()
	msg := bus.TimedPopFiltered(gst.ClockTime(mergeTimeout), gst.MessageEOS|gst.MessageError)
	switch {
	case msg == nil:
		return nil, fmt.Errorf("remux timed out after %s", mergeTimeout)
	case msg.Type() == gst.MessageError:
		return nil, fmt.Errorf("remux: %w", msg.ParseError())
	}
	ok = true
	out := &FileEntry{
		Path: rel, Participant: g.participant, Tracks: tracks, Kind: "av", Codec: strings.Join(codecs, "+"),
		Container: container, State: FileFinal, StartOffsetMS: start, DurationMS: end - start, started: true,
	}
	if len(members) == 1 {
		out.Kind = members[0].Kind
	}
	first := members[0]
	for _, f := range members {
		if f.StartOffsetMS == start {
			first = f
		}
	}
	out.Track = first.Track
	out.FirstSampleNTP, out.FirstSampleNTPRaw, out.FirstSampleRTP = first.FirstSampleNTP, first.FirstSampleNTPRaw, first.FirstSampleRTP
	out.FirstSampleServerTime = first.FirstSampleServerTime
	if st, err := os.Stat(filepath.Join(dataDir, rel)); err == nil {
		out.Bytes = uint64(st.Size())
	}
	return out, nil
}
