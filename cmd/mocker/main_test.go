package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/streamline-media/streamline/internal/mocksfu"
)

func TestParseFlags(t *testing.T) {
	t.Setenv("MOCKER_ROOM", "from-env")
	t.Setenv("MOCKER_PARTICIPANTS", "3")
	t.Setenv("MOCKER_RESOLUTION_CHANGE", "4s")
	var stderr bytes.Buffer
	o, err := parseFlags([]string{
		"--participants", "5", "--video", "h264", "--loss", "2.5", "--jitter", "20ms", "--seed", "9",
		"--schedule", "p3:join=5s,leave=20s;p4:join=2s", "--mute", "p1:audio:10s-15s",
		"--impair", "p2:loss=10", "--record", "--dtx",
	}, &stderr)
	if err != nil {
		t.Fatalf("parseFlags: %v (%s)", err, stderr.String())
	}
	c := o.cfg
	if c.Room != "from-env" || c.N != 5 || c.ResolutionChange != 4*time.Second {
		t.Errorf("env/flag precedence: room %q, n %d, resolution change %v", c.Room, c.N, c.ResolutionChange)
	}
	if c.Video != "h264" || c.Impairments.Loss != 2.5 || c.Impairments.Jitter != 20*time.Millisecond || c.Seed != 9 || !c.Record || !c.DTX {
		t.Errorf("flags not applied: %+v", c)
	}
	if len(c.Schedule) != 2 || c.Schedule["p3"][0] != (mocksfu.Presence{Join: 5 * time.Second, Leave: 20 * time.Second}) {
		t.Errorf("schedule %v", c.Schedule)
	}
	if len(c.Mutes) != 1 || c.Mutes[0] != (mocksfu.MuteWindow{Participant: "p1", Kind: "audio", From: 10 * time.Second, To: 15 * time.Second}) {
		t.Errorf("mutes %v", c.Mutes)
	}
	if len(c.Participants) != 5 || c.Participants[1].Impairments == nil || c.Participants[1].Impairments.Loss != 10 || c.Participants[0].Impairments != nil {
		t.Errorf("per-participant impairments %+v", c.Participants)
	}
	if _, err := mocksfu.New(c); err != nil {
		t.Errorf("config from flags rejected: %v", err)
	}

	for _, bad := range [][]string{
		{"--schedule", "p1:join"},
		{"--mute", "p1:screen:1s-2s"},
		{"--impair", "p9:loss=1"},
		{"--participants", "0"},
		{"extra-arg"},
	} {
		if _, err := parseFlags(bad, &stderr); err == nil {
			t.Errorf("parseFlags(%q): expected an error", bad)
		}
	}
	t.Setenv("MOCKER_FPS", "fast")
	if _, err := parseFlags(nil, &stderr); err == nil || !strings.Contains(err.Error(), "MOCKER_FPS") {
		t.Errorf("bad env value: err = %v", err)
	}
}

// TestRunBadServer: an unreachable server makes the command fail with exit
// code 1 and a useful error.
func TestRunBadServer(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"--server", "http://127.0.0.1:1", "--participants", "1", "--stats-interval", "0"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "create room") {
		t.Errorf("exit %d, stderr %s", code, stderr.String())
	}
	if code := run([]string{"--video", "av1"}, &stdout, &stderr); code != 2 {
		t.Errorf("bad codec: exit %d", code)
	}
}
