package cpupin

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Sample is each CPU's time counters (/proc/stat, in clock ticks) at one
// moment: busy and total.
type Sample map[int][2]uint64

// ReadSample reads /proc/stat.
func ReadSample() (Sample, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return nil, fmt.Errorf("cpu times: %w", err)
	}
	defer f.Close()
	return parseStat(bufio.NewScanner(f))
}

func parseStat(sc *bufio.Scanner) (Sample, error) {
	s := Sample{}
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || !strings.HasPrefix(fields[0], "cpu") || fields[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(fields[0][3:])
		if err != nil {
			continue
		}
		var busy, total uint64
		for i, f := range fields[1:] {
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("cpu times: %s: %w", fields[0], err)
			}
			if i >= 8 { // guest time is already counted in user
				break
			}
			total += v
			if i != 3 && i != 4 { // idle, iowait; steal counts as busy (the vCPU did not run)
				busy += v
			}
		}
		s[cpu] = [2]uint64{busy, total}
	}
	return s, sc.Err()
}

// Busy is each CPU's busy fraction between two samples (CPUs whose
// counters did not move are left out).
func Busy(prev, now Sample) map[int]float64 {
	out := map[int]float64{}
	for cpu, n := range now {
		p, ok := prev[cpu]
		if !ok || n[1] <= p[1] || n[0] < p[0] {
			continue
		}
		out[cpu] = float64(n[0]-p[0]) / float64(n[1]-p[1])
	}
	return out
}
