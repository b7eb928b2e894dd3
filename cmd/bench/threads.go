package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Where a server's CPU goes, by what its threads do. GStreamer names each
// streaming thread after the pad whose task it runs ("<element>:<pad>", cut
// by the kernel to 15 bytes), and a thread an element starts itself (x264's
// slice threads, libvpx's decoding threads) inherits its creator's name, so
// the element names the server gives its composite graph tell the threads
// apart. A track's own thread ("trk-<ssrc>-…") is grouped by the track's
// kind: were an input decoded on it (no queue of its own), the composite's
// decoding would show as what it costs beyond the ingest window.

// Thread groups, in report order. A group that matches the floor's parts
// says so, so the report can set them side by side.
const (
	grpVideoEncode = "video encode (x264 + its threads)"
	grpVideoTracks = "video tracks' own threads (ingest)"
	grpVideoDecode = "video tiles (decode + scale, placeholders)"
	grpAudioTracks = "audio tracks' own threads (ingest)"
	grpAudioEncode = "audio encode (AAC)"
	grpAudioDecode = "audio inputs (opus decode, convert)"
	grpMixers      = "mixers (compositor, audiomixer, backgrounds)"
	grpMux         = "mux + file"
	grpIngest      = "other tracks' threads"
	grpGo          = "Go (RTP reads, API, GC)"
	grpOther       = "other threads"
	grpExited      = "threads that ended in the window"
)

var threadGroups = []string{grpVideoEncode, grpVideoTracks, grpVideoDecode, grpAudioEncode, grpAudioTracks,
	grpAudioDecode, grpMixers, grpMux, grpIngest, grpGo, grpOther, grpExited}

var (
	tileThread  = regexp.MustCompile(`-v\d+-(q|ph)`)
	voiceThread = regexp.MustCompile(`-a\d+-q`)
	trackThread = regexp.MustCompile(`^trk-(\d+)-`)
)

// threadNames groups a server's threads: Go's threads carry the process's
// own name (exe), a track's the track's SSRC (kinds: "audio" or "video").
type threadNames struct {
	exe   string
	kinds map[uint32]string
}

// group names the group of a server thread from its name.
func (tn threadNames) group(name string) string {
	if m := trackThread.FindStringSubmatch(name); m != nil {
		ssrc, err := strconv.ParseUint(m[1], 10, 32)
		switch {
		case err != nil:
		case tn.kinds[uint32(ssrc)] == "video":
			return grpVideoTracks
		case tn.kinds[uint32(ssrc)] == "audio":
			return grpAudioTracks
		}
		return grpIngest
	}
	switch {
	case strings.Contains(name, "-vq:"):
		return grpVideoEncode
	case strings.Contains(name, "-aq:"):
		return grpAudioEncode
	case tileThread.MatchString(name):
		return grpVideoDecode
	case voiceThread.MatchString(name):
		return grpAudioDecode
	case strings.Contains(name, "-mux"):
		return grpMux
	case strings.Contains(name, "-video:") || strings.Contains(name, "-audio:") || strings.Contains(name, "-bg") ||
		strings.Contains(name, "-silence") || strings.Contains(name, "-silq"):
		return grpMixers
	case name == tn.exe:
		return grpGo
	}
	return grpOther
}

// threadSnapshot is a process's CPU time and each of its live threads',
// read together.
type threadSnapshot struct {
	total   time.Duration
	threads map[int]procStat
}

// snapThreads reads pid's CPU time and its threads'.
func snapThreads(pid int) threadSnapshot {
	total, _ := procCPU(pid)
	return threadSnapshot{total: total, threads: statsIn(fmt.Sprintf("/proc/%d/task", pid))}
}

// groupCPU splits the CPU process pid used between two snapshots by thread
// group, in seconds. A thread started in between counts whole; what threads
// that ended in between used is the rest of the process's total. kinds
// gives the kind of each track by SSRC.
func groupCPU(pid int, kinds map[uint32]string, before, after threadSnapshot) map[string]float64 {
	out := map[string]float64{}
	tn := threadNames{exe: after.threads[pid].Name, kinds: kinds} // the main thread's name is the process's
	var sum time.Duration
	for tid, a := range after.threads {
		d := a.CPU - before.threads[tid].CPU
		if b, ok := before.threads[tid]; ok && b.Name != a.Name {
			d = a.CPU // the id was reused
		}
		out[tn.group(a.Name)] += d.Seconds()
		sum += d
	}
	if rest := after.total - before.total - sum; rest > 0 {
		out[grpExited] += rest.Seconds()
	}
	return out
}

// threadReport prints, per room size, the median cores of each thread group
// in the composite window and in the ingest window, beside the floor's parts.
func threadReport(w io.Writer, sizes []*sizeResult) {
	have := false
	for _, s := range sizes {
		for _, r := range s.Runs {
			have = have || len(r.Groups) > 0
		}
	}
	if !have {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "where the server's CPU goes: cores by thread group (median over runs), composite window | ingest window")
	fmt.Fprintf(w, "%-46s", "")
	for _, s := range sizes {
		fmt.Fprintf(w, " %17s", fmt.Sprintf("N=%d", s.Size))
	}
	fmt.Fprintln(w)
	rate := func(g map[string]float64, grp string, secs float64) float64 { return safeDiv(g[grp], secs) }
	for _, grp := range threadGroups {
		fmt.Fprintf(w, "%-46s", grp)
		for _, s := range sizes {
			c := compMedian(s.Runs, func(r *compRun) float64 { return rate(r.Groups, grp, r.WindowS) }, nil)
			i := compMedian(s.Runs, func(r *compRun) float64 { return rate(r.IdleGroups, grp, r.IdleS) }, nil)
			fmt.Fprintf(w, " %8.3f|%-8.3f", c, i)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "  against the floor (composite window − ingest window | the floor's part alone):")
	parts := []struct {
		name   string
		groups []string
		floor  func(*floorRun) float64
	}{
		{"video decode vs floor", []string{grpVideoTracks, grpVideoDecode}, func(f *floorRun) float64 { return f.DecodeCPU }},
		{"audio path vs floor", []string{grpAudioTracks, grpAudioDecode, grpAudioEncode}, func(f *floorRun) float64 { return f.AudioCPU }},
		{"video encode vs floor", []string{grpVideoEncode}, func(f *floorRun) float64 { return f.EncodeCPU }},
	}
	for _, p := range parts {
		fmt.Fprintf(w, "  %-44s", p.name)
		for _, s := range sizes {
			srv := compMedian(s.Runs, func(r *compRun) float64 {
				v := 0.0
				for _, g := range p.groups {
					v += rate(r.Groups, g, r.WindowS) - rate(r.IdleGroups, g, r.IdleS)
				}
				return v
			}, nil)
			fl := compMedian(s.Runs, func(r *compRun) float64 { return p.floor(r.Floor) / r.mediaS }, hasFloor)
			fmt.Fprintf(w, " %8.3f|%-8.3f", srv, fl)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "  groups follow the names GStreamer gives streaming threads (<element>:<pad>) and the server's element names; a thread an")
	fmt.Fprintln(w, "  element starts (x264 slices, libvpx) inherits its creator's name. The audio mixer is under mixers, so the audio path here")
	fmt.Fprintln(w, "  leaves it out while the floor's includes it. The rows against the floor also count what the tracks' own threads cost beyond")
	fmt.Fprintln(w, "  the ingest window (handing every frame to an input's queue).")
}
