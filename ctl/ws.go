package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamline-media/streamline/ingest"
	"github.com/streamline-media/streamline/layouts"
)

// WebSocket limits.
const (
	wsMaxMessage   = 64 << 10 // bytes of one client message
	wsSendBuffer   = 256      // events queued per client before it counts as slow
	wsPingInterval = 20 * time.Second
	wsPongWait     = 45 * time.Second
	wsWriteWait    = 10 * time.Second
)

// Event is what the server pushes to WebSocket subscribers.
type Event struct {
	Type string    `json:"type"`
	Room string    `json:"room,omitempty"`
	Time time.Time `json:"time"`
	Data any       `json:"data,omitempty"`
}

// clientMessage is anything a client sends; Type selects the fields used.
type clientMessage struct {
	Type        string          `json:"type"`
	ID          string          `json:"id,omitempty"`
	Room        string          `json:"room,omitempty"`
	Track       string          `json:"track,omitempty"`
	Layout      json.RawMessage `json:"layout,omitempty"`
	Muted       *bool           `json:"muted,omitempty"`
	SSRC        *uint32         `json:"ssrc,omitempty"`
	Codec       *string         `json:"codec,omitempty"`
	PayloadType *int            `json:"payload_type,omitempty"`
	RTXSSRC     *uint32         `json:"rtx_ssrc,omitempty"`
	RTXPT       *int            `json:"rtx_payload_type,omitempty"`
}

// hub fans events out to WebSocket clients. A client whose queue is full is
// dropped: a slow consumer never blocks the media path or other clients.
type hub struct {
	mu       sync.Mutex
	clients  map[*wsClient]struct{}
	webhooks *webhooks // recording events also go there (nil = none)
	// cluster, if set, carries this node's events to the other nodes.
	cluster func(Event)
	// local, if set, sees every event of this node (not those relayed
	// from others); it must not block.
	local func(Event)
}

type wsClient struct {
	conn *websocket.Conn
	send chan []byte
	once sync.Once
	done chan struct{}

	mu    sync.Mutex
	rooms map[string]bool // "*" = every room
	grant grant
}

func newHub() *hub { return &hub{clients: map[*wsClient]struct{}{}} }

func (h *hub) add(c *wsClient) {
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
}

func (h *hub) remove(c *wsClient) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.close()
}

func (c *wsClient) close() { c.once.Do(func() { close(c.done) }) }

func (c *wsClient) wants(room string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rooms["*"] || (room != "" && c.rooms[room])
}

// publish queues ev for every subscriber of its room (events without a room
// go to everyone subscribed to anything).
func (h *hub) publish(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	h.webhooks.notify(ev)
	if h.local != nil {
		h.local(ev)
	}
	if h.cluster != nil {
		h.cluster(ev)
	}
	h.deliver(ev)
}

// deliver hands ev to this node's subscribers.
func (h *hub) deliver(ev Event) {
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	h.mu.Lock()
	var slow []*wsClient
	for c := range h.clients {
		if ev.Room != "" && !c.wants(ev.Room) {
			continue
		}
		if ev.Room == "" {
			c.mu.Lock()
			any := len(c.rooms) > 0
			c.mu.Unlock()
			if !any {
				continue
			}
		}
		select {
		case c.send <- data:
		default:
			slow = append(slow, c)
		}
	}
	for _, c := range slow {
		delete(h.clients, c)
	}
	h.mu.Unlock()
	for _, c := range slow {
		c.close()
	}
}

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096,
	// The API is for SFU integrations and the dashboard; origins are not a
	// security boundary here (authentication is).
	CheckOrigin: func(*http.Request) bool { return true }}

// serveWS is GET /v1/ws.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered already
	}
	c := &wsClient{conn: conn, send: make(chan []byte, wsSendBuffer), done: make(chan struct{}), rooms: map[string]bool{}, grant: grantOf(r)}
	s.hub.add(c)
	go s.wsWriter(c)
	s.wsReader(c)
	s.hub.remove(c)
}

func (s *Server) wsWriter(c *wsClient) {
	ping := time.NewTicker(wsPingInterval)
	defer func() {
		ping.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case <-c.done:
			_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "closing"), time.Now().Add(time.Second))
			return
		case msg := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				c.close()
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteWait)); err != nil {
				c.close()
				return
			}
		}
	}
}

func (s *Server) wsReader(c *wsClient) {
	c.conn.SetReadLimit(wsMaxMessage)
	_ = c.conn.SetReadDeadline(time.Now().Add(wsPongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(wsPongWait)) })
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(wsPongWait))
		reply := s.handleClientMessage(c, data)
		out, _ := json.Marshal(reply)
		select {
		case c.send <- out:
		case <-c.done:
			return
		default:
			c.close() // cannot even take its own replies
			return
		}
	}
}

// handleClientMessage executes one client message and returns the ack or
// error to send back.
func (s *Server) handleClientMessage(c *wsClient, data []byte) map[string]any {
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return map[string]any{"type": "error", "error": fmt.Sprintf("invalid message: %v", err)}
	}
	fail := func(err error) map[string]any {
		return map[string]any{"type": "error", "id": m.ID, "error": err.Error()}
	}
	ack := map[string]any{"type": "ack", "id": m.ID}
	write := m.Type == "layout" || m.Type == "track" || m.Type == "keyframe"
	if m.Type != "unsubscribe" && m.Type != "" && !c.grant.allows(m.Room, write) {
		return fail(fmt.Errorf("%w: this token may not %s room %q", ErrForbidden, map[bool]string{true: "control", false: "read"}[write], m.Room))
	}
	switch m.Type {
	case "subscribe", "unsubscribe":
		if m.Room == "" {
			return fail(errors.New(`room: required ("*" for every room)`))
		}
		if _, err := s.cfg.Store.Room(context.Background(), m.Room); m.Type == "subscribe" && m.Room != "*" && s.room(m.Room) == nil && err != nil {
			return fail(fmt.Errorf("room %q: %w", m.Room, ErrRoomNotFound))
		}
		c.mu.Lock()
		if m.Type == "subscribe" {
			c.rooms[m.Room] = true
		} else {
			delete(c.rooms, m.Room)
		}
		c.mu.Unlock()
		return ack
	case "layout":
		spec, err := layouts.ParseSpec(m.Layout)
		if err != nil {
			return fail(err)
		}
		if s.room(m.Room) == nil { // owned by another node: apply it there
			out, err := s.remoteLayout(context.Background(), m.Room, m.Layout)
			if err != nil {
				return fail(err)
			}
			ack["layout"] = out
			return ack
		}
		out, err := s.SetLayout(m.Room, spec)
		if err != nil {
			return fail(err)
		}
		ack["layout"] = out
		return ack
	case "track":
		room := s.room(m.Room)
		if room == nil {
			return fail(fmt.Errorf("room %q: %w", m.Room, ErrRoomNotFound))
		}
		u := ingest.TrackUpdate{Muted: m.Muted, SSRC: m.SSRC, Codec: m.Codec, RTXSSRC: m.RTXSSRC}
		if err := setPayloadTypes(&u, m.PayloadType, m.RTXPT); err != nil {
			return fail(err)
		}
		info, err := room.UpdateTrack(m.Track, u)
		if err != nil {
			return fail(err)
		}
		ack["track"] = info
		return ack
	case "keyframe":
		room := s.room(m.Room)
		if room == nil {
			return fail(fmt.Errorf("room %q: %w", m.Room, ErrRoomNotFound))
		}
		if err := room.RequestKeyframe(m.Track); err != nil {
			return fail(err)
		}
		s.hub.publish(Event{Type: "keyframe_requested", Room: m.Room, Data: map[string]string{"track": m.Track}})
		return ack
	case "":
		return fail(errors.New("type: required"))
	}
	return fail(fmt.Errorf("type %q: want subscribe, unsubscribe, layout, track or keyframe", m.Type))
}
