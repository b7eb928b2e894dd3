package ctl

import (
	"strings"
	"testing"
)

// TestLowDiskRefusesRecordings: below MinFreeDisk on the data directory's
// filesystem, new track and composite recordings are refused with 507 and
// the figures; /healthz reports the free space and says it is low. With
// the threshold under what is free, the same recording starts.
func TestLowDiskRefusesRecordings(t *testing.T) {
	free, err := diskFree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		min     int64
		refused bool
	}{
		{"above the free space", free + 1<<40, true},
		{"below the free space", 1 << 20, false},
	} {
		_, ts := newTestServerWith(t, 1, func(c *Config) { c.MinFreeDisk = tc.min })
		if code, body, _ := do(t, ts, "POST", "/v1/rooms", `{"id":"r"}`); code != 201 {
			t.Fatalf("room: %d %v", code, body)
		}
		_, health, _ := do(t, ts, "GET", "/healthz", "")
		if got, _ := health["disk_free_bytes"].(float64); got <= 0 || health["disk_low"] != tc.refused {
			t.Errorf("%s: /healthz %v, want disk_free_bytes > 0 and disk_low %v", tc.name, health, tc.refused)
		}
		for _, req := range []string{`{"id":"t","kind":"tracks"}`, `{"id":"c","kind":"composite"}`} {
			code, body, _ := do(t, ts, "POST", "/v1/rooms/r/recordings", req)
			msg, _ := body["error"].(string)
			switch {
			case tc.refused && (code != 507 || !strings.Contains(msg, "not enough free disk space") || !strings.Contains(msg, "MiB free")):
				t.Errorf("%s: %s: %d %v, want 507 naming the free space", tc.name, req, code, body)
			case !tc.refused && code != 201:
				t.Errorf("%s: %s: %d %v, want 201", tc.name, req, code, body)
			}
		}
	}
}
