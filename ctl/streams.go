package ctl

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamline-media/streamline/encode"
	"github.com/streamline-media/streamline/ingest"
	"github.com/streamline-media/streamline/live"
)

var liveSeq atomic.Uint64

// StreamRequest is the body of POST /v1/rooms/{room}/streams and one entry
// of a composite recording's "outputs": a live output of the room's
// composite. The output fields are inline ({"type": "rtmp", "url": ...}).
type StreamRequest struct {
	ID string `json:"id,omitempty"`
	live.Spec
	// Video settings of the output's encoding (default 1280x720 30 fps
	// H.264 2500 kbit/s); audio is AAC (RTMP, HLS, SRT) or Opus (RTP).
	Video *VideoJSON `json:"video,omitempty"`
	Audio *AudioJSON `json:"audio,omitempty"`
}

// StreamInfo is a live output in the API: its request, encoders and state.
type StreamInfo struct {
	ID        string `json:"id"`
	Room      string `json:"room"`
	Recording string `json:"recording,omitempty"` // set when a composite recording owns it
	live.Spec
	Video        VideoJSON     `json:"video"`
	Audio        AudioJSON     `json:"audio"`
	VideoEncoder encode.Choice `json:"video_encoder"`
	AudioEncoder encode.Choice `json:"audio_encoder"`
	live.Status
	// LocalPort is where an RTP output sends from; its receiver's RTCP
	// (PLI/FIR) goes there.
	LocalPort int       `json:"local_port,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// stream is a running live output.
type stream struct {
	mu   sync.Mutex
	info StreamInfo
	out  *live.Output
	// feeds are released under the room's lock; stopped says they are.
	vfeed, afeed *liveFeed
	stopped      bool
}

func (st *stream) snapshot() StreamInfo {
	st.mu.Lock()
	info := st.info
	out := st.out
	st.mu.Unlock()
	if out != nil {
		info.Status = out.Status()
	}
	return info
}

// prepareStream checks a request and fills its defaults; errors wrap
// ingest.ErrInvalid (400).
func (s *Server) prepareStream(req StreamRequest) (StreamRequest, VideoJSON, AudioJSON, error) {
	invalid := func(err error) (StreamRequest, VideoJSON, AudioJSON, error) {
		return req, VideoJSON{}, AudioJSON{}, fmt.Errorf("%w: %w", ingest.ErrInvalid, err)
	}
	if req.ID != "" && !validStreamID(req.ID) {
		return invalid(fmt.Errorf("id %q: use letters, digits, '-' and '_' (at most 64)", req.ID))
	}
	if req.Type == live.TypeHLS {
		dir, err := s.hlsDir(req.Dir)
		if err != nil {
			return invalid(err)
		}
		req.Dir = dir
	}
	if err := req.Spec.Normalize(); err != nil {
		return invalid(err)
	}
	vcodec, acodec := req.Spec.Codecs()
	v := VideoJSON{Codec: vcodec}
	if req.Video != nil {
		v = *req.Video
		if v.Codec == "" {
			v.Codec = vcodec
		}
	}
	if v.Codec != vcodec {
		return invalid(fmt.Errorf("video.codec %q: %s outputs carry %s", v.Codec, req.Type, vcodec))
	}
	v = defaultVideo(v)
	if err := (encode.VideoSettings{Codec: v.Codec, Width: v.Width, Height: v.Height, FPS: v.FPS, BitrateKbps: v.BitrateKbps}).Validate(); err != nil {
		return req, VideoJSON{}, AudioJSON{}, settingsError("video", err)
	}
	a := AudioJSON{Codec: acodec}
	if req.Audio != nil {
		a = *req.Audio
		if a.Codec == "" {
			a.Codec = acodec
		}
	}
	if a.Codec != acodec {
		return invalid(fmt.Errorf("audio.codec %q: %s outputs carry %s", a.Codec, req.Type, acodec))
	}
	a = defaultAudio(a, "")
	if err := (encode.AudioSettings{Codec: a.Codec, BitrateKbps: a.BitrateKbps}).Validate(); err != nil {
		return req, VideoJSON{}, AudioJSON{}, settingsError("audio", err)
	}
	return req, v, a, nil
}

// hlsDir resolves an HLS directory: relative to --data, and never outside it.
func (s *Server) hlsDir(dir string) (string, error) {
	if strings.TrimSpace(dir) == "" {
		return "", errors.New("dir: required (a directory under the data directory)")
	}
	root, err := filepath.Abs(s.cfg.DataDir)
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	abs := dir
	if !filepath.IsAbs(dir) {
		abs = filepath.Join(root, dir)
	}
	abs = filepath.Clean(abs)
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("dir %q: must be a directory inside the data directory", dir)
	}
	return abs, nil
}

func validStreamID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// startStreamLocked starts a prepared stream on the room's compositor;
// m.mu is held.
func (s *Server) startStreamLocked(m *roomMedia, req StreamRequest, v VideoJSON, a AudioJSON, recording string) (*stream, error) {
	if req.ID == "" {
		req.ID = fmt.Sprintf("stream-%d", liveSeq.Add(1))
	}
	if m.streams[req.ID] != nil {
		return nil, fmt.Errorf("%w: stream %q already exists", ingest.ErrConflict, req.ID)
	}
	st := &stream{info: StreamInfo{ID: req.ID, Room: m.room.ID(), Recording: recording, Spec: req.Spec, Video: v, Audio: a,
		Status: live.Status{State: live.StateStarting}, CreatedAt: time.Now().UTC()}}
	key := "stream:" + req.ID
	// If the room closes first, the holder stops the stream (m.mu held).
	if err := m.holdGraphLocked(s, key, v, func() { s.stopStreamLocked(m, st) }); err != nil {
		return nil, err
	}
	m.fitMixLocked(defaultVideo(v))
	fail := func(err error) (*stream, error) {
		s.stopStreamLocked(m, st)
		m.releaseGraphLocked(key)
		m.fitMixLocked()
		return nil, err
	}
	// A bad encoder setting (an unknown or missing forced encoder, no
	// encoder for the codec) is the request's error; at names the settings.
	failSettings := func(at string, err error) (*stream, error) {
		var fe *encode.FieldError
		if errors.As(err, &fe) || errors.Is(err, encode.ErrNoEncoder) {
			err = settingsError(at, err)
		}
		return fail(err)
	}
	var err error
	if st.vfeed, err = s.acquireVideoFeedLocked(m, v); err != nil {
		return failSettings("video", err)
	}
	if st.afeed, err = s.acquireAudioFeedLocked(m, a, req.Participant); err != nil {
		return failSettings("audio", err)
	}
	st.info.VideoEncoder, st.info.AudioEncoder = st.vfeed.choice, st.afeed.choice
	venc := st.vfeed.enc
	room := m.room.ID()
	out, err := live.Start(live.Config{
		Name: req.ID, Spec: req.Spec, Video: st.vfeed.feed, Audio: st.afeed.feed,
		RequestKeyframe: func() { venc.RequestKeyframe() },
		Logger:          s.log.With("room", room, "stream", req.ID),
		OnChange: func(status live.Status) {
			info := st.snapshot()
			info.Status = status
			s.hub.publish(Event{Type: "stream_state", Room: room, Data: s.publicInfo(info)})
		},
	})
	if err != nil {
		return fail(err)
	}
	st.mu.Lock()
	st.out = out
	st.info.LocalPort = out.LocalPort()
	st.mu.Unlock()
	if m.streams == nil {
		m.streams = map[string]*stream{}
	}
	m.streams[req.ID] = st
	s.log.Info("live stream started", "room", room, "stream", req.ID, "type", req.Type, "target", req.Spec.Target(), "recording", recording)
	return st, nil
}

// stopStreamLocked stops the output and releases its feeds; m.mu is held.
// The caller releases the compositor hold ("stream:"+id) unless the room is
// closing (stopHoldersLocked drops every hold itself).
func (s *Server) stopStreamLocked(m *roomMedia, st *stream) {
	st.mu.Lock()
	if st.stopped {
		st.mu.Unlock()
		return
	}
	st.stopped = true
	out := st.out
	st.mu.Unlock()
	if out != nil {
		out.Stop()
	}
	s.releaseFeedLocked(m, st.vfeed)
	s.releaseFeedLocked(m, st.afeed)
	if m.streams[st.info.ID] == st {
		delete(m.streams, st.info.ID)
	}
}

// stopRecordingStreamsLocked stops the outputs a composite recording owns.
func (s *Server) stopRecordingStreamsLocked(m *roomMedia, recording string) []StreamInfo {
	var out []StreamInfo
	for _, id := range sortedStreamIDs(m) {
		st := m.streams[id]
		if st.info.Recording != recording {
			continue
		}
		s.stopStreamLocked(m, st)
		// The caller closes the compositor if idle, after the recording's
		// own encodings have finished.
		delete(m.holders, "stream:"+id)
		out = append(out, s.publicInfo(st.snapshot()))
	}
	return out
}

// recordingStreams reports the outputs of a composite recording.
func (s *Server) recordingStreams(m *roomMedia, recording string) []StreamInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []StreamInfo
	for _, id := range sortedStreamIDs(m) {
		if st := m.streams[id]; st.info.Recording == recording {
			out = append(out, s.publicInfo(st.snapshot()))
		}
	}
	return out
}

func sortedStreamIDs(m *roomMedia) []string {
	ids := make([]string, 0, len(m.streams))
	for id := range m.streams {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// relData shows a path under --data relative to it.
func (s *Server) relData(p string) string {
	root, err := filepath.Abs(s.cfg.DataDir)
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

func (s *Server) publicInfo(info StreamInfo) StreamInfo {
	if info.Type == live.TypeHLS {
		info.Dir = s.relData(info.Dir)
	}
	return info
}

func (s *Server) createStream(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	var req StreamRequest
	if !s.decode(w, r, &req) {
		return
	}
	req, v, a, err := s.prepareStream(req)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	m := s.media(room.ID())
	if m == nil {
		writeError(w, http.StatusNotFound, ErrRoomNotFound)
		return
	}
	m.mu.Lock()
	st, err := s.startStreamLocked(m, req, v, a, "")
	m.mu.Unlock()
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	info := s.publicInfo(st.snapshot())
	s.hub.publish(Event{Type: "stream_started", Room: room.ID(), Data: info})
	writeJSON(w, http.StatusCreated, info)
}

func (s *Server) listStreams(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	out := []StreamInfo{}
	if m := s.media(room.ID()); m != nil {
		m.mu.Lock()
		for _, id := range sortedStreamIDs(m) {
			out = append(out, s.publicInfo(m.streams[id].snapshot()))
		}
		m.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) streamOf(w http.ResponseWriter, r *http.Request) (*roomMedia, *stream, bool) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return nil, nil, false
	}
	id := r.PathValue("stream")
	if m := s.media(room.ID()); m != nil {
		m.mu.Lock()
		st := m.streams[id]
		m.mu.Unlock()
		if st != nil {
			return m, st, true
		}
	}
	writeError(w, http.StatusNotFound, fmt.Errorf("stream %q: %w", id, ingest.ErrNotFound))
	return nil, nil, false
}

func (s *Server) getStream(w http.ResponseWriter, r *http.Request) {
	if _, st, ok := s.streamOf(w, r); ok {
		writeJSON(w, http.StatusOK, s.publicInfo(st.snapshot()))
	}
}

// deleteStream stops a live output; the recording that owns one (if any)
// goes on without it.
func (s *Server) deleteStream(w http.ResponseWriter, r *http.Request) {
	m, st, ok := s.streamOf(w, r)
	if !ok {
		return
	}
	m.mu.Lock()
	s.stopStreamLocked(m, st)
	m.releaseGraphLocked("stream:" + st.info.ID)
	m.fitMixLocked()
	m.mu.Unlock()
	info := s.publicInfo(st.snapshot())
	s.hub.publish(Event{Type: "stream_stopped", Room: info.Room, Data: info})
	writeJSON(w, http.StatusOK, info)
}

type preparedOutput struct {
	req StreamRequest
	v   VideoJSON
	a   AudioJSON
}

// prepareOutputs checks a composite recording's outputs before anything
// starts; their ids default to "<recording>-out<i>".
func (s *Server) prepareOutputs(recording string, reqs []StreamRequest) ([]preparedOutput, error) {
	out := make([]preparedOutput, 0, len(reqs))
	for i, r := range reqs {
		if r.ID == "" {
			r.ID = fmt.Sprintf("%s-out%d", recording, i)
		}
		r, v, a, err := s.prepareStream(r)
		if err != nil {
			return nil, fmt.Errorf("outputs[%d]: %w", i, err)
		}
		out = append(out, preparedOutput{req: r, v: v, a: a})
	}
	return out, nil
}

// startOutputsLocked starts a composite recording's outputs; on an error
// the ones started are stopped again.
func (s *Server) startOutputsLocked(m *roomMedia, recording string, outs []preparedOutput) error {
	for i, o := range outs {
		if _, err := s.startStreamLocked(m, o.req, o.v, o.a, recording); err != nil {
			s.stopRecordingStreamsLocked(m, recording)
			return fmt.Errorf("outputs[%d]: %w", i, err)
		}
	}
	return nil
}
