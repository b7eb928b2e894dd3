package main

import (
	"strings"
	"testing"
	"time"
)

func TestPacePenaltyMeasures(t *testing.T) {
	probes, err := pacePenalty([]int{64 << 10, 1 << 20}, 5*time.Millisecond, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != 2 || probes[0].Bytes != 64<<10 || probes[1].Bytes != 1<<20 {
		t.Fatalf("probes %+v", probes)
	}
	for _, p := range probes {
		// CPU time per unit, paced or not, is the same work: a ratio far
		// from 1 is a measuring error, not a machine.
		if p.Ratio < 0.2 || p.Ratio > 20 {
			t.Errorf("%d bytes: ratio %.2f", p.Bytes, p.Ratio)
		}
	}
	line := paceLine(probes, 33333*time.Microsecond)
	for _, want := range []string{"once every 33.3ms", "64 KiB ", "1 MiB "} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
}

func TestCPUPerUnitSleepsBetweenUnits(t *testing.T) {
	buf := make([]byte, 64<<10)
	start := time.Now()
	if _, err := cpuPerUnit(buf, 1, 5, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("5 units paced at 10 ms took %s", d)
	}
}
