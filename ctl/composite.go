package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/compositor"
	"github.com/streamline-media/streamline/encode"
	"github.com/streamline-media/streamline/ingest"
	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/layouts"
)

// compositeEOSTimeout bounds the wait for an encoding's file to finalize.
var compositeEOSTimeout = 15 * time.Second

// VideoJSON is one encoding's video settings in the API.
type VideoJSON struct {
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	FPS         int    `json:"fps,omitempty"`
	Codec       string `json:"codec,omitempty"`
	BitrateKbps int    `json:"bitrate_kbps,omitempty"`
	// Encoder forces an encoder element (e.g. "x264enc"); Prefer picks a
	// family ("software", "nvenc", "va", "vaapi", "qsv").
	Encoder string `json:"encoder,omitempty"`
	Prefer  string `json:"prefer,omitempty"`
}

// AudioJSON is the audio settings in the API.
type AudioJSON struct {
	Codec       string `json:"codec,omitempty"`
	BitrateKbps int    `json:"bitrate_kbps,omitempty"`
}

type compositeRequest struct {
	ID        string          `json:"id"`
	Kind      string          `json:"kind"`
	Mode      string          `json:"mode"`
	Layout    json.RawMessage `json:"layout"`
	Video     *VideoJSON      `json:"video"`
	Audio     *AudioJSON      `json:"audio"`
	Format    string          `json:"format"`
	Encodings []VideoJSON     `json:"encodings"`
	Tracks    bool            `json:"tracks"`
	Outputs   []StreamRequest `json:"outputs"` // live outputs (streams.go)
}

// EncodingInfo reports one rendition of a composite recording.
type EncodingInfo struct {
	Path         string         `json:"path"` // relative to --data
	Format       string         `json:"format"`
	Video        VideoJSON      `json:"video"`
	Audio        AudioJSON      `json:"audio"`
	VideoEncoder encode.Choice  `json:"video_encoder"`
	AudioEncoder encode.Choice  `json:"audio_encoder"`
	State        string         `json:"state"`
	Bytes        int64          `json:"bytes"`
	DurationMS   int64          `json:"duration_ms"`
	Error        string         `json:"error,omitempty"`
	name         string         // prefix of its elements' names
	times        *gstx.Times    // on the muxer's video input
	zero         int64          // room running time at which the encoding's timeline starts
	out          *encodingChain // nil once stopped
}

// CompositeInfo is the API representation of a composite recording.
type CompositeInfo struct {
	ID        string                `json:"id"`
	Room      string                `json:"room"`
	Kind      string                `json:"kind"`
	State     string                `json:"state"`
	StartedAt time.Time             `json:"started_at"`
	StoppedAt *time.Time            `json:"stopped_at,omitempty"`
	Layout    layouts.Spec          `json:"layout"`
	Encodings []*EncodingInfo       `json:"encodings"`
	Files     []ingest.FileEntry    `json:"files"`
	Tracks    *ingest.RecordingInfo `json:"tracks,omitempty"`
	Manifest  string                `json:"manifest"`
	Outputs   []StreamInfo          `json:"outputs,omitempty"` // live outputs (streams.go)
}

// roomMedia is what ctl keeps beside an ingest room: its compositor (while a
// composite recording runs), the taps feeding it, the layout, and composite
// recordings.
type roomMedia struct {
	mu    sync.Mutex
	room  *ingest.Room
	graph *compositor.Graph
	// mixShape is the width and height the graph started with: the mix
	// keeps that shape when it is resized (fitMixLocked).
	mixShape   [2]int
	taps       map[string]*ingest.Tap
	layout     layouts.Spec
	composites map[string]*compositeRec
	// syncOffsets are the lip-sync delays applied per track; stopSync ends
	// the loop that keeps them current.
	syncOffsets map[string]time.Duration
	stopSync    chan struct{}
	log         *slog.Logger
	// holders are users of the compositor other than composite recordings
	// (live streams, preview watchers), by name. Each stop func is called
	// with mu held when the room closes, and must not take mu.
	holders map[string]func()
	// past are the recordings of an earlier run of a restored room.
	past []ingest.RecordingInfo
	// lastCost is the room's latest CPU estimate (cost.go), under costMu.
	costMu   sync.Mutex
	lastCost float64
	// lw reports the first frame after a layout change (layoutwatch.go).
	lw *layoutWatch
	// preview is the live JPEG preview (preview.go).
	preview previewFeed
	// streams are the room's live outputs and liveFeeds the encoders they
	// share (streams.go, livefeeds.go).
	streams   map[string]*stream
	liveFeeds map[string]*liveFeed
}

type compositeRec struct {
	mu   sync.Mutex
	info CompositeInfo
	// writeMu orders composite.json writes: each snapshots under it, so
	// the file always ends with the latest state.
	writeMu sync.Mutex
}

// encodingChain is one rendition: queues + encoders from the compositor's
// tees into a muxer bin ending in a file.
type encodingChain struct {
	vout, aout *compositor.Output
	vq, aq     *gst.Element
	venc, aenc *encode.Encoder
	mux        *encode.Mux
	eos        *gstx.EOSWatch
	align      *gstx.StartAlign
}

// alignWait bounds how long an encoding's first video frame and first audio
// buffer wait for each other.
const alignWait = time.Second

// defaultVideo fills the absent (zero) video settings: 1280x720, 30 fps,
// H.264, and a bitrate for the size and rate (defaultBitrateKbps).
func defaultVideo(v VideoJSON) VideoJSON {
	if v.Width == 0 {
		v.Width = 1280
	}
	if v.Height == 0 {
		v.Height = 720
	}
	if v.FPS == 0 {
		v.FPS = 30
	}
	if v.Codec == "" {
		v.Codec = encode.H264
	}
	if v.BitrateKbps == 0 {
		v.BitrateKbps = defaultBitrateKbps(v.Width, v.Height, v.FPS)
	}
	return v
}

// defaultBitrateKbps is the bitrate of a rendition that names none: 2500
// kbit/s at 1280x720@30, scaled by the pixel rate to the power 0.75 (a
// picture with more pixels needs fewer bits per pixel: 1080p30 ~4600,
// 640x360@30 ~880, 426x240@15 ~290), rounded to 50 and kept within what
// the settings accept.
func defaultBitrateKbps(w, h, fps int) int {
	const ref = 1280 * 720 * 30
	kbps := 2500 * math.Pow(float64(w)*float64(h)*float64(fps)/ref, 0.75)
	return min(max(int(math.Round(kbps/50))*50, encode.MinVideoKbps), encode.MaxVideoKbps)
}

// mixFor is the mix a composite of these renditions starts the room's
// compositor with: the first rendition's shape, at the smallest size that
// none of them scales up, at the highest frame rate among them (minMix).
// Every rendition is then the mix scaled down (or not at all): scaling up
// from a smaller mix would blur a larger one.
func mixFor(encodings []VideoJSON) VideoJSON {
	mix := encodings[0]
	mix.Width, mix.Height, mix.FPS = minMix(mix.Width, mix.Height, encodings)
	return mix
}

// coverOf is the smallest frame of mixW x mixH's shape that a rendition of
// w x h does not scale up: a rendition shows the whole mix, letterboxed
// when the shapes differ, scaled by the smaller of w/mixW and h/mixH, so
// the side that bounds that scale must be the rendition's. Sizes are even.
func coverOf(mixW, mixH, w, h int) (coverW, coverH int) {
	evenUp := func(num, den int) int { return ((num+den-1)/den + 1) &^ 1 }
	if w*mixH <= h*mixW { // the width bounds the scale
		return w, min(evenUp(mixH*w, mixW), h)
	}
	return min(evenUp(mixW*h, mixH), w), h
}

// fitMixLocked sizes the running mix for the renditions that take it
// (the encodings of running composites, the live streams, and extra, about
// to start): the smallest size of the mix's shape that none of them scales
// up, at the highest frame rate among them (compositor.Graph.SetFrame,
// while it runs). A larger or faster rendition grows it, so it is as sharp
// and smooth as if it had come first; when it stops, the mix shrinks back
// and stops spending CPU on pixels and frames nobody records. An open
// preview counts as a rendition of its own size (previewWidth wide) at any
// rate. A mix that cannot take the size (the layout does not fit) is logged
// and left as it is: a larger rendition is then scaled up, as before.
func (m *roomMedia) fitMixLocked(extra ...VideoJSON) {
	if m.graph == nil {
		return
	}
	rends := slices.Clone(extra)
	for _, c := range m.composites {
		c.mu.Lock()
		if c.info.State == ingest.StateRecording {
			for _, e := range c.info.Encodings {
				if e.State == ingest.FileRecording {
					rends = append(rends, e.Video)
				}
			}
		}
		c.mu.Unlock()
	}
	for _, st := range m.streams {
		rends = append(rends, defaultVideo(st.info.Video))
	}
	if _, watched := m.holders[previewHolder]; watched {
		// The preview is previewWidth wide in the mix's shape, at any rate.
		rends = append(rends, VideoJSON{Width: previewWidth, Height: previewHeight(m.mixShape[0], m.mixShape[1])})
	}
	if len(rends) == 0 {
		return
	}
	w, h, fps := minMix(m.mixShape[0], m.mixShape[1], rends)
	if fps <= 0 { // only the preview
		_, _, fps = m.graph.Frame()
	}
	// SetFrame does nothing when the frame is already that.
	if err := m.graph.SetFrame(w, h, fps); err != nil {
		m.log.Warn("composite: mix not changed for its renditions", "to", fmt.Sprintf("%dx%d@%d", w, h, fps), "error", err)
	}
}

// minMix is the smallest frame of shapeW x shapeH's shape that none of
// rends scales up (the shape itself when there are none), and the highest
// frame rate among them (0 when none has one).
func minMix(shapeW, shapeH int, rends []VideoJSON) (w, h, fps int) {
	for _, v := range rends {
		if cw, ch := coverOf(shapeW, shapeH, v.Width, v.Height); cw > w {
			w, h = cw, ch
		}
		fps = max(fps, v.FPS)
	}
	if w == 0 {
		return shapeW, shapeH, fps
	}
	return w, h, fps
}

// defaultFormat picks a container for the first encoding's codec (none:
// H.264's).
func defaultFormat(codec string) string {
	switch codec {
	case encode.VP8, encode.VP9:
		return encode.FormatWebM
	}
	return encode.FormatMP4
}

// defaultCodec is the video codec of an encoding that names none, in a
// recording of this format: VP8 in WebM (which cannot carry H.264), else
// H.264.
func defaultCodec(format string) string {
	if format == encode.FormatWebM {
		return encode.VP8
	}
	return encode.H264
}

func defaultAudio(a AudioJSON, format string) AudioJSON {
	if a.Codec == "" {
		a.Codec = encode.AAC
		if format == encode.FormatWebM {
			a.Codec = encode.Opus
		}
	}
	if a.BitrateKbps == 0 {
		a.BitrateKbps = 128
		if a.Codec == encode.Opus {
			a.BitrateKbps = 64
		}
	}
	return a
}

// media returns the ctl-side state of a room served here.
func (s *Server) media(id string) *roomMedia {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.medias[id]
}

// onTrackEvent tells WebSocket subscribers and keeps the compositor in step
// with the room's tracks.
func (s *Server) onTrackEvent(ev ingest.Event) {
	s.hub.publish(Event{Type: string(ev.Type), Room: ev.Room, Data: ev.Track})
	m := s.media(ev.Room)
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.graph == nil {
		return
	}
	switch ev.Type {
	case ingest.EventTrackAdded:
		m.mixLocked(ev.Track, s)
	case ingest.EventTrackRemoved:
		m.unmixLocked(ev.Track.ID)
	case ingest.EventTrackSegment:
		m.unmixLocked(ev.Track.ID)
		m.mixLocked(ev.Track, s)
	case ingest.EventTrackMuted, ingest.EventTrackUnmuted:
		_ = m.graph.SetMuted(ev.Track.ID, ev.Type == ingest.EventTrackMuted)
	}
}

func (m *roomMedia) mixLocked(t ingest.TrackInfo, s *Server) {
	tap, err := m.room.Tap(t.ID)
	if err != nil {
		s.log.Warn("composite: tap track", "room", m.room.ID(), "track", t.ID, "error", err)
		return
	}
	late := m.room.TimelineLateness(t.ID)
	in := compositor.Input{TrackID: t.ID, Participant: t.Participant, Name: t.Name, Source: t.Source,
		Kind: string(tap.Codec.Kind), Decoder: tap.Codec.Decoder, Pad: tap.Pad, Muted: t.Muted, JoinedAt: t.CreatedAt,
		Lateness: late}
	if err := m.graph.Add(in); err != nil {
		tap.Close()
		s.log.Warn("composite: mix track", "room", m.room.ID(), "track", t.ID, "error", err)
		return
	}
	m.taps[t.ID] = tap
	if late > 0 {
		m.syncOffsets[t.ID] = -late // syncLocked goes on from there
	}
	if t.Kind == ingest.Video {
		_ = m.room.RequestKeyframe(t.ID) // no black start: the tile decodes as soon as possible
	}
}

func (m *roomMedia) unmixLocked(trackID string) {
	delete(m.syncOffsets, trackID)
	if m.graph != nil {
		_ = m.graph.Remove(trackID)
	}
	if tap := m.taps[trackID]; tap != nil {
		tap.Close()
		delete(m.taps, trackID)
	}
}

// ensureGraphLocked starts the room's compositor with every current track.
func (m *roomMedia) ensureGraphLocked(s *Server, v VideoJSON) error {
	if m.graph != nil {
		return nil
	}
	g, err := compositor.New(compositor.Config{
		Name: "comp", Pipeline: m.room.Pipeline(), Width: v.Width, Height: v.Height, FPS: v.FPS,
		Latency: s.cfg.MixLatency, Layout: m.layout, Logger: s.log.With("room", m.room.ID()),
		OnSpeaker: func(p string) {
			s.hub.publish(Event{Type: "active_speaker", Room: m.room.ID(), Data: map[string]string{"participant": p}})
		},
	})
	if err != nil {
		return err
	}
	m.graph = g
	m.mixShape = [2]int{v.Width, v.Height}
	m.syncOffsets = map[string]time.Duration{}
	m.log = s.log.With("room", m.room.ID())
	m.stopSync = make(chan struct{})
	go m.runSync(s, m.stopSync)
	go s.runLevels(m.room.ID(), g, m.stopSync)
	for _, t := range m.room.Tracks() {
		m.mixLocked(t, s)
	}
	// Whoever started the graph (a recording, a preview, a live output)
	// takes frames from now on: the first ones would show empty cells
	// where the placeholders are not out yet.
	if !g.WaitShown(firstFrameWait) {
		m.log.Debug("composite: starting before every tile is shown", "waited", firstFrameWait)
	}
	return nil
}

// firstFrameWait bounds how long a new compositor waits for every tile to
// be shown before its first consumer attaches (0.07–0.21 s measured in the
// end-to-end composite tests: the mixer's latency and a frame or two).
const firstFrameWait = 500 * time.Millisecond

// holdGraphLocked starts the compositor if needed (at v's size and rate
// when it starts here) and keeps it running for key until
// releaseGraphLocked(key). stop is called if the room closes first.
func (m *roomMedia) holdGraphLocked(s *Server, key string, v VideoJSON, stop func()) error {
	if _, dup := m.holders[key]; dup {
		return fmt.Errorf("compositor holder %q: %w", key, ingest.ErrConflict)
	}
	if err := m.ensureGraphLocked(s, defaultVideo(v)); err != nil {
		return fmt.Errorf("start compositor: %w", err)
	}
	if m.holders == nil {
		m.holders = map[string]func(){}
	}
	m.holders[key] = stop
	return nil
}

// releaseGraphLocked drops key's hold and stops the compositor when nothing
// else uses it.
func (m *roomMedia) releaseGraphLocked(key string) {
	delete(m.holders, key)
	m.closeGraphIfIdleLocked()
}

// stopHoldersLocked tells every holder the room is closing.
func (m *roomMedia) stopHoldersLocked() {
	for key, stop := range m.holders {
		if stop != nil {
			stop()
		}
		delete(m.holders, key)
	}
}

// closeGraphIfIdleLocked stops the compositor when no composite records and
// nothing else holds it.
func (m *roomMedia) closeGraphIfIdleLocked() {
	if len(m.holders) > 0 {
		return
	}
	for _, c := range m.composites {
		c.mu.Lock()
		active := c.info.State == ingest.StateRecording || c.info.State == ingest.StateStopping
		c.mu.Unlock()
		if active {
			return
		}
	}
	if m.graph == nil {
		return
	}
	close(m.stopSync)
	for id := range m.taps {
		m.unmixLocked(id)
	}
	freeWatch := m.stopLayoutWatchLocked()
	m.graph.Close()
	freeWatch()
	m.graph = nil
}

func (s *Server) startComposite(m *roomMedia, req compositeRequest) (CompositeInfo, error) {
	spec := m.currentLayout()
	if len(req.Layout) > 0 && string(req.Layout) != "null" {
		parsed, err := layouts.ParseSpec(req.Layout)
		if err != nil {
			return CompositeInfo{}, fmt.Errorf("%w: %w", ingest.ErrInvalid, err)
		}
		spec = parsed
	}
	first := VideoJSON{}
	if req.Video != nil {
		first = *req.Video
	}
	encodings := append([]VideoJSON{first}, req.Encodings...)
	if req.Video == nil && len(req.Encodings) > 0 {
		encodings = req.Encodings
	}
	format := req.Format
	if format == "" {
		format = defaultFormat(encodings[0].Codec)
	}
	for i := range encodings {
		if encodings[i].Codec == "" {
			encodings[i].Codec = defaultCodec(format)
		}
		encodings[i] = defaultVideo(encodings[i])
	}
	audio := AudioJSON{}
	if req.Audio != nil {
		audio = *req.Audio
	}
	audio = defaultAudio(audio, format)
	for i, v := range encodings {
		vs := encode.VideoSettings{Codec: v.Codec, Width: v.Width, Height: v.Height, FPS: v.FPS, BitrateKbps: v.BitrateKbps}
		if err := vs.Validate(); err != nil {
			return CompositeInfo{}, settingsError(encodingPath(req.Video != nil, i), err)
		}
		if err := encode.CheckCompat(format, v.Codec, audio.Codec); err != nil {
			return CompositeInfo{}, settingsError(encodingPath(req.Video != nil, i), err)
		}
	}
	if err := (encode.AudioSettings{Codec: audio.Codec, BitrateKbps: audio.BitrateKbps}).Validate(); err != nil {
		return CompositeInfo{}, settingsError("audio", err)
	}
	// The encoders are chosen before anything of the room changes: a
	// composite whose encoder is missing leaves the running mix untouched
	// (choosing them after the mix grew for it meant growing and shrinking
	// it again within milliseconds).
	reg := s.encoders()
	choices := make([]encoderChoices, len(encodings))
	for i, v := range encodings {
		c, err := s.selectEncoders(v, audio, reg, encodingPath(req.Video != nil, i))
		if err != nil {
			return CompositeInfo{}, err
		}
		choices[i] = c
	}
	if s.cfg.AdmitComposites {
		s.admitMu.Lock()
		defer s.admitMu.Unlock()
		if err := s.admitComposite(m, encodings); err != nil {
			return CompositeInfo{}, err
		}
	}
	outputs, err := s.prepareOutputs(req.ID, req.Outputs)
	if err != nil {
		return CompositeInfo{}, err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.composites[req.ID]; dup {
		return CompositeInfo{}, fmt.Errorf("%w: recording %q already exists", ingest.ErrConflict, req.ID)
	}
	if _, err := m.room.Recording(req.ID); err == nil {
		return CompositeInfo{}, fmt.Errorf("%w: recording %q already exists", ingest.ErrConflict, req.ID)
	}
	dir := filepath.Join(m.room.ID(), req.ID)
	if entries, err := os.ReadDir(filepath.Join(s.cfg.DataDir, dir)); err == nil && len(entries) > 0 {
		return CompositeInfo{}, fmt.Errorf("%w: recording directory %s already holds files", ingest.ErrConflict, dir)
	}
	rec := &compositeRec{info: CompositeInfo{ID: req.ID, Room: m.room.ID(), Kind: "composite", State: ingest.StateRecording,
		StartedAt: time.Now().UTC(), Layout: spec, Files: []ingest.FileEntry{}, Manifest: filepath.Join(dir, "composite.json")}}
	if req.Tracks {
		tr, err := m.room.StartRecording(req.ID, req.Mode)
		if err != nil {
			return CompositeInfo{}, err
		}
		rec.info.Tracks = &tr
	}
	// Placed before the compositor starts, so that the threads its encoders
	// start (x264's slices) begin on the room's CPU.
	s.replan(m, s.roomCostLocked(m)+s.costs.Composite(participants(m.room.Tracks()), encodings), false)
	wasRunning := m.graph != nil
	undo := func() {
		if !wasRunning {
			m.closeGraphIfIdleLocked()
		} else {
			m.fitMixLocked() // back to what the running renditions need
		}
		if req.Tracks {
			_, _ = m.room.StopRecording(req.ID)
		}
	}
	if err := m.ensureGraphLocked(s, mixFor(encodings)); err != nil {
		undo()
		return CompositeInfo{}, fmt.Errorf("start compositor: %w", err)
	}
	m.fitMixLocked(encodings...)
	if !wasRunning || len(req.Layout) > 0 {
		if _, err := m.graph.SetLayout(spec); err != nil {
			undo()
			return CompositeInfo{}, fmt.Errorf("%w: %w", ingest.ErrInvalid, err) // layouts errors name the layout
		}
		m.layout = spec
	}
	for i, v := range encodings {
		name := fmt.Sprintf("%s_%d", req.ID, i)
		rel := filepath.Join(dir, fmt.Sprintf("composite_%d_%dx%d%s", i, v.Width, v.Height, encode.Extension(format)))
		enc := &EncodingInfo{Path: rel, Format: format, Video: v, Audio: audio, State: ingest.FileRecording, name: name}
		rec.info.Encodings = append(rec.info.Encodings, enc)
		at := encodingPath(req.Video != nil, i)
		if err := s.startEncoding(m, enc, name, choices[i]); err != nil {
			for _, e := range rec.info.Encodings {
				s.stopEncoding(m, rec, e)
			}
			undo()
			if !errors.Is(err, ingest.ErrInvalid) {
				err = fmt.Errorf("%s: %w", at, err)
			}
			return CompositeInfo{}, err
		}
	}
	if err := s.startOutputsLocked(m, req.ID, outputs); err != nil {
		for _, e := range rec.info.Encodings {
			s.stopEncoding(m, rec, e)
		}
		undo()
		return CompositeInfo{}, err
	}
	m.composites[req.ID] = rec
	s.writeCompositeManifest(rec)
	for _, t := range m.room.Tracks() {
		if t.Kind == ingest.Video {
			_ = m.room.RequestKeyframe(t.ID)
		}
	}
	s.log.Info("composite recording started", "room", m.room.ID(), "recording", req.ID, "encodings", len(encodings))
	return rec.snapshot(), nil
}

func (m *roomMedia) currentLayout() layouts.Spec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.layout
}

// encodingQueue is the queue before an encoding's encoder: up to a second of
// raw media, then the oldest is dropped. An encoder that cannot keep up (a
// rendition too large for the machine) must not hold up the mixers, or the
// other renditions of the composite would fall behind with it
// (TestOverloadedCompositeKeepsPace: with a plain queue a 2160p rendition on
// two cores left the 720p one 2.5 s behind after 8 s, and voices decoded on
// their tracks' threads, as tried then, 8 s behind). A hiccup shorter than a
// second loses nothing. The audio queue holds 5 s (raw stereo at 48 kHz:
// ~1 MB): an audio encoder is cheap, and when it stalls it is the whole
// machine that is starved, for longer than a second at times; sound lost is
// worse than frames frozen.
func encodingQueue(name string, limit time.Duration) (*gst.Element, error) {
	q, err := gst.NewElementWithProperties("queue", map[string]any{"name": name, "max-size-buffers": uint(0),
		"max-size-bytes": uint(0), "max-size-time": uint64(limit)})
	if err != nil {
		return nil, fmt.Errorf("encoding queue %s: %w", name, err)
	}
	q.SetArg("leaky", "downstream")
	return q, nil
}

// encoderChoices are the encoder elements chosen for one encoding.
type encoderChoices struct{ video, audio encode.Choice }

// selectEncoders chooses an encoding's video and audio encoders. at is
// where the encoding's video settings are in the request, for the errors
// about them.
func (s *Server) selectEncoders(v VideoJSON, a AudioJSON, reg encode.Registry, at string) (encoderChoices, error) {
	vchoice, err := encode.Select(v.Codec, encode.Options{Force: v.Encoder, Prefer: v.Prefer}, reg, s.log)
	if err != nil {
		return encoderChoices{}, settingsError(at, err)
	}
	achoice, err := encode.Select(a.Codec, encode.Options{}, reg, s.log)
	if err != nil {
		return encoderChoices{}, settingsError("audio", err)
	}
	return encoderChoices{video: vchoice, audio: achoice}, nil
}

// startEncoding links queue ! encoder → muxer → file to the compositor's
// tees, with the encoders chosen by selectEncoders.
func (s *Server) startEncoding(m *roomMedia, enc *EncodingInfo, name string, choices encoderChoices) error {
	vchoice, achoice := choices.video, choices.audio
	enc.VideoEncoder, enc.AudioEncoder = vchoice, achoice
	var err error
	ch := &encodingChain{}
	if ch.venc, err = encode.VideoEncoder(vchoice, encode.VideoSettings{Codec: enc.Video.Codec, Width: enc.Video.Width,
		Height: enc.Video.Height, FPS: enc.Video.FPS, BitrateKbps: enc.Video.BitrateKbps, Name: name + "-v"}); err != nil {
		return err
	}
	if ch.aenc, err = encode.AudioEncoder(achoice, encode.AudioSettings{Codec: enc.Audio.Codec, BitrateKbps: enc.Audio.BitrateKbps, Name: name + "-a"}); err != nil {
		return err
	}
	if ch.mux, err = encode.Muxer(encode.MuxSpec{Format: enc.Format, Video: enc.Video.Codec, Audio: enc.Audio.Codec,
		Location: filepath.Join(s.cfg.DataDir, enc.Path), Name: name + "-mux"}); err != nil {
		return err
	}
	if ch.vq, err = encodingQueue(name+"-vq", time.Second); err != nil {
		return err
	}
	if ch.aq, err = encodingQueue(name+"-aq", 5*time.Second); err != nil {
		return err
	}
	pipe := m.room.Pipeline()
	if err := pipe.AddMany(ch.vq, ch.aq, ch.venc.Bin.Element, ch.aenc.Bin.Element, ch.mux.Bin.Element); err != nil {
		return fmt.Errorf("add encoding: %w", err)
	}
	enc.out = ch
	links := [][2]*gst.Pad{
		{ch.vq.GetStaticPad("src"), ch.venc.Bin.GetStaticPad("sink")},
		{ch.venc.Bin.GetStaticPad("src"), ch.mux.Bin.GetStaticPad("video")},
		{ch.aq.GetStaticPad("src"), ch.aenc.Bin.GetStaticPad("sink")},
		{ch.aenc.Bin.GetStaticPad("src"), ch.mux.Bin.GetStaticPad("audio")},
	}
	for _, l := range links {
		if ret := l[0].Link(l[1]); ret != gst.PadLinkOK {
			return fmt.Errorf("link encoding %s: %s", name, ret.String())
		}
	}
	sink, err := ch.mux.Bin.GetElementByName(ch.mux.SinkName)
	if err != nil {
		return fmt.Errorf("encoding %s: file sink: %w", name, err)
	}
	ch.eos = gstx.WatchEOS(sink.GetStaticPad("sink"))
	// One start instant for video and audio (fragmented MP4 starts every
	// track at zero), the audio encoder's priming compensated.
	ch.align = gstx.AlignStart(ch.vq.GetStaticPad("src"), ch.aq.GetStaticPad("src"), ch.aenc.Priming,
		encode.AudioSampleRate, 2*encode.AudioChannels, alignWait)
	enc.times = gstx.WatchTimes(ch.mux.Bin.GetStaticPad("video"))
	for _, e := range []*gst.Element{ch.mux.Bin.Element, ch.venc.Bin.Element, ch.aenc.Bin.Element, ch.vq, ch.aq} {
		if !e.SyncStateWithParent() {
			return fmt.Errorf("encoding %s: could not start %s", name, e.GetName())
		}
	}
	// The mix may have run for a while (a preview, a live output or another
	// recording holds it): start this encoding's timeline at zero, for audio
	// and video alike, or the file would begin with the mix's age in copies
	// of the first frame.
	enc.zero = m.graph.TimelineStart()
	if pos := m.graph.Position(); pos > 0 {
		s.log.Debug("encoding joins a running mix", "room", m.room.ID(), "encoding", name, "position", time.Duration(pos))
		gstx.RebaseSegment(ch.vq.GetStaticPad("sink"), pos)
		gstx.RebaseSegment(ch.aq.GetStaticPad("sink"), pos)
		enc.zero += pos
	}
	if ch.vout, err = m.graph.VideoOutput(); err != nil {
		return err
	}
	if ret := ch.vout.Pad.Link(ch.vq.GetStaticPad("sink")); ret != gst.PadLinkOK {
		return fmt.Errorf("encoding %s: link video: %s", name, ret.String())
	}
	if ch.aout, err = m.graph.AudioOutput(); err != nil {
		return err
	}
	if ret := ch.aout.Pad.Link(ch.aq.GetStaticPad("sink")); ret != gst.PadLinkOK {
		return fmt.Errorf("encoding %s: link audio: %s", name, ret.String())
	}
	ch.venc.RequestKeyframe()
	return nil
}

// stopEncoding detaches an encoding from the tees, drains it with EOS so the
// muxer finalizes the file, and removes it. The encoding's fields change
// under rec.mu (readers snapshot them concurrently); the EOS wait holds no
// lock.
func (s *Server) stopEncoding(m *roomMedia, rec *compositeRec, enc *EncodingInfo) {
	s.removeEncoding(m, rec, enc, true)
}

// removeEncoding takes an encoding out of the pipeline; with drain, it
// first sends EOS through it and waits for the file to be finalized (a
// failed encoding cannot drain: its file stays as its last write left it).
func (s *Server) removeEncoding(m *roomMedia, rec *compositeRec, enc *EncodingInfo, drain bool) {
	rec.mu.Lock()
	ch, times := enc.out, enc.times
	if times != nil { // what is muxed so far, shown while it drains
		enc.DurationMS = max(durationMS(times), enc.DurationMS)
	}
	enc.out, enc.times = nil, nil
	rec.mu.Unlock()
	if ch == nil {
		return
	}
	for _, o := range []*compositor.Output{ch.vout, ch.aout} {
		if o != nil {
			if drain {
				o.Finish()
			}
			o.Close()
		}
	}
	state, errText := ingest.FileFinal, ""
	if ch.eos != nil {
		if drain {
			if err := ch.eos.Wait(compositeEOSTimeout); err != nil {
				state, errText = ingest.FileFailed, err.Error()
			}
		}
		ch.eos.Remove()
	}
	var duration int64
	if times != nil {
		duration = durationMS(times)
		times.Free()
	}
	ch.align.Release()
	pipe := m.room.Pipeline()
	for _, e := range []*gst.Element{ch.vq, ch.aq, binElem(ch.venc), binElem(ch.aenc), muxElem(ch.mux)} {
		if e == nil {
			continue
		}
		_ = gstx.RemoveElement(pipe.Bin, e, 5*time.Second) // state-locked: see gstx.RemoveElement
	}
	var size int64
	if st, err := os.Stat(filepath.Join(s.cfg.DataDir, enc.Path)); err == nil {
		size = st.Size()
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	enc.DurationMS, enc.Bytes = max(duration, enc.DurationMS), size
	if ch.eos != nil && drain && enc.State != ingest.FileFailed { // an error while draining says more
		enc.State, enc.Error = state, errText
	}
}

// onPipelineError fails the composite encoding one of whose elements
// posted an error (a full disk, a muxer or an encoder error). The encoding
// is taken out of the pipeline, its file kept as written so far
// (fragmented MP4 is playable up to its last fragment); the recording's
// other encodings, its live outputs and its tracks go on, and it ends
// "failed" when stopped. Subscribers and webhooks get
// recording_encoding_failed. Runs on the room's bus goroutine.
func (s *Server) onPipelineError(room, element, text string) {
	m := s.media(room)
	if m == nil {
		return
	}
	m.mu.Lock()
	rec, enc := m.encodingOfLocked(element)
	m.mu.Unlock()
	if enc == nil {
		return
	}
	rec.mu.Lock()
	if enc.State != ingest.FileRecording {
		rec.mu.Unlock()
		return // already failed (each element of the branch reports), or stopped
	}
	enc.State, enc.Error = ingest.FileFailed, text
	running := enc.out != nil
	recID, path := rec.info.ID, enc.Path
	rec.mu.Unlock()
	s.log.Error("composite encoding failed; the recording's other outputs go on", "room", room, "recording", recID,
		"file", path, "element", element, "error", text)
	s.countFailure("encoding")
	if !running {
		return // a stop is draining it
	}
	s.failing.Go(func() {
		s.removeEncoding(m, rec, enc, false)
		s.hub.publish(Event{Type: "recording_encoding_failed", Room: room, Data: map[string]any{
			"recording": recID, "path": path, "error": text}})
		s.writeCompositeManifest(rec)
	})
}

// onFileFailed tells subscribers and webhooks that a track recording's
// file failed while recording (ingest marked it and stopped feeding it).
func (s *Server) onFileFailed(room, recording string, f ingest.FileEntry) {
	s.countFailure("file")
	s.hub.publish(Event{Type: "recording_file_failed", Room: room, Data: map[string]any{
		"recording": recording, "track": f.Track, "path": f.Path, "error": f.Error}})
}

func (s *Server) countFailure(kind string) {
	if s.recordingFailures != nil {
		s.recordingFailures.WithLabelValues(kind).Inc()
	}
}

// encodingOfLocked finds the composite encoding whose elements are named
// after element's prefix.
func (m *roomMedia) encodingOfLocked(element string) (*compositeRec, *EncodingInfo) {
	for _, rec := range m.composites {
		for _, e := range rec.info.Encodings {
			if strings.HasPrefix(element, e.name+"-") {
				return rec, e
			}
		}
	}
	return nil, nil
}

func binElem(e *encode.Encoder) *gst.Element {
	if e == nil {
		return nil
	}
	return e.Bin.Element
}

func muxElem(m *encode.Mux) *gst.Element {
	if m == nil {
		return nil
	}
	return m.Bin.Element
}

func (s *Server) stopComposite(m *roomMedia, id string) (CompositeInfo, error) {
	m.mu.Lock()
	rec := m.composites[id]
	if rec == nil {
		m.mu.Unlock()
		return CompositeInfo{}, fmt.Errorf("%w: recording %q", ingest.ErrNotFound, id)
	}
	rec.mu.Lock()
	if rec.info.State != ingest.StateRecording {
		rec.mu.Unlock()
		m.mu.Unlock()
		return rec.snapshot(), nil
	}
	// Stopping keeps the compositor up (closeGraphIfIdleLocked) while the
	// encodings drain, which happens without the room's lock: layout
	// changes, joins and other recordings go on meanwhile.
	rec.info.State = ingest.StateStopping
	encodings := slices.Clone(rec.info.Encodings)
	rec.mu.Unlock()
	outputs := s.stopRecordingStreamsLocked(m, id)
	m.mu.Unlock()

	var wg sync.WaitGroup
	for _, e := range encodings {
		wg.Add(1)
		go func() { defer wg.Done(); s.stopEncoding(m, rec, e) }()
	}
	wg.Wait()

	m.mu.Lock()
	defer m.mu.Unlock()
	var tracks *ingest.RecordingInfo
	if rec.info.Tracks != nil {
		if tr, err := m.room.StopRecording(id); err == nil {
			tracks = &tr
		}
	}
	rec.mu.Lock()
	now := time.Now().UTC()
	rec.info.StoppedAt, rec.info.State = &now, ingest.StateStopped
	for _, e := range rec.info.Encodings {
		if e.State == ingest.FileFailed {
			rec.info.State = ingest.StateFailed
		}
	}
	if tracks != nil {
		rec.info.Tracks = tracks
	}
	rec.info.Outputs = outputs
	rec.mu.Unlock()
	m.closeGraphIfIdleLocked()
	m.fitMixLocked()
	s.writeCompositeManifest(rec)
	s.log.Info("composite recording stopped", "room", m.room.ID(), "recording", id)
	return rec.snapshot(), nil
}

// snapshot copies the recording's state, listing each encoding as a file.
func (c *compositeRec) snapshot() CompositeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.info
	out.Encodings = make([]*EncodingInfo, len(c.info.Encodings))
	out.Files = []ingest.FileEntry{}
	for i, e := range c.info.Encodings {
		cp := *e
		cp.times, cp.out = nil, nil
		if e.times != nil && e.State == ingest.FileRecording {
			cp.DurationMS = max(durationMS(e.times), cp.DurationMS)
		}
		out.Encodings[i] = &cp
		out.Files = append(out.Files, ingest.FileEntry{Path: e.Path, Participant: "*", Track: "composite", Kind: "composite",
			Codec: e.Video.Codec + "+" + e.Audio.Codec, Container: e.Format, State: e.State, DurationMS: cp.DurationMS,
			Bytes: uint64(max(e.Bytes, 0))})
	}
	if c.info.Tracks != nil {
		out.Files = append(out.Files, derefFiles(c.info.Tracks.Files)...)
	}
	return out
}

// durationMS is the span of what the muxer has received, in milliseconds
// (0 before two frames).
func durationMS(t *gstx.Times) int64 {
	if first, last := t.FirstPTS(), t.LastPTS(); first >= 0 && last >= first {
		return (last - first) / int64(time.Millisecond)
	}
	return 0
}

func derefFiles(fs []*ingest.FileEntry) []ingest.FileEntry {
	out := make([]ingest.FileEntry, 0, len(fs))
	for _, f := range fs {
		out = append(out, *f)
	}
	return out
}

func (s *Server) writeCompositeManifest(rec *compositeRec) {
	rec.writeMu.Lock()
	defer rec.writeMu.Unlock()
	info := rec.snapshot()
	_ = ingest.WriteJSONAtomic(filepath.Join(s.cfg.DataDir, info.Manifest), info)
}

var errNoComposite = errors.New("no such composite recording")

func (m *roomMedia) compositeIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.composites))
	for id := range m.composites {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// composite returns a composite recording's state.
func (s *Server) composite(room, id string) (CompositeInfo, error) {
	m := s.media(room)
	if m == nil {
		return CompositeInfo{}, errNoComposite
	}
	m.mu.Lock()
	rec := m.composites[id]
	m.mu.Unlock()
	if rec == nil {
		return CompositeInfo{}, errNoComposite
	}
	info := rec.snapshot()
	if info.State == ingest.StateRecording {
		info.Outputs = s.recordingStreams(m, id)
	}
	return info, nil
}

// LayoutJSON answers GET/PUT /v1/rooms/{room}/layout.
type LayoutJSON struct {
	Spec   layouts.Spec   `json:"spec"`
	Layout layouts.Layout `json:"layout"`
	Live   bool           `json:"live"` // a compositor is running and shows it
}

func (s *Server) getLayout(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	out, err := s.layoutOf(s.media(room.ID()))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) putLayout(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request body: %w", err))
		return
	}
	spec, err := layouts.ParseSpec(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	out, err := s.SetLayout(room.ID(), spec)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// SetLayout applies a layout to a room: live on its compositor when one runs.
func (s *Server) SetLayout(roomID string, spec layouts.Spec) (LayoutJSON, error) {
	m := s.media(roomID)
	if m == nil {
		return LayoutJSON{}, fmt.Errorf("room %q: %w", roomID, ErrRoomNotFound)
	}
	requested := time.Now()
	m.mu.Lock()
	old := m.layout
	if m.graph != nil {
		if _, err := m.graph.SetLayout(spec); err != nil {
			m.mu.Unlock()
			return LayoutJSON{}, fmt.Errorf("%w: %w", ingest.ErrInvalid, err)
		}
		s.armLayoutWatchLocked(m, requested)
	}
	m.layout = spec
	m.mu.Unlock()
	out, err := s.layoutOf(m)
	if err != nil { // refused for this room: keep the layout it had
		m.mu.Lock()
		m.layout = old
		m.mu.Unlock()
		return out, err
	}
	s.hub.publish(Event{Type: "layout_changed", Room: roomID, Data: out})
	return out, nil
}

// layoutOf reports the layout; without a running compositor it is computed
// for the room's tracks at 1280x720.
func (s *Server) layoutOf(m *roomMedia) (LayoutJSON, error) {
	if m == nil {
		return LayoutJSON{}, ErrRoomNotFound
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.graph != nil {
		spec, lay := m.graph.Layout()
		return LayoutJSON{Spec: spec, Layout: lay, Live: true}, nil
	}
	// The same tiles the compositor would make: one per video track, and
	// one for each participant with audio only.
	var ps []layouts.Participant
	seen := map[layouts.Ref]bool{}
	tracks := m.room.Tracks()
	for pass := 0; pass < 2; pass++ {
		for _, t := range tracks {
			if (pass == 0) != (t.Kind == ingest.Video) {
				continue
			}
			src := layouts.SourceCamera
			if t.Source == "screen" {
				src = layouts.SourceScreen
			}
			ref := layouts.Ref{ParticipantID: t.Participant, Source: src}
			if seen[ref] || (pass == 1 && seen[layouts.Ref{ParticipantID: t.Participant, Source: layouts.SourceCamera}]) {
				continue
			}
			seen[ref] = true
			ps = append(ps, layouts.Participant{ID: t.Participant, Name: t.Name, Source: src, JoinedAt: t.CreatedAt})
		}
	}
	lay, err := layouts.Compute(m.layout, ps, layouts.Frame{Width: 1280, Height: 720})
	if err != nil {
		return LayoutJSON{}, fmt.Errorf("%w: %w", ingest.ErrInvalid, err)
	}
	return LayoutJSON{Spec: m.layout, Layout: lay}, nil
}

// lipSyncTolerance: offsets that moved less than this are left alone, so
// the mixer does not see needless timestamp jumps.
const lipSyncTolerance = 5 * time.Millisecond

// maxLipSync bounds a correction: a larger audio/video skew means a sender
// report that does not describe the media (senders get this wrong), and
// following it would stall the mix.
const maxLipSync = time.Second

// opusLookahead is libopus's algorithmic delay at 48 kHz in the modes
// WebRTC senders use (2.5 ms + 4 ms = 312 samples, the pre-skip an Ogg or
// WebM Opus stream would carry).
const opusLookahead = 6500 * time.Microsecond

// syncLocked sets each mixed track's shift at its mixer pad: earlier by its
// timeline's lateness (a late first packet anchored its stamps late, see
// ingest.Room.TimelineLateness), and, through the senders' RTCP wall
// clocks, each participant's audio and video aligned: the track whose media
// is stamped earlier relative to its capture time is delayed by the
// difference.
func (m *roomMedia) syncLocked() {
	if m.graph == nil {
		return
	}
	type pair struct {
		audio, video string
		audioCodec   string
	}
	shift, late := map[string]time.Duration{}, map[string]time.Duration{}
	byParticipant := map[string]*pair{}
	for _, t := range m.room.Tracks() {
		if m.taps[t.ID] == nil {
			continue
		}
		late[t.ID] = m.room.TimelineLateness(t.ID)
		shift[t.ID] = -late[t.ID]
		p := byParticipant[t.Participant]
		if p == nil {
			p = &pair{}
			byParticipant[t.Participant] = p
		}
		if t.Kind == ingest.Video && p.video == "" {
			p.video = t.ID
		} else if t.Kind == ingest.Audio && p.audio == "" {
			p.audio, p.audioCodec = t.ID, t.Codec
		}
	}
	for _, p := range byParticipant {
		if p.audio == "" || p.video == "" {
			continue
		}
		ca, okA := m.room.SenderClockOffset(p.audio)
		cv, okV := m.room.SenderClockOffset(p.video)
		// Capture minus stamp, for the stamps as corrected by the shift.
		ca, cv = ca-shift[p.audio], cv-shift[p.video]
		if !okA || !okV || (ca-cv).Abs() > maxLipSync {
			continue
		}
		if p.audioCodec == "opus" {
			// Decoded Opus lags its RTP timestamps by the sender encoder's
			// lookahead (RTP carries no pre-skip), so it was captured that
			// much earlier than stamped.
			ca -= opusLookahead
		}
		// c is capture time minus our stamp: the more negative, the later we
		// stamped that track's media. The other track waits for it.
		low := min(ca, cv)
		shift[p.audio] += ca - low
		shift[p.video] += cv - low
	}
	for id, want := range shift {
		cur, ok := m.syncOffsets[id]
		if (!ok && want == 0) || (ok && (want-cur).Abs() < lipSyncTolerance) {
			continue
		}
		got, err := m.graph.SetSyncOffset(id, want)
		if err != nil {
			continue
		}
		m.syncOffsets[id] = got
		m.log.Info("track shifted in the mix", "track", id, "shift", got, "wanted", want,
			"timeline_lateness", late[id])
	}
}

// runSync keeps lip-sync current while the compositor runs, and rewrites
// the running composite recordings' composite.json every
// compositeManifestEvery (durations and sizes so far), so a crash leaves a
// recent one.
func (m *roomMedia) runSync(s *Server, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
			m.mu.Lock()
			m.syncLocked()
			var running []*compositeRec
			if n%compositeManifestEvery == 0 {
				for _, c := range m.composites {
					c.mu.Lock()
					if c.info.State == ingest.StateRecording {
						running = append(running, c)
					}
					c.mu.Unlock()
				}
			}
			m.mu.Unlock()
			for _, c := range running {
				s.writeCompositeManifest(c)
			}
		}
	}
}

// compositeManifestEvery is the composite.json rewrite period, in seconds.
const compositeManifestEvery = 5
