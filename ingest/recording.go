package ingest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Recording modes.
const (
	ModePerTrack       = "per_track"
	ModePerParticipant = "per_participant"
)

// Recording states.
const (
	StateRecording = "recording"
	StateStopping  = "stopping"
	StateStopped   = "stopped"
	StateFailed    = "failed"
)

// File states.
const (
	FileRecording = "recording"
	FileFinal     = "final"
	FileFailed    = "failed"
	// FileEmpty: nothing of the track could be recorded (see the Empty*
	// reasons, given in FileEntry.Error); no file is kept, since a file
	// with no stream would only look like a recording.
	FileEmpty = "empty"
)

// Why a file is FileEmpty.
const (
	// EmptyNoMedia: no media reached the recording between its start and
	// its stop (the track was muted or not sending, or the recording was
	// stopped right after it started).
	EmptyNoMedia = "no media arrived while recording"
	// EmptyNoKeyframe: video arrived, but no keyframe did, and frames that
	// depend on a picture the file does not have cannot be decoded.
	EmptyNoKeyframe = "no keyframe arrived while recording"
)

// FileEntry describes one recorded file; it is what the manifest lists.
type FileEntry struct {
	Path          string   `json:"path"` // relative to the data root
	Participant   string   `json:"participant"`
	Track         string   `json:"track"`
	Tracks        []string `json:"tracks,omitempty"` // per_participant: the tracks merged in
	Kind          string   `json:"kind"`             // audio, video, or av (per_participant)
	Codec         string   `json:"codec"`
	Container     string   `json:"container"`
	Segment       int      `json:"segment"`
	SSRC          uint32   `json:"ssrc,omitempty"`
	State         string   `json:"state"`
	StartOffsetMS int64    `json:"start_offset_ms"`
	DurationMS    int64    `json:"duration_ms"`
	Bytes         uint64   `json:"bytes"`
	// FirstSampleNTP is the sender's wall-clock time of the first sample,
	// from the track's RTCP sender reports; absent when none arrived.
	FirstSampleNTP    *time.Time `json:"first_sample_ntp,omitempty"`
	FirstSampleNTPRaw uint64     `json:"first_sample_ntp_raw,omitempty"`
	FirstSampleRTP    *uint32    `json:"first_sample_rtp_ts,omitempty"`
	// FirstSampleServerTime is this server's wall clock when the first sample arrived.
	FirstSampleServerTime *time.Time `json:"first_sample_server_time,omitempty"`
	Error                 string     `json:"error,omitempty"`

	started bool // first sample seen
}

// RecordingInfo is a snapshot of a recording, also written as manifest.json.
type RecordingInfo struct {
	ID        string       `json:"id"`
	Room      string       `json:"room"`
	Kind      string       `json:"kind"`
	Mode      string       `json:"mode"`
	State     string       `json:"state"`
	StartedAt time.Time    `json:"started_at"`
	StoppedAt *time.Time   `json:"stopped_at,omitempty"`
	Dir       string       `json:"dir"` // relative to the data root
	Manifest  string       `json:"manifest"`
	Files     []*FileEntry `json:"files"`
	Error     string       `json:"error,omitempty"`
}

// Recording is a raw-track recording of a room: one branch per track segment.
type Recording struct {
	mu sync.Mutex
	// writeMu orders the manifest's rewrites: several goroutines rewrite it
	// (the read loop on a new file, the control API, the room's stop), and
	// two writing the same temporary file at once leave a mix of both.
	writeMu sync.Mutex
	info    RecordingInfo
	startRT int64 // room running time at start
	dataDir string
	// partsDir (relative to dataDir) holds the per-track files; for
	// per_participant recordings they are merged into Dir when it stops.
	partsDir string
	// per track id: number of files opened so far (names stay unique)
	fileSeq map[string]int
}

func newRecording(id, room, mode, dataDir string, startRT int64, now time.Time) *Recording {
	dir := filepath.Join(safeName(room), id)
	return &Recording{
		info: RecordingInfo{
			ID: id, Room: room, Kind: "tracks", Mode: mode, State: StateRecording,
			StartedAt: now.UTC(), Dir: dir, Manifest: filepath.Join(dir, "manifest.json"), Files: []*FileEntry{},
		},
		startRT:  startRT,
		dataDir:  dataDir,
		partsDir: partsDirFor(dir, mode),
		fileSeq:  map[string]int{},
	}
}

// Info returns a deep copy of the recording's state.
func (r *Recording) Info() RecordingInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.infoLocked()
}

func (r *Recording) infoLocked() RecordingInfo {
	out := r.info
	out.Files = make([]*FileEntry, len(r.info.Files))
	for i, f := range r.info.Files {
		c := *f
		out.Files[i] = &c
	}
	return out
}

// newFile registers a file for a track segment and returns its entry and
// absolute path.
func (r *Recording) newFile(t TrackInfo, codec Codec, segment int) (*FileEntry, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.fileSeq[t.ID]
	r.fileSeq[t.ID] = n + 1
	name := fmt.Sprintf("%s_%s", safeName(t.Participant), safeName(t.ID))
	if n > 0 {
		name += fmt.Sprintf("_%d", n)
	}
	rel := filepath.Join(r.partsDir, name+"."+codec.Container)
	f := &FileEntry{
		Path: rel, Participant: t.Participant, Track: t.ID, Kind: string(codec.Kind), Codec: codec.Name,
		Container: codec.Container, Segment: segment, SSRC: t.SSRC, State: FileRecording, StartOffsetMS: -1,
	}
	r.info.Files = append(r.info.Files, f)
	return f, filepath.Join(r.dataDir, rel)
}

func partsDirFor(dir, mode string) string {
	if mode == ModePerParticipant {
		return filepath.Join(dir, "tracks")
	}
	return dir
}

// writeManifest atomically rewrites manifest.json next to the files.
func (r *Recording) writeManifest() error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.Lock()
	info := r.infoLocked()
	r.mu.Unlock()
	return WriteJSONAtomic(filepath.Join(r.dataDir, info.Manifest), info)
}

// WriteJSONAtomic writes v as indented JSON to path through a temporary file
// renamed over it, so readers see the old file or the new one, never a part.
// Callers writing one path from several goroutines serialize their calls.
func WriteJSONAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// safeName keeps ids usable as file names: anything outside [A-Za-z0-9._-]
// becomes '_', and names never start with a dot.
func safeName(s string) string {
	out := []byte(s)
	for i, c := range out {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			out[i] = '_'
		}
	}
	if len(out) > 0 && out[0] == '.' {
		out[0] = '_'
	}
	if len(out) == 0 {
		return "_"
	}
	return string(out)
}
