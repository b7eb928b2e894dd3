package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/streamline-media/streamline/ingest"
)

// markInterrupted finds manifests a previous run left "recording" (it was
// killed or crashed) and marks them failed, keeping every partial file
// listed: nothing recorded is silently lost. It returns the recordings it
// marked.
func markInterrupted(dataDir string) ([]string, error) {
	var marked []string
	for _, pattern := range []string{"*/*/manifest.json", "*/*/composite.json"} {
		paths, err := filepath.Glob(filepath.Join(dataDir, pattern))
		if err != nil {
			return marked, err
		}
		for _, p := range paths {
			ok, err := failManifest(p)
			if err != nil {
				return marked, fmt.Errorf("%s: %w", p, err)
			}
			if ok {
				marked = append(marked, p)
			}
		}
	}
	return marked, nil
}

func failManifest(path string) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return false, nil // not ours to judge; leave it
	}
	if st, _ := m["state"].(string); st != ingest.StateRecording && st != ingest.StateStopping {
		return false, nil
	}
	m["state"] = ingest.StateFailed
	m["error"] = "interrupted: the server stopped without finalizing this recording; the files hold what was written until then"
	m["stopped_at"] = time.Now().UTC()
	for _, key := range []string{"files", "encodings"} {
		list, _ := m[key].([]any)
		for _, f := range list {
			if fm, ok := f.(map[string]any); ok && fm["state"] == ingest.FileRecording {
				fm["state"] = "partial"
				if st, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(path))), fmt.Sprint(fm["path"]))); err == nil {
					fm["bytes"] = st.Size()
				}
			}
		}
	}
	return true, ingest.WriteJSONAtomic(path, m)
}

// failDeadRooms marks rooms whose node is gone as failed, once across the
// cluster (HSETNX on a marker), and tells subscribers.
func (s *Server) failDeadRooms(ctx context.Context, rs *RedisStore) {
	nodes, err := rs.Nodes(ctx)
	if err != nil {
		return
	}
	live := map[string]bool{s.cfg.NodeID: true}
	for _, n := range nodes {
		live[n.ID] = true
	}
	rooms, err := rs.Rooms(ctx)
	if err != nil {
		return
	}
	for _, rec := range rooms {
		own := rec.Node == s.cfg.NodeID && s.room(rec.ID) == nil && time.Since(rec.CreatedAt) > nodeTTL
		if (live[rec.Node] && !own) || rec.State == "failed" {
			continue
		}
		won, err := rs.rdb.HSetNX(ctx, rs.prefix+":failed", rec.ID, s.cfg.NodeID).Result()
		if err != nil || !won {
			continue
		}
		rec.State = "failed"
		data, _ := json.Marshal(rec)
		_ = rs.rdb.HSet(ctx, rs.roomsKey(), rec.ID, data).Err()
		s.log.Warn("room failed: its node is gone", "room", rec.ID, "node", rec.Node)
		s.hub.publish(Event{Type: "room_failed", Room: rec.ID, Data: newRoomJSON(rec, nil, nil)}) // the REST room shape
	}
}
