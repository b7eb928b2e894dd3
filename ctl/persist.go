package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/streamline-media/streamline/ingest"
	"github.com/streamline-media/streamline/layouts"
)

// persister writes the state of this node's rooms (tracks, layout,
// recordings) to the store after every change, from one goroutine: the API
// and the media path only mark a room dirty, so a slow or absent store never
// slows them. A write that fails is retried.
type persister struct {
	mu    sync.Mutex
	dirty map[string]bool
	kick  chan struct{}
}

func newPersister() *persister {
	return &persister{dirty: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// mark queues a room for writing.
func (p *persister) mark(room string) {
	p.mu.Lock()
	p.dirty[room] = true
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *persister) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.dirty))
	for id := range p.dirty {
		ids = append(ids, id)
	}
	clear(p.dirty)
	return ids
}

// persistRetry is how soon a failed write is tried again.
var persistRetry = time.Second

// onLocalEvent marks the room of a state-changing event of this node dirty.
func (s *Server) onLocalEvent(ev Event) {
	switch ev.Type {
	case "", "active_speaker", "keyframe_requested", "node_health", "room_created", "room_closed", "room_failed":
		return
	}
	if ev.Room != "" { // may run under s.mu: saveRoom skips rooms not served here
		s.persist.mark(ev.Room)
	}
}

func (s *Server) persistLoop(stop <-chan struct{}) {
	retry := time.NewTicker(persistRetry)
	defer retry.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.persist.kick:
		case <-retry.C:
		}
		for _, id := range s.persist.take() {
			if err := s.saveRoom(id); err != nil {
				s.log.Debug("persist room", "room", id, "error", err)
				s.persist.mu.Lock()
				s.persist.dirty[id] = true
				s.persist.mu.Unlock()
			}
		}
	}
}

// saveRoom writes the current state of a room served here to the store.
func (s *Server) saveRoom(id string) error {
	s.mu.Lock()
	room, media := s.rooms[id], s.medias[id]
	rec, ok := s.records[id]
	s.mu.Unlock()
	if room == nil || !ok {
		return nil // closed meanwhile
	}
	rec = snapshotRoom(rec, room, media)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.cfg.Store.SaveRoom(ctx, rec)
	if errors.Is(err, ErrRoomNotFound) {
		err = s.cfg.Store.CreateRoom(ctx, rec) // the store lost it (a Redis restart)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	if _, still := s.records[id]; still {
		s.records[id] = rec
	}
	s.mu.Unlock()
	return nil
}

// snapshotRoom fills rec with what a restart needs to bring the room back.
func snapshotRoom(rec RoomRecord, room *ingest.Room, media *roomMedia) RoomRecord {
	rec.Tracks = rec.Tracks[:0:0]
	for _, t := range room.Tracks() {
		t.Stats = nil
		rec.Tracks = append(rec.Tracks, t)
	}
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if media != nil {
		media.mu.Lock()
		spec := media.layout
		for _, p := range media.past {
			add(p.ID)
		}
		media.mu.Unlock()
		rec.Layout = &spec
		for _, id := range media.compositeIDs() {
			add(id)
		}
	}
	for _, r := range room.Recordings() {
		add(r.ID)
	}
	rec.Recordings = ids
	return rec
}

// restoreRooms brings back the rooms the store says this node serves: a
// node restarted with the same --node-id (and --data) resumes its rooms on
// the same RTP ports when they are free, with their tracks, mute state and
// layout. Recordings that ran when the node died are listed as failed with
// their partial files (markInterrupted marked their manifests). It returns
// the events to announce once the server is fully up.
func (s *Server) restoreRooms(ctx context.Context, interrupted []string) []Event {
	recs, err := s.cfg.Store.Rooms(ctx)
	if err != nil {
		s.log.Warn("restore rooms: list the store", "error", err)
		return nil
	}
	wasInterrupted := map[string]bool{}
	for _, p := range interrupted {
		wasInterrupted[p] = true
	}
	var events []Event
	for _, rec := range recs {
		if rec.Node != s.cfg.NodeID {
			continue
		}
		ev, err := s.restoreRoom(ctx, rec, wasInterrupted)
		if err != nil {
			// Left as it is: failDeadRooms marks it failed, as for a dead node.
			s.log.Error("restore room", "room", rec.ID, "error", err)
			continue
		}
		events = append(events, ev...)
	}
	return events
}

func (s *Server) restoreRoom(ctx context.Context, rec RoomRecord, interrupted map[string]bool) ([]Event, error) {
	if err := validID("room id", rec.ID); err != nil {
		return nil, err
	}
	var room *ingest.Room
	port, err := s.ports.acquirePreferred(rec.RTPPort, func(port int) error {
		var err error
		room, err = ingest.NewRoom(s.roomConfig(rec.ID, port))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bind an RTP port: %w", err)
	}
	if port != rec.RTPPort {
		s.log.Warn("restored room moved to another RTP port (the old one is taken)", "room", rec.ID, "old_port", rec.RTPPort, "rtp_port", port)
	}
	spec := layouts.Spec{Template: layouts.TemplateGrid}
	if rec.Layout != nil {
		spec = *rec.Layout
	}
	media := &roomMedia{room: room, taps: map[string]*ingest.Tap{}, composites: map[string]*compositeRec{}, layout: spec}
	var events []Event
	for _, id := range rec.Recordings {
		info, err := loadRecording(s.cfg.DataDir, rec.ID, id)
		if err != nil {
			s.log.Warn("restore room: recording manifest", "room", rec.ID, "recording", id, "error", err)
			continue
		}
		media.past = append(media.past, info)
		if interrupted[filepath.Join(s.cfg.DataDir, info.Manifest)] {
			events = append(events, recordingEvent(rec.ID, info.State, info))
		}
	}
	rec.RTPPort, rec.RTPHost, rec.State = port, s.cfg.RTPHost, ""
	rec.Restarts++
	s.mu.Lock()
	s.rooms[rec.ID] = room
	s.records[rec.ID] = rec
	s.medias[rec.ID] = media
	s.mu.Unlock()
	for _, t := range rec.Tracks {
		muted := t.Muted
		in := ingest.TrackInfo{ID: t.ID, Participant: t.Participant, Name: t.Name, Kind: t.Kind, Codec: t.Codec,
			Source: t.Source, SSRC: t.SSRC, PayloadType: t.PayloadType, ClockRate: t.ClockRate,
			RTXSSRC: t.RTXSSRC, RTXPayloadType: t.RTXPayloadType}
		if _, err := room.AddTrack(in); err != nil {
			s.log.Warn("restore room: track", "room", rec.ID, "track", t.ID, "error", err)
			continue
		}
		if muted {
			if _, err := room.UpdateTrack(t.ID, ingest.TrackUpdate{Muted: &muted}); err != nil {
				s.log.Warn("restore room: mute track", "room", rec.ID, "track", t.ID, "error", err)
			}
		}
	}
	rec = snapshotRoom(rec, room, media)
	if err := s.cfg.Store.SaveRoom(ctx, rec); err != nil {
		s.log.Warn("restore room: save", "room", rec.ID, "error", err)
	}
	if rs, ok := s.cfg.Store.(*RedisStore); ok {
		_ = rs.rdb.HDel(ctx, rs.prefix+":failed", rec.ID).Err() // it may fail again later
	}
	s.mu.Lock()
	s.records[rec.ID] = rec
	s.mu.Unlock()
	s.log.Info("room restored after a restart", "room", rec.ID, "rtp_port", port, "tracks", len(rec.Tracks), "recordings", len(media.past))
	events = append([]Event{{Type: "room_restored", Room: rec.ID, Data: s.roomJSON(rec, room)}}, events...)
	return events, nil
}

// loadRecording reads a recording's manifest from an earlier run: the
// composite one when there is one (it lists the track files too), else the
// raw-track one.
func loadRecording(dataDir, room, id string) (ingest.RecordingInfo, error) {
	if err := validID("recording id", id); err != nil {
		return ingest.RecordingInfo{}, err
	}
	dir := filepath.Join(room, id)
	var lastErr error
	for _, name := range []string{"composite.json", "manifest.json"} {
		data, err := os.ReadFile(filepath.Join(dataDir, dir, name))
		if err != nil {
			lastErr = err
			continue
		}
		var info ingest.RecordingInfo
		if err := json.Unmarshal(data, &info); err != nil {
			return ingest.RecordingInfo{}, fmt.Errorf("%s: %w", name, err)
		}
		if info.Files == nil {
			info.Files = []*ingest.FileEntry{}
		}
		info.Dir, info.Manifest = dir, filepath.Join(dir, name)
		return info, nil
	}
	return ingest.RecordingInfo{}, lastErr
}

// pastRecordings are a restored room's recordings from before the restart.
func (s *Server) pastRecordings(roomID string) []ingest.RecordingInfo {
	m := s.media(roomID)
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ingest.RecordingInfo(nil), m.past...)
}

// pastRecording finds one of them.
func (s *Server) pastRecording(roomID, id string) (ingest.RecordingInfo, bool) {
	for _, r := range s.pastRecordings(roomID) {
		if r.ID == id {
			return r, true
		}
	}
	return ingest.RecordingInfo{}, false
}
