package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// What pacing costs on this machine, apart from any media code. A live room
// decodes and encodes one frame per frame interval and idles in between; the
// floor and ffmpeg go as fast as they can. The same unit of work, touching the
// same memory, is timed back to back and once every frame interval: with a
// working set that fits a core's own cache the two should cost the same, and
// what a larger one costs more paced is what the caches lost while the core
// idled (on a shared host, to other tenants). A 1280x720 I420 frame is 1.3 MiB;
// an encoder touches several.

// paceUnit is how long one unit of work takes back to back.
const paceUnit = 2 * time.Millisecond

// paceProbe is one working-set size measured back to back and paced.
type paceProbe struct {
	Bytes int
	Ratio float64 // paced CPU per unit / back-to-back CPU per unit (median)
}

// pacePenalty measures each working-set size rounds times, back to back and
// paced at period, interleaved, and returns the median ratio of each.
func pacePenalty(sizes []int, period time.Duration, units, rounds int) ([]paceProbe, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var out []paceProbe
	for _, size := range sizes {
		buf := make([]byte, size)
		passes, err := calibrate(buf)
		if err != nil {
			return nil, err
		}
		var ratios []float64
		for range rounds {
			free, err := cpuPerUnit(buf, passes, units, 0)
			if err != nil {
				return nil, err
			}
			paced, err := cpuPerUnit(buf, passes, units, period)
			if err != nil {
				return nil, err
			}
			ratios = append(ratios, float64(paced)/float64(free))
		}
		out = append(out, paceProbe{Bytes: size, Ratio: median(ratios)})
	}
	return out, nil
}

// touch reads and writes one byte of every cache line of buf, passes times.
func touch(buf []byte, passes int) {
	var s byte
	for range passes {
		for i := 0; i < len(buf); i += 64 {
			s += buf[i]
			buf[i] = s
		}
	}
}

// calibrate is the number of passes over buf that take about paceUnit.
func calibrate(buf []byte) (int, error) {
	touch(buf, 1) // fault the pages in
	c0, err := threadCPU()
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		touch(buf, 1)
		n++
		c, err := threadCPU()
		if err != nil {
			return 0, err
		}
		if d := c - c0; d >= 20*paceUnit {
			return max(1, int(int64(n)*int64(paceUnit)/int64(d))), nil
		}
	}
}

// cpuPerUnit is this thread's CPU time per unit over units units, each
// started period after the last (0: back to back).
func cpuPerUnit(buf []byte, passes, units int, period time.Duration) (time.Duration, error) {
	touch(buf, passes) // warm, as a running pipeline is
	c0, err := threadCPU()
	if err != nil {
		return 0, err
	}
	next := time.Now()
	for range units {
		touch(buf, passes)
		if period > 0 {
			next = next.Add(period)
			time.Sleep(time.Until(next))
		}
	}
	c1, err := threadCPU()
	if err != nil {
		return 0, err
	}
	return (c1 - c0) / time.Duration(units), nil
}

func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("thread CPU time: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// paceLine describes the probes for the bench's header.
func paceLine(probes []paceProbe, period time.Duration) string {
	var each []string
	for _, p := range probes {
		each = append(each, fmt.Sprintf("%s %.2fx", sizeName(p.Bytes), p.Ratio))
	}
	return fmt.Sprintf("a unit of work (~%s) run once every %s costs, per unit, against back to back: %s (by working set, medians)",
		paceUnit, period.Round(100*time.Microsecond), strings.Join(each, ", "))
}

func sizeName(b int) string {
	if b >= 1<<20 {
		return fmt.Sprintf("%d MiB", b>>20)
	}
	return fmt.Sprintf("%d KiB", b>>10)
}
