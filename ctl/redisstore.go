package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps room records and the node registry in Redis, shared by
// every node of a deployment.
type RedisStore struct {
	rdb    *redis.Client
	prefix string
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore connects to url (redis://host:port/db) and checks it answers.
func NewRedisStore(ctx context.Context, url, prefix string) (*RedisStore, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url %q: %w", url, err)
	}
	if prefix == "" {
		prefix = "streamline"
	}
	s := &RedisStore{rdb: redis.NewClient(opt), prefix: prefix}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", opt.Addr, err)
	}
	return s, nil
}

// Close closes the connection pool.
func (s *RedisStore) Close() error { return s.rdb.Close() }

func (s *RedisStore) roomsKey() string { return s.prefix + ":rooms" }

// CreateRoom implements Store: HSETNX makes two nodes never take one id.
func (s *RedisStore) CreateRoom(ctx context.Context, rec RoomRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ok, err := s.rdb.HSetNX(ctx, s.roomsKey(), rec.ID, data).Result()
	if err != nil {
		return fmt.Errorf("store room %q: %w", rec.ID, err)
	}
	if !ok {
		return fmt.Errorf("room %q: %w", rec.ID, ErrRoomExists)
	}
	return nil
}

// DeleteRoom implements Store.
func (s *RedisStore) DeleteRoom(ctx context.Context, id string) error {
	n, err := s.rdb.HDel(ctx, s.roomsKey(), id).Result()
	if err != nil {
		return fmt.Errorf("delete room %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("room %q: %w", id, ErrRoomNotFound)
	}
	return nil
}

// saveIfExists replaces a hash field only if it is there, atomically.
var saveIfExists = redis.NewScript(`if redis.call("HEXISTS", KEYS[1], ARGV[1]) == 1 then
  redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0`)

// SaveRoom implements Store.
func (s *RedisStore) SaveRoom(ctx context.Context, rec RoomRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	n, err := saveIfExists.Run(ctx, s.rdb, []string{s.roomsKey()}, rec.ID, data).Int()
	if err != nil {
		return fmt.Errorf("save room %q: %w", rec.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("room %q: %w", rec.ID, ErrRoomNotFound)
	}
	return nil
}

// Room implements Store.
func (s *RedisStore) Room(ctx context.Context, id string) (RoomRecord, error) {
	data, err := s.rdb.HGet(ctx, s.roomsKey(), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return RoomRecord{}, fmt.Errorf("room %q: %w", id, ErrRoomNotFound)
	}
	if err != nil {
		return RoomRecord{}, fmt.Errorf("room %q: %w", id, err)
	}
	var rec RoomRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return RoomRecord{}, fmt.Errorf("room %q: stored record: %w", id, err)
	}
	return rec, nil
}

// Rooms implements Store.
func (s *RedisStore) Rooms(ctx context.Context) ([]RoomRecord, error) {
	all, err := s.rdb.HGetAll(ctx, s.roomsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	out := make([]RoomRecord, 0, len(all))
	for id, data := range all {
		var rec RoomRecord
		if err := json.Unmarshal([]byte(data), &rec); err != nil {
			return nil, fmt.Errorf("room %q: stored record: %w", id, err)
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// NodeInfo is a node's entry in the registry, refreshed by its heartbeat.
type NodeInfo struct {
	ID       string    `json:"id"`
	API      string    `json:"api"`
	RTPHost  string    `json:"rtp_host"`
	Capacity float64   `json:"capacity"` // CPU cores it may use
	Load     float64   `json:"load"`     // estimated cores in use
	Rooms    int       `json:"rooms"`
	Draining bool      `json:"draining"`
	DiskLow  bool      `json:"disk_low"` // below --min-free-mb: it records nothing new
	SeenAt   time.Time `json:"seen_at"`
}

func (s *RedisStore) nodeKey(id string) string { return s.prefix + ":node:" + id }

// Heartbeat writes the node's entry with a TTL: a node that stops beating
// disappears from Nodes after ttl. A drain flag set by anyone is kept.
func (s *RedisStore) Heartbeat(ctx context.Context, n NodeInfo, ttl time.Duration) error {
	if cur, err := s.node(ctx, n.ID); err == nil && cur.Draining {
		n.Draining = true
	}
	n.SeenAt = time.Now().UTC()
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return s.rdb.Set(ctx, s.nodeKey(n.ID), data, ttl).Err()
}

func (s *RedisStore) node(ctx context.Context, id string) (NodeInfo, error) {
	data, err := s.rdb.Get(ctx, s.nodeKey(id)).Bytes()
	if err != nil {
		return NodeInfo{}, err
	}
	var n NodeInfo
	return n, json.Unmarshal(data, &n)
}

// Nodes lists the live nodes.
func (s *RedisStore) Nodes(ctx context.Context) ([]NodeInfo, error) {
	var out []NodeInfo
	iter := s.rdb.Scan(ctx, 0, s.prefix+":node:*", 100).Iterator()
	for iter.Next(ctx) {
		data, err := s.rdb.Get(ctx, iter.Val()).Bytes()
		if errors.Is(err, redis.Nil) {
			continue // expired between SCAN and GET
		}
		if err != nil {
			return nil, err
		}
		var n NodeInfo
		if err := json.Unmarshal(data, &n); err == nil {
			out = append(out, n)
		}
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Drain marks a node so it takes no new rooms.
func (s *RedisStore) Drain(ctx context.Context, id string) (NodeInfo, error) {
	n, err := s.node(ctx, id)
	if errors.Is(err, redis.Nil) {
		return NodeInfo{}, fmt.Errorf("node %q: %w", id, ErrNodeNotFound)
	}
	if err != nil {
		return NodeInfo{}, err
	}
	n.Draining = true
	ttl, err := s.rdb.TTL(ctx, s.nodeKey(id)).Result()
	if err != nil || ttl <= 0 {
		ttl = 5 * time.Second
	}
	data, _ := json.Marshal(n)
	return n, s.rdb.Set(ctx, s.nodeKey(id), data, ttl).Err()
}

// ErrNodeNotFound: no live node has that id.
var ErrNodeNotFound = errors.New("node not found")

func (s *RedisStore) eventsChannel() string { return s.prefix + ":events" }

// relayedEvent is an event on the cluster channel, with the node it came from.
type relayedEvent struct {
	Origin string `json:"origin"`
	Event  Event  `json:"event"`
}

// PublishEvent sends ev to every node.
func (s *RedisStore) PublishEvent(ctx context.Context, origin string, ev Event) error {
	data, err := json.Marshal(relayedEvent{Origin: origin, Event: ev})
	if err != nil {
		return err
	}
	return s.rdb.Publish(ctx, s.eventsChannel(), data).Err()
}

// SubscribeEvents calls fn for every event other nodes publish until ctx ends.
func (s *RedisStore) SubscribeEvents(ctx context.Context, self string, fn func(Event)) {
	sub := s.rdb.Subscribe(ctx, s.eventsChannel())
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var re relayedEvent
			if json.Unmarshal([]byte(m.Payload), &re) == nil && re.Origin != self {
				fn(re.Event)
			}
		}
	}
}
