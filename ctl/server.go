// Package ctl is Streamline's control plane: the REST API, the room store and
// the ownership of every room's media objects on this node.
package ctl

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamline-media/streamline/encode"
	"github.com/streamline-media/streamline/ingest"
	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/layouts"
)

// Config configures a Server.
type Config struct {
	// RTPListen is the address room sockets bind to (default 0.0.0.0).
	RTPListen netip.Addr
	// RTPHost is the address advertised to the SFU (default: RTPListen, or
	// 127.0.0.1 when that is unspecified).
	RTPHost string
	Ports   PortRange
	DataDir string
	NodeID  string
	// APIAddr is this node's API address, published in the node registry.
	APIAddr string
	Store   Store
	// JitterLatency is the jitterbuffer latency of every track.
	JitterLatency time.Duration
	// NoNACK turns off retransmission requests (ingest.RoomConfig.NoNACK).
	NoNACK bool
	// MixLatency is the composite mixers' latency (compositor.Config.Latency;
	// 0: its default).
	MixLatency time.Duration
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxRooms limits rooms on this node (0 = unlimited).
	MaxRooms int
	// MaxTracksPerRoom limits tracks per room (0 = unlimited).
	MaxTracksPerRoom int
	Logger           *slog.Logger
	// Encoders is the encoder registry probed for composite recordings
	// (default: GStreamer's registry; tests pass a fake).
	Encoders encode.Registry
	// APIKeys grant full access; JWTSecret verifies HS256 tokens with
	// room-scoped grants. With neither, the API is open.
	APIKeys   []string
	JWTSecret []byte
	// RTPAllow limits RTP/RTCP sources to these networks (empty = any).
	RTPAllow []netip.Prefix
	// WebhookURL receives recording started/stopped/failed events, signed
	// with WebhookSecret (HMAC-SHA256 in X-Streamline-Signature).
	WebhookURL    string
	WebhookSecret []byte
	// Capacity is the CPU cores this node offers for placement (default:
	// all of them); its load is estimated by DefaultCosts.
	Capacity float64
	// AdmitComposites refuses a composite recording (ErrNoHeadroom, 503)
	// whose estimated cost would take the node's load past Capacity.
	// Placement only gates new rooms; without this a room's composites
	// start whatever the node already runs.
	AdmitComposites bool
	// PinRooms keeps each room that runs a composite on one CPU while the
	// rooms' estimated costs (CostModel) fit PinBudget per CPU; the rest
	// float (see pinning.go).
	PinRooms bool
	// PinBudget is the estimated cores of pinned rooms one CPU takes
	// (default DefaultPinBudget).
	PinBudget float64
	// MinFreeDisk refuses new recordings (ErrLowDisk, 507) while DataDir's
	// filesystem has fewer free bytes than this (0 = no check).
	MinFreeDisk int64
}

// Server owns the rooms of this node and serves the REST API.
type Server struct {
	cfg   Config
	log   *slog.Logger
	ports *portPool
	mux   *http.ServeMux
	// failing are the encodings being taken out after an error
	// (onPipelineError); Close waits for them.
	failing sync.WaitGroup

	mu     sync.Mutex
	rooms  map[string]*ingest.Room
	medias map[string]*roomMedia
	// records are the store records of the rooms this node serves, kept to
	// re-assert them if the store lost them (a Redis restart).
	records map[string]RoomRecord
	closed  bool
	hub     *hub

	stopHealth chan struct{}
	auth       *authenticator
	draining   bool // takes no new rooms
	persist    *persister
	costs      CostModel
	pins       *pinning // nil unless Config.PinRooms
	// admitMu makes a composite's admission check and its start one step
	// (Config.AdmitComposites), so two requests cannot both take the last
	// headroom.
	admitMu sync.Mutex
	// layoutLatency: layout change → first frame with it (layoutwatch.go).
	layoutLatency prometheus.Histogram
	// recordingFailures counts files and encodings that failed while
	// recording, by kind (file, encoding).
	recordingFailures *prometheus.CounterVec

	encOnce sync.Once
}

// encoders is the registry composite recordings select encoders from.
func (s *Server) encoders() encode.Registry {
	s.encOnce.Do(func() {
		if s.cfg.Encoders == nil {
			s.cfg.Encoders = encode.NewGstRegistry(5 * time.Second)
		}
	})
	return s.cfg.Encoders
}

// WarmEncoders selects the encoder of each codec now, as the first
// composite using it would: hardware candidates are opened (each within the
// registry's READY timeout) and the choice is logged and cached, and the
// chosen element's plugin and libraries are loaded. The first composite then
// starts without that wait (FFmpeg's libraries alone take 0.2-0.4 s and
// ~44 MiB to load for avenc_aac here) and the process's memory at rest
// already holds what every room shares. A codec without a usable encoder is
// an error naming it; the others are still warmed.
func (s *Server) WarmEncoders(codecs []string) (map[string]encode.Choice, error) {
	out := map[string]encode.Choice{}
	var errs []error
	for _, c := range codecs {
		ch, err := encode.Select(c, encode.Options{}, s.encoders(), s.log)
		if err != nil {
			errs = append(errs, fmt.Errorf("warm encoder for %s: %w", c, err))
			continue
		}
		out[c] = ch
	}
	return out, errors.Join(errs...)
}

// NewServer validates cfg and returns a server with no rooms.
func NewServer(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("ctl: data directory is required")
	}
	if cfg.Ports.Min == 0 {
		cfg.Ports = PortRange{Min: 40000, Max: 40999}
	}
	if !cfg.RTPListen.IsValid() {
		cfg.RTPListen = netip.IPv4Unspecified()
	}
	if cfg.RTPHost == "" {
		cfg.RTPHost = cfg.RTPListen.String()
		if cfg.RTPListen.IsUnspecified() {
			cfg.RTPHost = "127.0.0.1"
		}
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "local"
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = float64(runtime.NumCPU())
	}
	s := &Server{cfg: cfg, log: cfg.Logger, ports: newPortPool(cfg.Ports), rooms: map[string]*ingest.Room{}, medias: map[string]*roomMedia{}, records: map[string]RoomRecord{}, hub: newHub()}
	s.costs = DefaultCosts
	s.auth = &authenticator{secret: cfg.JWTSecret, now: time.Now}
	for _, k := range cfg.APIKeys {
		if k = strings.TrimSpace(k); k != "" {
			s.auth.keys = append(s.auth.keys, []byte(k))
		}
	}
	s.hub.webhooks = newWebhooks(cfg.WebhookURL, cfg.WebhookSecret, cfg.Logger)
	marked, err := markInterrupted(cfg.DataDir)
	if err != nil {
		cfg.Logger.Warn("checking for interrupted recordings", "error", err)
	} else if len(marked) > 0 {
		cfg.Logger.Warn("recordings interrupted by an earlier crash marked failed (their files are kept)", "manifests", marked)
	}
	s.routes()
	s.persist = newPersister()
	s.hub.local = s.onLocalEvent
	restoreCtx, cancelRestore := context.WithTimeout(context.Background(), 30*time.Second)
	restored := s.restoreRooms(restoreCtx, marked)
	cancelRestore()
	s.stopHealth = make(chan struct{})
	go s.healthLoop(s.stopHealth)
	go s.persistLoop(s.stopHealth)
	if cfg.PinRooms {
		s.pins = newPinning(cmp.Or(cfg.PinBudget, DefaultPinBudget))
		go s.pinLoop(s.stopHealth)
	}
	defer func() {
		for _, ev := range restored {
			s.hub.publish(ev)
		}
	}()
	if rs, ok := cfg.Store.(*RedisStore); ok {
		go s.heartbeatLoop(rs, s.stopHealth)
		// Events cross nodes through Redis: subscribers anywhere see every room.
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-s.stopHealth; cancel() }()
		// Published from one goroutine with a bounded queue: a slow or
		// absent Redis never slows the API or the media path.
		out := make(chan Event, 1024)
		s.hub.cluster = func(ev Event) {
			select {
			case out <- ev:
			default:
			}
		}
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-out:
					pctx, pcancel := context.WithTimeout(ctx, time.Second)
					if err := rs.PublishEvent(pctx, cfg.NodeID, ev); err != nil {
						s.log.Debug("cluster event", "error", err)
					}
					pcancel()
				}
			}
		}()
		go rs.SubscribeEvents(ctx, cfg.NodeID, s.hub.deliver)
	}
	return s, nil
}

// healthInterval is how often subscribers get a node_health event.
var healthInterval = 10 * time.Second

func (s *Server) healthLoop(stop <-chan struct{}) {
	every(stop, healthInterval, func() {
		s.mu.Lock()
		rooms := len(s.rooms)
		s.mu.Unlock()
		s.hub.publish(Event{Type: "node_health", Data: map[string]any{"node": s.cfg.NodeID, "rooms": rooms, "status": "ok"}})
	})
}

// every calls fn each interval until stop is closed.
func every(stop <-chan struct{}, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// mediaList is a snapshot of the rooms' media, to walk without s.mu.
func (s *Server) mediaList() []*roomMedia {
	s.mu.Lock()
	defer s.mu.Unlock()
	medias := make([]*roomMedia, 0, len(s.medias))
	for _, m := range s.medias {
		medias = append(medias, m)
	}
	return medias
}

// Handler is the HTTP handler of the API, behind authentication when
// API keys or a token secret are configured.
func (s *Server) Handler() http.Handler { return s.requireAuth(s.mux) }

// AuthEnabled reports whether requests need credentials.
func (s *Server) AuthEnabled() bool { return s.auth.enabled() }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", s.health)
	m.HandleFunc("POST /v1/rooms", s.createRoom)
	m.HandleFunc("GET /v1/rooms", s.listRooms)
	m.HandleFunc("GET /v1/rooms/{room}", s.getRoom)
	m.HandleFunc("DELETE /v1/rooms/{room}", s.deleteRoom)
	m.HandleFunc("GET /v1/rooms/{room}/pipeline.svg", s.pipelineSVG)
	m.HandleFunc("GET /v1/rooms/{room}/pipeline.dot", s.pipelineDOT)
	m.HandleFunc("GET /v1/rooms/{room}/preview.mjpeg", s.previewMJPEG)
	m.HandleFunc("GET /v1/rooms/{room}/preview.jpg", s.previewJPEG)
	m.HandleFunc("POST /v1/rooms/{room}/tracks", s.createTrack)
	m.HandleFunc("GET /v1/rooms/{room}/tracks", s.listTracks)
	m.HandleFunc("GET /v1/rooms/{room}/tracks/{track}", s.getTrack)
	m.HandleFunc("PATCH /v1/rooms/{room}/tracks/{track}", s.patchTrack)
	m.HandleFunc("DELETE /v1/rooms/{room}/tracks/{track}", s.deleteTrack)
	m.HandleFunc("POST /v1/rooms/{room}/tracks/{track}/keyframe", s.keyframe)
	m.HandleFunc("POST /v1/rooms/{room}/recordings", s.createRecording)
	m.HandleFunc("GET /v1/rooms/{room}/recordings", s.listRecordings)
	m.HandleFunc("GET /v1/rooms/{room}/recordings/{rec}", s.getRecording)
	m.HandleFunc("DELETE /v1/rooms/{room}/recordings/{rec}", s.deleteRecording)
	m.HandleFunc("GET /v1/ws", s.serveWS)
	m.HandleFunc("GET /v1/nodes", s.listNodes)
	m.HandleFunc("POST /v1/nodes/{node}/drain", s.drainNode)
	s.mountObservability(m)
	m.HandleFunc("GET /v1/rooms/{room}/layout", s.getLayout)
	m.HandleFunc("PUT /v1/rooms/{room}/layout", s.putLayout)
	m.HandleFunc("POST /v1/rooms/{room}/streams", s.createStream)
	m.HandleFunc("GET /v1/rooms/{room}/streams", s.listStreams)
	m.HandleFunc("GET /v1/rooms/{room}/streams/{stream}", s.getStream)
	m.HandleFunc("DELETE /v1/rooms/{room}/streams/{stream}", s.deleteStream)
	// Recorded files for download and in-browser playback.
	_ = mime.AddExtensionType(".webm", "video/webm")
	_ = mime.AddExtensionType(".mkv", "video/x-matroska")
	_ = mime.AddExtensionType(".mp4", "video/mp4") // not in Go's table; /etc/mime.types may be absent
	m.Handle("GET /recordings/", http.StripPrefix("/recordings/", http.FileServer(http.Dir(s.cfg.DataDir))))
	m.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	s.mux = m
}

// Mount adds another handler (the dashboard) under pattern.
func (s *Server) Mount(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// idPattern keeps ids usable in paths and file names: no path can escape --data.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func validID(field, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%s %q: must be 1-128 characters of A-Z a-z 0-9 . _ - and start with a letter or digit", field, id)
	}
	return nil
}

func newID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// RoomJSON is the API representation of a room.
type RoomJSON struct {
	ID         string                 `json:"id"`
	Node       string                 `json:"node"`
	RTP        RTPAddr                `json:"rtp"`
	CreatedAt  time.Time              `json:"created_at"`
	Tracks     []ingest.TrackInfo     `json:"tracks"`
	Recordings []ingest.RecordingInfo `json:"recordings"`
	Counters   ingest.RoomCounters    `json:"counters"`
	State      string                 `json:"state,omitempty"` // "failed": its node died
}

// RTPAddr is where the SFU sends a room's RTP and RTCP (multiplexed).
type RTPAddr struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

func (s *Server) roomJSON(rec RoomRecord, room *ingest.Room) RoomJSON {
	return newRoomJSON(rec, room, s.pastRecordings(rec.ID))
}

// newRoomJSON builds the room's representation; past are the recordings of
// an earlier run of the node (a restored room).
func newRoomJSON(rec RoomRecord, room *ingest.Room, past []ingest.RecordingInfo) RoomJSON {
	out := RoomJSON{ID: rec.ID, Node: rec.Node, State: rec.State, RTP: RTPAddr{Host: rec.RTPHost, Port: rec.RTPPort}, CreatedAt: rec.CreatedAt,
		Tracks: []ingest.TrackInfo{}, Recordings: []ingest.RecordingInfo{}}
	if room != nil {
		out.Tracks = room.Tracks()
		out.Recordings = append(past, room.Recordings()...)
		out.Counters = room.Counters()
	}
	return out
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.rooms)
	s.mu.Unlock()
	out := map[string]any{"status": "ok", "node": s.cfg.NodeID, "rooms": n}
	if free, low, err := s.disk(); err == nil {
		out["disk_free_bytes"], out["disk_low"] = free, low
	}
	writeJSON(w, http.StatusOK, out)
}

type createRoomRequest struct {
	ID string `json:"id"`
}

func (s *Server) createRoom(w http.ResponseWriter, r *http.Request) {
	var req createRoomRequest
	if !s.decode(w, r, &req) {
		return
	}
	if req.ID == "" {
		req.ID = newID("room-")
	}
	if err := validID("room id", req.ID); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if s.placeRoom(w, r, req) {
		return
	}
	room, rec, err := s.CreateRoom(r.Context(), req.ID)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusCreated, s.roomJSON(rec, room))
}

// CreateRoom allocates a port, starts the room and records it in the store.
func (s *Server) CreateRoom(ctx context.Context, id string) (*ingest.Room, RoomRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, RoomRecord{}, fmt.Errorf("room %q: %w", id, ErrShuttingDown)
	}
	if _, ok := s.rooms[id]; ok {
		return nil, RoomRecord{}, fmt.Errorf("room %q: %w", id, ErrRoomExists)
	}
	if s.draining {
		return nil, RoomRecord{}, fmt.Errorf("room %q: %w", id, ErrDraining)
	}
	if s.cfg.MaxRooms > 0 && len(s.rooms) >= s.cfg.MaxRooms {
		return nil, RoomRecord{}, fmt.Errorf("%w: this node already serves %d rooms", errLimit, s.cfg.MaxRooms)
	}
	var room *ingest.Room
	port, err := s.ports.acquire(func(port int) error {
		var err error
		room, err = ingest.NewRoom(s.roomConfig(id, port))
		return err
	})
	if err != nil {
		return nil, RoomRecord{}, fmt.Errorf("room %q: %w", id, err)
	}
	rec := RoomRecord{ID: id, Node: s.cfg.NodeID, RTPHost: s.cfg.RTPHost, RTPPort: port, CreatedAt: room.CreatedAt()}
	if err := s.cfg.Store.CreateRoom(ctx, rec); err != nil {
		_ = room.Close()
		s.ports.release(port)
		return nil, RoomRecord{}, err
	}
	s.rooms[id] = room
	s.records[id] = rec
	s.medias[id] = &roomMedia{room: room, taps: map[string]*ingest.Tap{}, composites: map[string]*compositeRec{},
		layout: layouts.Spec{Template: layouts.TemplateGrid}}
	s.log.Info("room created", "room", id, "rtp_port", port)
	// The same shape as the REST answer (s.mu is held: a new room has no past).
	s.hub.publish(Event{Type: "room_created", Room: id, Data: newRoomJSON(rec, room, nil)})
	return room, rec, nil
}

var errLimit = errors.New("limit reached")

// ErrShuttingDown refuses new rooms while the server finalizes the others.
var ErrShuttingDown = errors.New("server is shutting down")

// ErrDraining refuses new rooms on a node being drained.
var ErrDraining = errors.New("node is draining: it takes no new rooms")

func (s *Server) listRooms(w http.ResponseWriter, r *http.Request) {
	recs, err := s.cfg.Store.Rooms(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]RoomJSON, 0, len(recs))
	for _, rec := range recs {
		out = append(out, s.roomJSON(rec, s.room(rec.ID)))
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out})
}

func (s *Server) room(id string) *ingest.Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}

// lookup finds a room served by this node, writing 404 when there is none.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*ingest.Room, RoomRecord, bool) {
	id := r.PathValue("room")
	rec, err := s.cfg.Store.Room(r.Context(), id)
	room := s.room(id)
	if err != nil || room == nil {
		if err == nil {
			// Another node owns it: any node serves any room.
			if n, ok := s.liveNode(r.Context(), rec.Node); ok && r.Header.Get(forwardedHeader) == "" {
				s.forward(w, r, n, nil)
				return nil, RoomRecord{}, false
			}
			err = fmt.Errorf("room %q is on node %s, which is not reachable", id, rec.Node)
		}
		writeError(w, http.StatusNotFound, err)
		return nil, RoomRecord{}, false
	}
	return room, rec, true
}

func (s *Server) getRoom(w http.ResponseWriter, r *http.Request) {
	room, rec, ok := s.lookup(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.roomJSON(rec, room))
}

func (s *Server) deleteRoom(w http.ResponseWriter, r *http.Request) {
	room, rec, ok := s.lookup(w, r)
	if !ok {
		return
	}
	out := s.roomJSON(rec, room)
	if err := s.closeRoom(r.Context(), rec.ID, false); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out.Recordings = room.Recordings()
	out.Tracks = []ingest.TrackInfo{}
	writeJSON(w, http.StatusOK, out)
}

// closeRoom finalizes every file of the room and frees its port. With keep
// (a shutdown with a shared store) its record stays for the node's restart.
func (s *Server) closeRoom(ctx context.Context, id string, keep bool) error {
	s.mu.Lock()
	room := s.rooms[id]
	media := s.medias[id]
	stored := s.records[id]
	delete(s.rooms, id)
	delete(s.records, id)
	s.mu.Unlock()
	if room == nil {
		return fmt.Errorf("room %q: %w", id, ErrRoomNotFound)
	}
	if media != nil {
		for _, cid := range media.compositeIDs() {
			before, _ := s.composite(id, cid)
			if info, err := s.stopComposite(media, cid); err == nil && before.State == ingest.StateRecording {
				s.hub.publish(recordingEvent(id, info.State, info))
			}
		}
		media.mu.Lock()
		media.preview.closed = true // no new preview on a closing room
		media.stopHoldersLocked()
		media.closeGraphIfIdleLocked()
		media.mu.Unlock()
	}
	s.mu.Lock()
	delete(s.medias, id)
	s.mu.Unlock()
	var active []string
	for _, rec := range room.Recordings() {
		if rec.State == ingest.StateRecording {
			active = append(active, rec.ID)
		}
	}
	err := room.Close()
	for _, rid := range active {
		if rec, rerr := room.Recording(rid); rerr == nil {
			s.hub.publish(recordingEvent(id, rec.State, rec))
		}
	}
	s.ports.release(int(room.Addr().Port()))
	if keep {
		if serr := s.cfg.Store.SaveRoom(ctx, snapshotRoom(stored, room, media)); serr != nil {
			err = errors.Join(err, serr)
		}
		s.log.Info("room closed; kept in the store for this node's restart", "room", id)
		return err
	}
	if derr := s.cfg.Store.DeleteRoom(ctx, id); derr != nil && !errors.Is(derr, ErrRoomNotFound) {
		err = errors.Join(err, derr)
	}
	s.log.Info("room deleted", "room", id)
	s.hub.publish(Event{Type: "room_closed", Room: id, Data: map[string]any{"recordings": room.Recordings()}})
	return err
}

func (s *Server) pipelineDOT(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/vnd.graphviz")
	_, _ = io.WriteString(w, room.PipelineDOT())
}

func (s *Server) pipelineSVG(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	svg, err := gstx.RenderSVG(ctx, room.PipelineDOT())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write(svg)
}

type createTrackRequest struct {
	ID          string  `json:"id"`
	Participant string  `json:"participant"`
	Kind        string  `json:"kind"`
	Codec       string  `json:"codec"`
	SSRC        *uint32 `json:"ssrc"`
	PayloadType *int    `json:"payload_type"`
	ClockRate   int     `json:"clock_rate"`
	Source      string  `json:"source"`
	Name        string  `json:"name"`
	RTXSSRC     uint32  `json:"rtx_ssrc"`
	RTXPT       int     `json:"rtx_payload_type"`
}

func (req createTrackRequest) validate() error {
	switch {
	case req.Participant == "":
		return errors.New("participant: required")
	case req.Kind != "audio" && req.Kind != "video":
		return fmt.Errorf("kind %q: want audio or video", req.Kind)
	case req.Codec == "":
		return errors.New("codec: required (opus, vp8, vp9 or h264)")
	case req.SSRC == nil:
		return errors.New("ssrc: required")
	case req.PayloadType == nil:
		return errors.New("payload_type: required")
	}
	if _, err := payloadType("payload_type", req.PayloadType); err != nil {
		return err
	}
	switch {
	case req.ClockRate < 0:
		return fmt.Errorf("clock_rate %d: must be positive", req.ClockRate)
	case req.Source != "" && req.Source != "camera" && req.Source != "microphone" && req.Source != "screen":
		return fmt.Errorf("source %q: want camera, microphone or screen", req.Source)
	case len(req.Name) > 256:
		return errors.New("name: longer than 256 characters")
	}
	if _, err := payloadType("rtx_payload_type", &req.RTXPT); err != nil {
		return err
	}
	if err := validID("participant", req.Participant); err != nil {
		return err
	}
	return validID("track id", req.ID)
}

func (s *Server) createTrack(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	var req createTrackRequest
	if !s.decode(w, r, &req) {
		return
	}
	if req.ID == "" {
		req.ID = newID("trk-")
	}
	if err := req.validate(); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if s.cfg.MaxTracksPerRoom > 0 && len(room.Tracks()) >= s.cfg.MaxTracksPerRoom {
		writeError(w, http.StatusConflict, fmt.Errorf("%w: room has %d tracks", errLimit, s.cfg.MaxTracksPerRoom))
		return
	}
	info, err := room.AddTrack(ingest.TrackInfo{
		ID: req.ID, Participant: req.Participant, Name: req.Name, Kind: ingest.Kind(req.Kind), Codec: req.Codec,
		Source: req.Source, SSRC: *req.SSRC, PayloadType: uint8(*req.PayloadType), ClockRate: req.ClockRate,
		RTXSSRC: req.RTXSSRC, RTXPayloadType: uint8(req.RTXPT),
	})
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

func (s *Server) listTracks(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tracks": room.Tracks()})
}

func (s *Server) getTrack(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	info, err := room.Track(r.PathValue("track"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

type patchTrackRequest struct {
	Muted       *bool   `json:"muted"`
	SSRC        *uint32 `json:"ssrc"`
	Codec       *string `json:"codec"`
	PayloadType *int    `json:"payload_type"`
	ClockRate   *int    `json:"clock_rate"`
	RTXSSRC     *uint32 `json:"rtx_ssrc"`
	RTXPT       *int    `json:"rtx_payload_type"`
}

// payloadType checks an optional payload type from a request.
func payloadType(field string, v *int) (*uint8, error) {
	if v == nil {
		return nil, nil
	}
	if !validPayloadType(*v) {
		return nil, fmt.Errorf("%s %d: want 0-63 or 96-127 (64-95 collide with RTCP on a multiplexed port, RFC 5761)", field, *v)
	}
	pt := uint8(*v)
	return &pt, nil
}

// setPayloadTypes checks the payload types of a track update request (PATCH
// or the WebSocket track message) and sets those present.
func setPayloadTypes(u *ingest.TrackUpdate, pt, rtxPT *int) error {
	var err error
	if u.PayloadType, err = payloadType("payload_type", pt); err != nil {
		return err
	}
	u.RTXPayloadType, err = payloadType("rtx_payload_type", rtxPT)
	return err
}

func (s *Server) patchTrack(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	var req patchTrackRequest
	if !s.decode(w, r, &req) {
		return
	}
	u := ingest.TrackUpdate{Muted: req.Muted, SSRC: req.SSRC, Codec: req.Codec, ClockRate: req.ClockRate, RTXSSRC: req.RTXSSRC}
	if err := setPayloadTypes(&u, req.PayloadType, req.RTXPT); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.ClockRate != nil && *req.ClockRate <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("clock_rate %d: must be positive", *req.ClockRate))
		return
	}
	info, err := room.UpdateTrack(r.PathValue("track"), u)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) deleteTrack(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	id := r.PathValue("track")
	info, err := room.Track(id)
	if err == nil {
		err = room.RemoveTrack(id)
	}
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) keyframe(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if err := room.RequestKeyframe(r.PathValue("track")); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	s.hub.publish(Event{Type: "keyframe_requested", Room: room.ID(), Data: map[string]string{"track": r.PathValue("track")}})
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "requested"})
}

func (s *Server) createRecording(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	var req compositeRequest
	if !s.decode(w, r, &req) {
		return
	}
	if req.ID == "" {
		req.ID = newID("rec-")
	}
	if err := validID("recording id", req.ID); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch req.Kind {
	case "", "tracks":
		if req.Video != nil || req.Audio != nil || req.Format != "" || len(req.Encodings) > 0 || len(req.Layout) > 0 || len(req.Outputs) > 0 {
			writeError(w, http.StatusBadRequest, errors.New(`video, audio, format, encodings, layout and outputs apply to "kind": "composite"`))
			return
		}
	case "composite":
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf(`kind %q: want "tracks" or "composite"`, req.Kind))
		return
	}
	if err := s.checkDiskForRecording(); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if m := s.media(room.ID()); m != nil && req.Kind == "composite" {
		info, err := s.startComposite(m, req)
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		s.hub.publish(Event{Type: "recording_started", Room: room.ID(), Data: info})
		writeJSON(w, http.StatusCreated, info)
		return
	}
	if _, err := s.composite(room.ID(), req.ID); err == nil {
		writeError(w, http.StatusConflict, fmt.Errorf("recording %q already exists", req.ID))
		return
	}
	info, err := room.StartRecording(req.ID, req.Mode)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	s.hub.publish(Event{Type: "recording_started", Room: room.ID(), Data: info})
	writeJSON(w, http.StatusCreated, info)
}

// validPayloadType excludes 64-95: with the marker bit set they read as
// RTCP packet types 192-223 on a port that multiplexes both (RFC 5761 §4).
func validPayloadType(pt int) bool { return pt >= 0 && pt <= 127 && (pt < 64 || pt > 95) }

func (s *Server) listRecordings(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	out := []any{}
	for _, rec := range s.pastRecordings(room.ID()) {
		out = append(out, rec)
	}
	var composites []string
	if m := s.media(room.ID()); m != nil {
		composites = m.compositeIDs()
	}
	for _, rec := range room.Recordings() {
		if !slices.Contains(composites, rec.ID) { // a composite's "tracks" part: listed inside it
			out = append(out, rec)
		}
	}
	for _, id := range composites {
		if c, err := s.composite(room.ID(), id); err == nil {
			out = append(out, c)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"recordings": out})
}

func (s *Server) getRecording(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if c, err := s.composite(room.ID(), r.PathValue("rec")); err == nil {
		writeJSON(w, http.StatusOK, c)
		return
	}
	if past, ok := s.pastRecording(room.ID(), r.PathValue("rec")); ok {
		writeJSON(w, http.StatusOK, past)
		return
	}
	info, err := room.Recording(r.PathValue("rec"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) deleteRecording(w http.ResponseWriter, r *http.Request) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if m := s.media(room.ID()); m != nil {
		if _, err := s.composite(room.ID(), r.PathValue("rec")); err == nil {
			info, err := s.stopComposite(m, r.PathValue("rec"))
			if err != nil {
				writeError(w, statusOf(err), err)
				return
			}
			s.hub.publish(recordingEvent(room.ID(), info.State, info))
			writeJSON(w, http.StatusOK, info)
			return
		}
	}
	if past, ok := s.pastRecording(room.ID(), r.PathValue("rec")); ok {
		writeJSON(w, http.StatusOK, past) // ended with the run that made it
		return
	}
	info, err := room.StopRecording(r.PathValue("rec"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	s.hub.publish(recordingEvent(room.ID(), info.State, info))
	writeJSON(w, http.StatusOK, info)
}

// recordingEvent names the event of a recording that ended by its state.
func recordingEvent(room, state string, info any) Event {
	typ := "recording_stopped"
	if state == ingest.StateFailed {
		typ = "recording_failed"
	}
	return Event{Type: typ, Room: room, Data: info}
}

// roomConfig is the ingest configuration of room id on a UDP port.
func (s *Server) roomConfig(id string, port int) ingest.RoomConfig {
	return ingest.RoomConfig{
		ID: id, Listen: netip.AddrPortFrom(s.cfg.RTPListen, uint16(port)), DataDir: s.cfg.DataDir,
		JitterLatency: s.cfg.JitterLatency, NoNACK: s.cfg.NoNACK, Logger: s.log, OnEvent: s.onTrackEvent, Allow: s.cfg.RTPAllow,
		OnError:      func(element, text string) { s.onPipelineError(id, element, text) },
		OnFileFailed: func(rec string, f ingest.FileEntry) { s.onFileFailed(id, rec, f) },
	}
}

// Close finalizes every room (every file) and frees every port.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		close(s.stopHealth)
	}
	s.closed = true
	ids := make([]string, 0, len(s.rooms))
	for id := range s.rooms {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	_, keep := s.cfg.Store.(*RedisStore) // rooms resume when this node restarts
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.closeRoom(ctx, id, keep) }()
	}
	wg.Wait()
	s.failing.Wait()
	s.hub.webhooks.close()
	return errors.Join(errs...)
}

// decode reads a JSON body into v; an empty body leaves v zero. It answers
// 400 or 413 itself and returns false when the body is unusable.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	data, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", tooBig.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, fmt.Errorf("read body: %w", err))
		return false
	}
	if len(data) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid JSON body: %w", err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, errors.New("invalid JSON body: trailing data after the object"))
		return false
	}
	return true
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ingest.ErrNotFound), errors.Is(err, ErrRoomNotFound):
		return http.StatusNotFound
	case errors.Is(err, ingest.ErrConflict), errors.Is(err, ErrRoomExists), errors.Is(err, errLimit):
		return http.StatusConflict
	case errors.Is(err, ingest.ErrInvalid), errors.Is(err, layouts.ErrInvalidSpec), errors.Is(err, encode.ErrIncompatible):
		return http.StatusBadRequest
	case errors.Is(err, ingest.ErrClosed), errors.Is(err, ErrNoPorts), errors.Is(err, ErrShuttingDown), errors.Is(err, ErrDraining),
		errors.Is(err, ErrNoHeadroom):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrLowDisk):
		return http.StatusInsufficientStorage
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
