package ctl

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func newAuthServer(t *testing.T) *httptest.Server {
	t.Helper()
	s, err := NewServer(Config{
		RTPListen: netip.MustParseAddr("127.0.0.1"), Ports: freeUDPRange(t, 3), DataDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), APIKeys: []string{"key-one", " key-two "}, JWTSecret: []byte("s3cret"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); _ = s.Close(context.Background()) })
	return ts
}

func call(t *testing.T, ts *httptest.Server, method, path, cred, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

func mustToken(t *testing.T, secret string, c Claims) string {
	t.Helper()
	tok, err := SignToken([]byte(secret), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthKeysTokensAndGrants(t *testing.T) {
	ts := newAuthServer(t)
	viewer := mustToken(t, "s3cret", Claims{Role: RoleViewer, Rooms: []string{"r1"}, ExpiresAt: time.Now().Add(time.Hour).Unix()})
	roomAdmin := mustToken(t, "s3cret", Claims{Role: RoleAdmin, Rooms: []string{"r1"}})
	expired := mustToken(t, "s3cret", Claims{Role: RoleAdmin, Rooms: []string{"*"}, ExpiresAt: time.Now().Add(-time.Minute).Unix()})
	forged := mustToken(t, "other-secret", Claims{Role: RoleAdmin, Rooms: []string{"*"}})
	cases := []struct {
		name, method, path, cred, body string
		status                         int
		errContains                    string
	}{
		{"health is public", "GET", "/healthz", "", "", 200, ""},
		{"dashboard paths need no credentials (none is mounted here: 404, not 401)", "GET", "/", "", "", 404, ""},
		{"no credentials", "GET", "/v1/rooms", "", "", 401, "authentication required"},
		{"wrong key", "GET", "/v1/rooms", "key-three", "", 401, "invalid token"},
		{"forged token", "GET", "/v1/rooms", forged, "", 401, "bad signature"},
		{"expired token", "GET", "/v1/rooms", expired, "", 401, "expired"},
		{"api key creates a room", "POST", "/v1/rooms", "key-one", `{"id":"r1"}`, 201, ""},
		{"second key, trimmed, works", "POST", "/v1/rooms", "key-two", `{"id":"r2"}`, 201, ""},
		{"viewer reads its room", "GET", "/v1/rooms/r1", viewer, "", 200, ""},
		{"viewer reads its layout", "GET", "/v1/rooms/r1/layout", viewer, "", 200, ""},
		{"viewer cannot add tracks", "POST", "/v1/rooms/r1/tracks", viewer, `{"participant":"a","kind":"audio","codec":"opus","ssrc":1,"payload_type":111}`, 403, "may not control room"},
		{"viewer cannot stop recordings", "DELETE", "/v1/rooms/r1/recordings/x", viewer, "", 403, "may not control"},
		{"viewer cannot read another room", "GET", "/v1/rooms/r2", viewer, "", 403, "may not read room"},
		{"viewer cannot list every room", "GET", "/v1/rooms", viewer, "", 403, "every room"},
		{"viewer cannot see metrics", "GET", "/metrics", viewer, "", 403, "admin"},
		{"room admin controls its room", "POST", "/v1/rooms/r1/tracks", roomAdmin, `{"participant":"a","kind":"audio","codec":"opus","ssrc":1,"payload_type":111}`, 201, ""},
		{"room admin cannot create rooms", "POST", "/v1/rooms", roomAdmin, `{"id":"r3"}`, 403, "every room"},
		{"room admin cannot delete other rooms", "DELETE", "/v1/rooms/r2", roomAdmin, "", 403, "r2"},
		{"api key sees metrics", "GET", "/metrics", "key-one", "", 200, ""},
	}
	for _, c := range cases {
		status, body := call(t, ts, c.method, c.path, c.cred, c.body)
		if status != c.status {
			t.Errorf("%s: %s %s → %d, want %d (%s)", c.name, c.method, c.path, status, c.status, body)
			continue
		}
		if c.errContains != "" && !strings.Contains(body, c.errContains) {
			t.Errorf("%s: body %q does not mention %q", c.name, body, c.errContains)
		}
	}

	// WebSocket: the token rides in the query; a viewer watches but cannot steer.
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1/ws"
	if _, res, err := websocket.DefaultDialer.Dial(url, nil); err == nil || res == nil || res.StatusCode != 401 {
		t.Fatalf("websocket without credentials: %v %v", err, res)
	}
	conn, _, err := websocket.DefaultDialer.Dial(url+"?access_token="+viewer, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, msg := range []map[string]any{
		{"type": "subscribe", "room": "r1", "id": "ok"},
		{"type": "subscribe", "room": "r2", "id": "other"},
		{"type": "layout", "room": "r1", "id": "steer", "layout": map[string]any{"template": "grid"}},
	} {
		if err := conn.WriteJSON(msg); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"ok": "ack", "other": "error", "steer": "error"}
	for len(want) > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m map[string]any
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("websocket replies: %v (still waiting for %v)", err, want)
		}
		id, _ := m["id"].(string)
		if typ, ok := want[id]; ok {
			if m["type"] != typ {
				t.Errorf("websocket %s: got %v, want %s", id, m, typ)
			}
			delete(want, id)
		}
	}
}

func TestVerifyRejectsOtherAlgorithms(t *testing.T) {
	// {"alg":"none"} with a valid-looking payload must not pass.
	tok := b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + b64.EncodeToString([]byte(`{"role":"admin","rooms":["*"]}`)) + "."
	if _, err := verifyHS256(tok, []byte("s3cret"), time.Now()); err == nil {
		t.Fatal("alg none accepted")
	}
}
