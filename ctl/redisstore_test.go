package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamline-media/streamline/internal/testredis"
)

func newRedisStore(t *testing.T) *RedisStore {
	t.Helper()
	prefix := fmt.Sprintf("sltest-%d", time.Now().UnixNano())
	rs, err := NewRedisStore(context.Background(), testredis.URL(t), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rs.rdb.Keys(ctx, prefix+":*").Result()
		if len(keys) > 0 {
			rs.rdb.Del(ctx, keys...)
		}
		rs.Close()
	})
	return rs
}

func TestRedisStoreRoomsAreAtomic(t *testing.T) {
	rs := newRedisStore(t)
	ctx := context.Background()
	// Many nodes race to create the same room: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan string, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rs.CreateRoom(ctx, RoomRecord{ID: "race", Node: fmt.Sprint("n", i), CreatedAt: time.Now()}); err == nil {
				wins <- fmt.Sprint("n", i)
			} else if !errors.Is(err, ErrRoomExists) {
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	close(wins)
	if len(wins) != 1 {
		t.Fatalf("%d nodes took the room", len(wins))
	}
	winner := <-wins
	rec, err := rs.Room(ctx, "race")
	if err != nil || rec.Node != winner {
		t.Fatalf("room: %+v %v (winner %s)", rec, err, winner)
	}
	if _, err := rs.Room(ctx, "nope"); !errors.Is(err, ErrRoomNotFound) {
		t.Fatalf("missing room: %v", err)
	}
	if err := rs.DeleteRoom(ctx, "race"); err != nil {
		t.Fatal(err)
	}
	if err := rs.DeleteRoom(ctx, "race"); !errors.Is(err, ErrRoomNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestNodeRegistryHeartbeatDrainAndExpiry(t *testing.T) {
	rs := newRedisStore(t)
	old := nodeTTL
	nodeTTL = time.Second
	defer func() { nodeTTL = old }()
	s, err := NewServer(Config{RTPListen: netip.MustParseAddr("127.0.0.1"), Ports: freeUDPRange(t, 2), DataDir: t.TempDir(),
		NodeID: "node-a", APIAddr: "http://127.0.0.1:1", Store: rs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	// A second, silent node registers once and then dies.
	if err := rs.Heartbeat(context.Background(), NodeInfo{ID: "node-dead", Capacity: 2}, time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(4 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var body map[string]any
	waitFor("both nodes registered", func() bool {
		_, body, _ = do(t, ts, "GET", "/v1/nodes", "")
		return len(body["nodes"].([]any)) == 2
	})
	do(t, ts, "POST", "/v1/rooms", `{"id":"one"}`)
	status, drained, _ := do(t, ts, "POST", "/v1/nodes/node-a/drain", "")
	if status != 200 || drained["draining"] != true {
		t.Fatalf("drain: %d %v", status, drained)
	}
	if status, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"two"}`); status != 503 || !strings.Contains(body["error"].(string), "draining") {
		t.Fatalf("a draining node took a room: %d %v", status, body)
	}
	if status, _, _ := do(t, ts, "POST", "/v1/nodes/nobody/drain", ""); status != 404 {
		t.Fatalf("drain unknown node: %d", status)
	}
	// The dead node expires; node-a keeps beating and stays draining.
	deadline := time.Now().Add(4 * time.Second)
	for {
		_, body, _ = do(t, ts, "GET", "/v1/nodes", "")
		nodes := body["nodes"].([]any)
		if len(nodes) == 1 {
			n := nodes[0].(map[string]any)
			if n["id"] != "node-a" || n["draining"] != true || n["rooms"] != float64(1) {
				t.Fatalf("surviving node: %v", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead node still listed: %v", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rec, err := rs.Room(context.Background(), "one"); err != nil || rec.Node != "node-a" {
		t.Fatalf("room in redis: %+v %v", rec, err)
	}
	_ = s.Close(context.Background())
	// A shutdown keeps the node's rooms in the shared store for its restart.
	if rec, err := rs.Room(context.Background(), "one"); err != nil || rec.Node != "node-a" {
		t.Fatalf("room after the node's shutdown: %+v %v", rec, err)
	}
}
