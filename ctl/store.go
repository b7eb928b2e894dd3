package ctl

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/streamline-media/streamline/ingest"
	"github.com/streamline-media/streamline/layouts"
)

// Store errors.
var (
	ErrRoomExists   = errors.New("room already exists")
	ErrRoomNotFound = errors.New("room not found")
)

// RoomRecord is what the control plane remembers of a room, independent of
// the media objects that serve it: enough to answer which node and port own
// it.
type RoomRecord struct {
	ID        string    `json:"id"`
	Node      string    `json:"node"`
	RTPHost   string    `json:"rtp_host"`
	RTPPort   int       `json:"rtp_port"`
	CreatedAt time.Time `json:"created_at"`
	// State is "failed" once the node serving the room died.
	State string `json:"state,omitempty"`
	// What the owning node restores after a restart: the registered tracks
	// (without their statistics), the layout, and the ids of the room's
	// recordings (their manifests are on the node's disk).
	Tracks     []ingest.TrackInfo `json:"tracks,omitempty"`
	Layout     *layouts.Spec      `json:"layout,omitempty"`
	Recordings []string           `json:"recordings,omitempty"`
	// Restarts counts how often the room was restored after its node restarted.
	Restarts int `json:"restarts,omitempty"`
}

// Store keeps room records. The in-memory store is the embedded default; a
// Redis store shares them between nodes.
type Store interface {
	// CreateRoom stores rec, or fails with ErrRoomExists.
	CreateRoom(ctx context.Context, rec RoomRecord) error
	// DeleteRoom removes a room, or fails with ErrRoomNotFound.
	DeleteRoom(ctx context.Context, id string) error
	// Room returns one room, or ErrRoomNotFound.
	Room(ctx context.Context, id string) (RoomRecord, error)
	// Rooms lists rooms ordered by creation time.
	Rooms(ctx context.Context) ([]RoomRecord, error)
	// SaveRoom replaces the record of an existing room, or fails with
	// ErrRoomNotFound (a deleted room is never brought back).
	SaveRoom(ctx context.Context, rec RoomRecord) error
}

// MemoryStore is a Store in process memory.
type MemoryStore struct {
	mu    sync.Mutex
	rooms map[string]RoomRecord
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{rooms: map[string]RoomRecord{}} }

// CreateRoom implements Store.
func (m *MemoryStore) CreateRoom(_ context.Context, rec RoomRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rooms[rec.ID]; ok {
		return fmt.Errorf("room %q: %w", rec.ID, ErrRoomExists)
	}
	m.rooms[rec.ID] = rec
	return nil
}

// DeleteRoom implements Store.
func (m *MemoryStore) DeleteRoom(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rooms[id]; !ok {
		return fmt.Errorf("room %q: %w", id, ErrRoomNotFound)
	}
	delete(m.rooms, id)
	return nil
}

// SaveRoom implements Store.
func (m *MemoryStore) SaveRoom(_ context.Context, rec RoomRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rooms[rec.ID]; !ok {
		return fmt.Errorf("room %q: %w", rec.ID, ErrRoomNotFound)
	}
	m.rooms[rec.ID] = rec
	return nil
}

// Room implements Store.
func (m *MemoryStore) Room(_ context.Context, id string) (RoomRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.rooms[id]
	if !ok {
		return RoomRecord{}, fmt.Errorf("room %q: %w", id, ErrRoomNotFound)
	}
	return rec, nil
}

// Rooms implements Store.
func (m *MemoryStore) Rooms(_ context.Context) ([]RoomRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]RoomRecord, 0, len(m.rooms))
	for _, r := range m.rooms {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}
