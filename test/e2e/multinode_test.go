package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/streamline-media/streamline/internal/testredis"
)

// dropPrefix deletes a test's keys from a Redis that may be shared.
func dropPrefix(t *testing.T, url, prefix string) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	if keys, err := rdb.Keys(ctx, prefix+":*").Result(); err == nil && len(keys) > 0 {
		rdb.Del(ctx, keys...)
	}
}

type nodesResp struct {
	Nodes []struct {
		ID       string `json:"id"`
		Rooms    int    `json:"rooms"`
		Draining bool   `json:"draining"`
	} `json:"nodes"`
}

// TestThreeNodesShareRedis: three streamline processes on one Redis place
// rooms on different nodes, serve each other's rooms (a layout sent to one
// node applies on the owner's compositor), and notice a killed node.
func TestThreeNodesShareRedis(t *testing.T) {
	url := testredis.URL(t)
	prefix := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	// Stopped nodes keep their rooms in Redis for a restart: once they are
	// all stopped (cleanups run last-registered first), remove the prefix.
	t.Cleanup(func() { dropPrefix(t, url, prefix) })
	var nodes []*server
	for _, id := range []string{"na", "nb", "nc"} {
		nodes = append(nodes, startServer(t, "--redis", url, "--redis-prefix", prefix, "--node-id", id))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	waitFor(t, 8*time.Second, "three nodes registered", func() bool {
		var n nodesResp
		a.must(200, "GET", "/v1/nodes", nil, &n)
		return len(n.Nodes) == 3
	})
	// Rooms created through node A spread over the nodes by load (each node
	// republishes its load every second).
	owners := map[string]string{}
	for i := 0; i < 3; i++ {
		var r struct {
			ID   string             `json:"id"`
			Node string             `json:"node"`
			RTP  struct{ Port int } `json:"rtp"`
		}
		a.must(201, "POST", "/v1/rooms", map[string]any{"id": fmt.Sprint("mr", i)}, &r)
		if r.RTP.Port == 0 {
			t.Fatalf("room %s has no RTP port: %+v", r.ID, r)
		}
		owners[r.ID] = r.Node
		time.Sleep(1200 * time.Millisecond)
	}
	used := map[string]bool{}
	for _, n := range owners {
		used[n] = true
	}
	if len(used) != 3 {
		t.Fatalf("placement used %d nodes for 3 rooms: %v", len(used), owners)
	}
	// A layout change through node B for a room owned by another node.
	var target string
	for id, n := range owners {
		if n != "nb" {
			target = id
			break
		}
	}
	b.must(200, "PUT", "/v1/rooms/"+target+"/layout", map[string]any{"template": "speaker", "gap": 4}, nil)
	owner := map[string]*server{"na": a, "nb": b, "nc": c}[owners[target]]
	var lay struct {
		Spec struct {
			Template string `json:"template"`
			Gap      int    `json:"gap"`
		} `json:"spec"`
	}
	owner.must(200, "GET", "/v1/rooms/"+target+"/layout", nil, &lay)
	if lay.Spec.Template != "speaker" || lay.Spec.Gap != 4 {
		t.Fatalf("layout on the owner %s: %+v", owners[target], lay.Spec)
	}
	// Any node answers for any room.
	var room roomResp
	c.must(200, "GET", "/v1/rooms/"+target, nil, &room)
	if room.ID != target {
		t.Fatalf("room through node C: %+v", room)
	}
	// A subscriber on node B sees events of a room that node A serves.
	var onA string
	for id, n := range owners {
		if n == "na" {
			onA = id
		}
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b.base, "http")+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "subscribe", "room": onA, "id": "s"}); err != nil {
		t.Fatal(err)
	}
	a.addTrack(onA, map[string]any{"id": "t1", "participant": "p", "kind": "audio", "codec": "opus", "ssrc": 77, "payload_type": 111})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = ws.SetReadDeadline(deadline)
		var m map[string]any
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("no track_added for room %s on node B: %v", onA, err)
		}
		if m["type"] == "track_added" && m["room"] == onA {
			break
		}
	}
	// A killed node leaves the registry within a few seconds.
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	waitFor(t, 8*time.Second, "the killed node to disappear", func() bool {
		var n nodesResp
		a.must(200, "GET", "/v1/nodes", nil, &n)
		return len(n.Nodes) == 2
	})
	// Its rooms are reported failed.
	waitFor(t, 5*time.Second, "the dead node's room to be marked failed", func() bool {
		var list struct {
			Rooms []struct {
				ID, Node, State string
			} `json:"rooms"`
		}
		a.must(200, "GET", "/v1/rooms", nil, &list)
		for _, r := range list.Rooms {
			if r.Node == "nc" && r.State != "failed" {
				return false
			}
		}
		return true
	})
}

// TestRedisRestartIsSurvived: Redis goes away mid-recording and comes back
// empty; the node keeps recording, reconnects, re-registers itself and its
// room, and the recording finishes whole.
func TestRedisRestartIsSurvived(t *testing.T) {
	port := testredis.FreePort(t)
	startRedis := func() *exec.Cmd { return testredis.Start(t, port) }
	redisCmd := startRedis()
	defer func() { _ = redisCmd.Process.Kill(); _ = redisCmd.Wait() }()
	srv := startServer(t, "--redis", fmt.Sprintf("redis://127.0.0.1:%d/0", port), "--node-id", "solo")
	room := srv.createRoom("rr")
	srv.addTrack(room.ID, map[string]any{"id": "cam", "participant": "p", "kind": "video", "codec": "vp8", "ssrc": 9, "payload_type": 96})
	rec := srv.startRecording(room.ID, nil)
	sd := vp8Sender(t, room.RTP.Port, 9, 30*8, "ball")
	time.Sleep(2 * time.Second)
	_ = redisCmd.Process.Kill()
	_ = redisCmd.Wait()
	time.Sleep(1500 * time.Millisecond) // the node runs without its store
	redisCmd = startRedis()             // back, and empty
	waitFor(t, 8*time.Second, "the node to re-register", func() bool {
		var n nodesResp
		return srv.call("GET", "/v1/nodes", nil, &n) == 200 && len(n.Nodes) == 1
	})
	waitFor(t, 8*time.Second, "the room to be served again", func() bool {
		return srv.call("GET", "/v1/rooms/rr", nil, nil) == 200
	})
	waitDone(t, sd, 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	final := srv.stopRecording(room.ID, rec.ID)
	if len(final.Files) != 1 || final.Files[0].State != "final" {
		t.Fatalf("recording after the Redis restart: %+v", final)
	}
	if d := duration(ffprobe(t, filepath.Join(srv.dataDir, final.Files[0].Path))); !within(d, 8, 0.6) {
		t.Errorf("file %.2f s, want the whole 8 s across the Redis outage", d)
	}
}
