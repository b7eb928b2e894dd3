package ctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// nodeTTL is how long a node stays listed after its last heartbeat.
var nodeTTL = 5 * time.Second

// self describes this node for the registry: its load is the cost model's
// estimate (see cost.go), its capacity its cores.
func (s *Server) self() NodeInfo {
	load := s.load()
	s.mu.Lock()
	rooms := len(s.rooms)
	draining := s.draining
	s.mu.Unlock()
	_, diskLow, _ := s.disk() // unknown counts as not low, as for a recording
	return NodeInfo{ID: s.cfg.NodeID, API: s.cfg.APIAddr, RTPHost: s.cfg.RTPHost, Capacity: s.cfg.Capacity,
		Load: load, Rooms: rooms, Draining: draining, DiskLow: diskLow}
}

// heartbeatLoop keeps this node registered in Redis.
func (s *Server) heartbeatLoop(rs *RedisStore, stop <-chan struct{}) {
	beat := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := rs.Heartbeat(ctx, s.self(), nodeTTL); err != nil {
			s.log.Warn("node heartbeat", "error", err) // Redis away: keep serving, retry next beat
			return
		}
		if n, err := rs.node(ctx, s.cfg.NodeID); err == nil && n.Draining {
			s.mu.Lock()
			s.draining = true
			s.mu.Unlock()
		}
		s.reassertRooms(ctx, rs)
		s.failDeadRooms(ctx, rs)
	}
	beat()
	every(stop, nodeTTL/5, beat)
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	if rs, ok := s.cfg.Store.(*RedisStore); ok {
		nodes, err := rs.Nodes(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes})
		return
	}
	n := s.self()
	n.SeenAt = time.Now().UTC()
	writeJSON(w, http.StatusOK, map[string]any{"nodes": []NodeInfo{n}})
}

func (s *Server) drainNode(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("node")
	if rs, ok := s.cfg.Store.(*RedisStore); ok {
		n, err := rs.Drain(r.Context(), id)
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, ErrNodeNotFound) {
				status = http.StatusNotFound
			}
			writeError(w, status, err)
			return
		}
		if id == s.cfg.NodeID {
			s.mu.Lock()
			s.draining = true
			s.mu.Unlock()
		}
		writeJSON(w, http.StatusOK, n)
		return
	}
	if id != s.cfg.NodeID {
		writeError(w, http.StatusNotFound, fmt.Errorf("node %q: %w", id, ErrNodeNotFound))
		return
	}
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.self())
}

// reassertRooms puts this node's rooms back into the store if it lost them
// (a Redis restarted without persistence): the rooms are alive here.
func (s *Server) reassertRooms(ctx context.Context, rs *RedisStore) {
	s.mu.Lock()
	recs := make([]RoomRecord, 0, len(s.records))
	for _, r := range s.records {
		recs = append(recs, r)
	}
	s.mu.Unlock()
	for _, rec := range recs {
		if err := rs.CreateRoom(ctx, rec); err == nil {
			s.log.Info("room re-registered in the store", "room", rec.ID)
		}
	}
}
