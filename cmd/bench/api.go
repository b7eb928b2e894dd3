package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// api is a minimal client of the server's REST API (see ctl/server.go).
type api struct {
	base string
	hc   *http.Client
}

func newAPI(base string) *api {
	return &api{base: base, hc: &http.Client{Timeout: 120 * time.Second}}
}

func (a *api) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

type roomJSON struct {
	ID  string `json:"id"`
	RTP struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	} `json:"rtp"`
	Tracks   []trackJSON  `json:"tracks"`
	Counters roomCounters `json:"counters"`
}

type roomCounters struct {
	Datagrams        uint64 `json:"datagrams"`
	RTP              uint64 `json:"rtp"`
	RTCP             uint64 `json:"rtcp"`
	Malformed        uint64 `json:"malformed"`
	Oversized        uint64 `json:"oversized"`
	UnknownSSRC      uint64 `json:"unknown_ssrc"`
	WrongPayloadType uint64 `json:"wrong_payload_type"`
	ForeignSource    uint64 `json:"foreign_source"`
}

type trackJSON struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	SSRC  uint32 `json:"ssrc"`
	Stats *struct {
		Packets     uint64 `json:"packets"`
		Lost        int64  `json:"lost"`
		PushDropped uint64 `json:"push_dropped"`
	} `json:"stats"`
}

type trackRequest struct {
	ID          string `json:"id"`
	Participant string `json:"participant"`
	Kind        string `json:"kind"`
	Codec       string `json:"codec"`
	SSRC        uint32 `json:"ssrc"`
	PayloadType int    `json:"payload_type"`
}

type recordingJSON struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Files []struct {
		Path       string `json:"path"`
		Track      string `json:"track"`
		Kind       string `json:"kind"`
		SSRC       uint32 `json:"ssrc"`
		State      string `json:"state"`
		DurationMS int64  `json:"duration_ms"`
		Error      string `json:"error"`
	} `json:"files"`
}

func (a *api) healthy(ctx context.Context) error {
	return a.do(ctx, http.MethodGet, "/healthz", nil, nil)
}
