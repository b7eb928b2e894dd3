package ingest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestManifestRewritesDoNotInterleave: the read loop, the control API and a
// stopping room all rewrite a recording's manifest. Rewrites racing on the
// same temporary file once left a shorter manifest followed by the tail of
// a longer one ("invalid character after top-level value" in an e2e run).
// Every manifest a reader finds must parse, and the last one must be the
// latest state.
func TestManifestRewritesDoNotInterleave(t *testing.T) {
	dir := t.TempDir()
	r := newRecording("rec", "room", ModePerTrack, dir, 0, time.Now())
	path := filepath.Join(dir, r.Info().Manifest)
	var writers sync.WaitGroup
	for w := 0; w < 6; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < 150; i++ {
				r.mu.Lock()
				if len(r.info.Files) > 20 { // shrink and grow, so lengths differ
					r.info.Files = r.info.Files[:w]
				}
				r.info.Files = append(r.info.Files, &FileEntry{Path: fmt.Sprintf("room/rec/w%d-%d.webm", w, i), Kind: "audio"})
				r.mu.Unlock()
				if err := r.writeManifest(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	stop, done := make(chan struct{}), make(chan struct{})
	var bad []string
	go func() {
		defer close(done)
		for {
			if data, err := os.ReadFile(path); err == nil {
				var info RecordingInfo
				if err := json.Unmarshal(data, &info); err != nil && len(bad) < 3 {
					bad = append(bad, err.Error())
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	writers.Wait()
	close(stop)
	<-done
	if len(bad) > 0 {
		t.Fatalf("a manifest did not parse: %v", bad)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var last RecordingInfo
	if err := json.Unmarshal(data, &last); err != nil {
		t.Fatalf("final manifest: %v", err)
	}
	if want := r.Info(); len(last.Files) != len(want.Files) || last.Files[len(last.Files)-1].Path != want.Files[len(want.Files)-1].Path {
		t.Errorf("final manifest lists %d files ending %q; the recording has %d ending %q", len(last.Files),
			last.Files[len(last.Files)-1].Path, len(want.Files), want.Files[len(want.Files)-1].Path)
	}
}
