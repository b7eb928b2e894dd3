package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// forwardedHeader marks a request another node already routed: it is served
// where it lands, never forwarded again.
const forwardedHeader = "X-Streamline-Forwarded-By"

// liveNode returns the registry entry of a live node.
func (s *Server) liveNode(ctx context.Context, id string) (NodeInfo, bool) {
	rs, ok := s.cfg.Store.(*RedisStore)
	if !ok {
		return NodeInfo{}, false
	}
	n, err := rs.node(ctx, id)
	return n, err == nil && n.API != ""
}

// forward proxies r (whose body, if already read, is body) to another node.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, n NodeInfo, body []byte) {
	target, err := url.Parse(n.API)
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Errorf("node %s: api address %q: %w", n.ID, n.API, err))
		return
	}
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	r.Header.Set(forwardedHeader, s.cfg.NodeID)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		writeError(w, http.StatusBadGateway, fmt.Errorf("node %s (%s) did not answer: %w", n.ID, n.API, err))
	}
	proxy.ServeHTTP(w, r)
}

// placement picks the live, non-draining node with the most CPU headroom
// (capacity minus load, cost.go), this node included. It fails with
// ErrNoCapacity when no node has room; with every node draining it returns
// this node, which then refuses the room as draining.
func (s *Server) placement(ctx context.Context) (NodeInfo, error) {
	self := s.self()
	me := self
	me.API = "self" // a candidate even without a published address
	candidates := []NodeInfo{me}
	if rs, ok := s.cfg.Store.(*RedisStore); ok {
		if nodes, err := rs.Nodes(ctx); err == nil {
			for _, n := range nodes {
				if n.ID != self.ID && time.Since(n.SeenAt) <= nodeTTL {
					candidates = append(candidates, n)
				}
			}
		}
	}
	best, ok, err := pickNode(candidates, s.costs.NewRoom)
	if err != nil {
		return NodeInfo{}, err
	}
	if !ok || best.ID == self.ID {
		return self, nil
	}
	return best, nil
}

// placeRoom forwards a room creation to the node with the most headroom, or
// refuses it (503) when no node has room. It reports whether it answered
// the request.
func (s *Server) placeRoom(w http.ResponseWriter, r *http.Request, req createRoomRequest) bool {
	if r.Header.Get(forwardedHeader) != "" {
		return false // the forwarding node chose this one
	}
	n, err := s.placement(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return true
	}
	if n.ID == s.cfg.NodeID {
		return false
	}
	body, _ := json.Marshal(req)
	s.forward(w, r, n, body)
	return true
}

// remoteLayout applies a layout on the node that owns the room.
func (s *Server) remoteLayout(ctx context.Context, roomID string, raw json.RawMessage) (LayoutJSON, error) {
	rec, err := s.cfg.Store.Room(ctx, roomID)
	if err != nil {
		return LayoutJSON{}, err
	}
	n, ok := s.liveNode(ctx, rec.Node)
	if !ok {
		return LayoutJSON{}, fmt.Errorf("room %q is on node %s, which is not reachable", roomID, rec.Node)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, n.API+"/v1/rooms/"+url.PathEscape(roomID)+"/layout", bytes.NewReader(raw))
	if err != nil {
		return LayoutJSON{}, err
	}
	req.Header.Set(forwardedHeader, s.cfg.NodeID)
	if len(s.auth.keys) > 0 {
		req.Header.Set("Authorization", "Bearer "+string(s.auth.keys[0]))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return LayoutJSON{}, fmt.Errorf("node %s: %w", n.ID, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(data, &e)
		return LayoutJSON{}, fmt.Errorf("node %s: %s", n.ID, e.Error)
	}
	var out LayoutJSON
	return out, json.Unmarshal(data, &out)
}
