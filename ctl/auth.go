package ctl

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Roles a token can grant.
const (
	RoleAdmin  = "admin"  // everything on the granted rooms
	RoleViewer = "viewer" // read-only: GET requests, WebSocket subscriptions, previews, downloads
)

// Auth errors (401 for the first three, 403 for the last).
var (
	ErrNoCredentials = errors.New("authentication required: send Authorization: Bearer <api key or token> (or ?access_token= for WebSockets)")
	ErrBadToken      = errors.New("invalid token")
	ErrTokenExpired  = errors.New("token expired")
	ErrForbidden     = errors.New("forbidden")
)

// Claims are what an HS256 JWT may grant: a role on some rooms ("*" = all).
type Claims struct {
	Subject   string   `json:"sub,omitempty"`
	Role      string   `json:"role"`
	Rooms     []string `json:"rooms"`
	ExpiresAt int64    `json:"exp,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
}

// grant is an authenticated caller.
type grant struct {
	admin bool // role admin
	rooms map[string]bool
}

func (g grant) allows(room string, write bool) bool {
	if write && !g.admin {
		return false
	}
	return g.rooms["*"] || (room != "" && g.rooms[room])
}

// authenticator checks API keys (constant time) and HS256 tokens.
type authenticator struct {
	keys   [][]byte
	secret []byte
	now    func() time.Time
}

func (a *authenticator) enabled() bool { return a != nil && (len(a.keys) > 0 || len(a.secret) > 0) }

func (a *authenticator) authenticate(cred string) (grant, error) {
	if cred == "" {
		return grant{}, ErrNoCredentials
	}
	for _, k := range a.keys {
		if subtle.ConstantTimeCompare([]byte(cred), k) == 1 {
			return grant{admin: true, rooms: map[string]bool{"*": true}}, nil
		}
	}
	if len(a.secret) == 0 || strings.Count(cred, ".") != 2 {
		return grant{}, ErrBadToken
	}
	c, err := verifyHS256(cred, a.secret, a.now())
	if err != nil {
		return grant{}, err
	}
	g := grant{admin: c.Role == RoleAdmin, rooms: map[string]bool{}}
	for _, r := range c.Rooms {
		g.rooms[r] = true
	}
	return g, nil
}

var b64 = base64.RawURLEncoding

// SignToken makes an HS256 JWT carrying c (for operators and tests).
func SignToken(secret []byte, c Claims) (string, error) {
	if c.Role != RoleAdmin && c.Role != RoleViewer {
		return "", fmt.Errorf("role %q: want admin or viewer", c.Role)
	}
	header := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	unsigned := header + "." + b64.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + b64.EncodeToString(mac.Sum(nil)), nil
}

func verifyHS256(tok string, secret []byte, now time.Time) (Claims, error) {
	parts := strings.Split(tok, ".")
	head, err := b64.DecodeString(parts[0])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: header", ErrBadToken)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(head, &h) != nil || h.Alg != "HS256" {
		return Claims{}, fmt.Errorf("%w: only HS256 is accepted", ErrBadToken)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: signature", ErrBadToken)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrBadToken)
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload", ErrBadToken)
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrBadToken, err)
	}
	if c.Role != RoleAdmin && c.Role != RoleViewer {
		return Claims{}, fmt.Errorf("%w: role %q", ErrBadToken, c.Role)
	}
	if c.ExpiresAt != 0 && now.Unix() >= c.ExpiresAt {
		return Claims{}, ErrTokenExpired
	}
	if c.NotBefore != 0 && now.Unix() < c.NotBefore {
		return Claims{}, fmt.Errorf("%w: not valid yet", ErrBadToken)
	}
	return c, nil
}

// credential reads the bearer credential of a request.
func credential(r *http.Request) string {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	return r.URL.Query().Get("access_token") // browsers cannot set headers on WebSockets
}

// roomOfPath is the room a request is about ("" for node-wide endpoints).
func roomOfPath(p string) string {
	for _, prefix := range []string{"/v1/rooms/", "/recordings/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			room, _, _ := strings.Cut(rest, "/")
			return room
		}
	}
	return ""
}

// public paths need no credentials: health checks and the dashboard's own
// files (its data comes from the API, which does).
func public(p string) bool {
	if p == "/healthz" {
		return true
	}
	return !strings.HasPrefix(p, "/v1/") && !strings.HasPrefix(p, "/recordings/") &&
		!strings.HasPrefix(p, "/metrics") && !strings.HasPrefix(p, "/debug/")
}

type grantKey struct{}

// requireAuth wraps h: 401 without valid credentials, 403 without a grant
// for the request's room and kind (GET/HEAD read, anything else writes).
// The WebSocket checks each message against the grant itself.
func (s *Server) requireAuth(h http.Handler) http.Handler {
	if !s.auth.enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if public(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		g, err := s.auth.authenticate(credential(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="streamline"`)
			writeError(w, http.StatusUnauthorized, err)
			return
		}
		room := roomOfPath(r.URL.Path)
		write := r.Method != http.MethodGet && r.Method != http.MethodHead
		nodeWide := strings.HasPrefix(r.URL.Path, "/metrics") || strings.HasPrefix(r.URL.Path, "/debug/")
		switch {
		case r.URL.Path == "/v1/ws":
			// per message, below
		case nodeWide && !(g.admin && g.rooms["*"]):
			writeError(w, http.StatusForbidden, fmt.Errorf("%w: %s needs an admin grant on every room", ErrForbidden, r.URL.Path))
			return
		case room == "" && !g.allows("*", write):
			writeError(w, http.StatusForbidden, fmt.Errorf("%w: %s %s needs a grant on every room", ErrForbidden, r.Method, r.URL.Path))
			return
		case room != "" && !g.allows(room, write):
			what := "read"
			if write {
				what = "control"
			}
			writeError(w, http.StatusForbidden, fmt.Errorf("%w: this token may not %s room %q", ErrForbidden, what, room))
			return
		}
		h.ServeHTTP(w, r.WithContext(contextWithGrant(r, g)))
	})
}

func contextWithGrant(r *http.Request, g grant) context.Context {
	return context.WithValue(r.Context(), grantKey{}, g)
}

// grantOf is the caller's grant; without authentication everything is allowed.
func grantOf(r *http.Request) grant {
	if g, ok := r.Context().Value(grantKey{}).(grant); ok {
		return g
	}
	return grant{admin: true, rooms: map[string]bool{"*": true}}
}
