package mocksfu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// APIError is a non-2xx answer of the Streamline REST API.
type APIError struct {
	Method  string
	Path    string
	Status  int
	Message string // the "error" field of the JSON body, or the raw body
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// roomInfo is the part of the room resource the mock SFU needs.
type roomInfo struct {
	ID  string `json:"id"`
	RTP struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	} `json:"rtp"`
}

// trackRequest is the body of POST /v1/rooms/{room}/tracks.
type trackRequest struct {
	ID          string `json:"id"`
	Participant string `json:"participant"`
	Kind        string `json:"kind"`
	Codec       string `json:"codec"`
	SSRC        uint32 `json:"ssrc"`
	PayloadType uint8  `json:"payload_type"`
	ClockRate   uint32 `json:"clock_rate"`
	Source      string `json:"source"`
	Name        string `json:"name"`
	RTXSSRC     uint32 `json:"rtx_ssrc,omitempty"`
	RTXPT       uint8  `json:"rtx_payload_type,omitempty"`
}

type apiClient struct {
	base string
	hc   *http.Client
}

func roomPath(room string, rest ...string) string {
	p := "/v1/rooms/" + url.PathEscape(room)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// do sends body (if not nil) as JSON and decodes a 2xx answer into out (if
// not nil). Any status outside ok is returned as *APIError.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any, ok ...int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading response: %w", method, path, err)
	}
	if !slices.Contains(ok, resp.StatusCode) {
		msg := strings.TrimSpace(string(data))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: msg}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decoding response: %w", method, path, err)
		}
	}
	return nil
}

// ensureRoom creates the room, or fetches it if it already exists (409).
func (c *apiClient) ensureRoom(ctx context.Context, room string) (*roomInfo, error) {
	var ri roomInfo
	err := c.do(ctx, http.MethodPost, "/v1/rooms", map[string]string{"id": room}, &ri, http.StatusCreated, http.StatusOK)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		ri = roomInfo{}
		if err := c.do(ctx, http.MethodGet, roomPath(room), nil, &ri, http.StatusOK); err != nil {
			return nil, fmt.Errorf("get existing room %q: %w", room, err)
		}
		return &ri, nil
	}
	if err != nil {
		return nil, fmt.Errorf("create room %q: %w", room, err)
	}
	return &ri, nil
}

func (c *apiClient) createTrack(ctx context.Context, room string, t trackRequest) error {
	if err := c.do(ctx, http.MethodPost, roomPath(room, "tracks"), t, nil, http.StatusCreated, http.StatusOK); err != nil {
		return fmt.Errorf("create track %q (ssrc %d): %w", t.ID, t.SSRC, err)
	}
	return nil
}

func (c *apiClient) deleteTrack(ctx context.Context, room, id string) error {
	if err := c.do(ctx, http.MethodDelete, roomPath(room, "tracks", id), nil, nil, http.StatusOK, http.StatusNoContent); err != nil {
		return fmt.Errorf("delete track %q: %w", id, err)
	}
	return nil
}

func (c *apiClient) setMuted(ctx context.Context, room, id string, muted bool) error {
	if err := c.do(ctx, http.MethodPatch, roomPath(room, "tracks", id), map[string]bool{"muted": muted}, nil, http.StatusOK, http.StatusNoContent); err != nil {
		return fmt.Errorf("set track %q muted=%v: %w", id, muted, err)
	}
	return nil
}

func (c *apiClient) startRecording(ctx context.Context, room string) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, roomPath(room, "recordings"), map[string]string{"kind": "tracks"}, &out, http.StatusCreated, http.StatusOK); err != nil {
		return "", fmt.Errorf("start recording: %w", err)
	}
	if out.ID == "" {
		return "", errors.New("start recording: response has no id")
	}
	return out.ID, nil
}

func (c *apiClient) stopRecording(ctx context.Context, room, id string) error {
	if err := c.do(ctx, http.MethodDelete, roomPath(room, "recordings", id), nil, nil, http.StatusOK, http.StatusNoContent, http.StatusAccepted); err != nil {
		return fmt.Errorf("stop recording %q: %w", id, err)
	}
	return nil
}
