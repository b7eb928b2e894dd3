package cpupin

import (
	"bufio"
	"maps"
	"strings"
	"testing"
)

func TestPlannerPlacesWithinBudget(t *testing.T) {
	type step struct {
		costs map[string]float64
		want  map[string]int
	}
	cases := []struct {
		name  string
		cpus  []int
		steps []step
	}{
		{"one CPU: nothing is pinned", []int{0}, []step{
			{map[string]float64{"a": 0.5}, map[string]int{"a": Float}},
		}},
		{"two rooms of 4 on two CPUs, the third floats", []int{0, 1}, []step{
			{map[string]float64{"a": 0.6}, map[string]int{"a": 0}},
			{map[string]float64{"a": 0.6, "b": 0.6}, map[string]int{"a": 0, "b": 1}},
			{map[string]float64{"a": 0.6, "b": 0.6, "c": 0.6}, map[string]int{"a": 0, "b": 1, "c": Float}},
		}},
		{"placements stick when a larger room arrives", []int{0, 1}, []step{
			{map[string]float64{"a": 0.3}, map[string]int{"a": 0}},
			{map[string]float64{"a": 0.3, "b": 0.7}, map[string]int{"a": 0, "b": 1}},
			{map[string]float64{"a": 0.3, "b": 0.7, "c": 0.4}, map[string]int{"a": 0, "b": 1, "c": 0}},
		}},
		{"a room over the budget alone floats; no cost floats", []int{0, 1}, []step{
			{map[string]float64{"big": 1.2, "none": 0, "a": 0.5}, map[string]int{"big": Float, "none": Float, "a": 0}},
		}},
		{"a room that grows past its CPU's budget is let go, the older stays", []int{0, 1}, []step{
			{map[string]float64{"a": 0.4, "b": 0.3, "c": 0.3}, map[string]int{"a": 0, "b": 1, "c": 1}},
			{map[string]float64{"a": 0.4, "b": 0.3, "c": 0.6}, map[string]int{"a": 0, "b": 1, "c": Float}},
		}},
		{"a room that left frees its CPU for a floating one", []int{2, 5}, []step{
			{map[string]float64{"a": 0.6, "b": 0.6, "c": 0.6}, map[string]int{"a": 2, "b": 5, "c": Float}},
			{map[string]float64{"b": 0.6, "c": 0.6}, map[string]int{"b": 5, "c": 2}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPlanner(tc.cpus, 0.8)
			for i, st := range tc.steps {
				if got := p.Plan(st.costs, nil); !maps.Equal(got, st.want) {
					t.Fatalf("step %d: Plan(%v) = %v, want %v", i, st.costs, got, st.want)
				}
			}
		})
	}
}

// A CPU that runs hot while another has room loses its newest room, which
// then floats until it stops costing anything; with every CPU busy nothing
// moves.
func TestPlannerLetsGoOfAHotCPU(t *testing.T) {
	p := NewPlanner([]int{0, 1}, 0.8)
	costs := map[string]float64{"a": 0.3, "b": 0.3, "c": 0.3}
	if got, want := p.Plan(costs, nil), map[string]int{"a": 0, "b": 1, "c": 0}; !maps.Equal(got, want) {
		t.Fatalf("first plan %v, want %v", got, want)
	}
	if got, want := p.Plan(costs, map[int]float64{0: 0.97, 1: 0.95}), map[string]int{"a": 0, "b": 1, "c": 0}; !maps.Equal(got, want) {
		t.Errorf("every CPU busy: %v, want nothing moved %v", got, want)
	}
	if got, want := p.Plan(costs, map[int]float64{0: 0.97, 1: 0.4}), map[string]int{"a": 0, "b": 1, "c": Float}; !maps.Equal(got, want) {
		t.Errorf("CPU 0 hot: %v, want its newest room (c) floating %v", got, want)
	}
	if !p.Evicted("c") {
		t.Error("c not reported evicted")
	}
	if got, want := p.Plan(costs, map[int]float64{0: 0.5, 1: 0.4}), map[string]int{"a": 0, "b": 1, "c": Float}; !maps.Equal(got, want) {
		t.Errorf("CPU 0 cool again: %v, want c still floating %v", got, want)
	}
	costs["c"] = 0 // its composite stopped
	p.Plan(costs, nil)
	costs["c"] = 0.3 // and a new one started
	if got, want := p.Plan(costs, nil), map[string]int{"a": 0, "b": 1, "c": 0}; !maps.Equal(got, want) {
		t.Errorf("after its composite stopped and another started: %v, want c placed again %v", got, want)
	}
}

// Whatever the costs, no CPU carries more than the budget.
func FuzzPlannerBudget(f *testing.F) {
	f.Add([]byte{10, 60, 60, 60, 90, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := NewPlanner([]int{0, 1, 2}, 0.8)
		costs := map[string]float64{}
		for i, c := range b {
			key := string(rune('a' + i%7))
			if c%5 == 0 {
				delete(costs, key)
			} else {
				costs[key] = float64(c) / 100
			}
			load := map[int]float64{}
			for k, cpu := range p.Plan(costs, map[int]float64{0: float64(c%3) / 2, 1: 0.5, 2: 0.95}) {
				if cpu == Float {
					continue
				}
				if costs[k] <= 0 {
					t.Fatalf("%s costs %g and is pinned", k, costs[k])
				}
				load[cpu] += costs[k]
			}
			for cpu, l := range load {
				if l > 0.8+1e-9 {
					t.Fatalf("CPU %d carries %g > 0.8 (costs %v)", cpu, l, costs)
				}
			}
		}
	})
}

func TestBusyFromProcStat(t *testing.T) {
	prev, err := parseStat(bufio.NewScanner(strings.NewReader(
		"cpu  300 0 100 1000 0 0 0 0 0 0\ncpu0 100 0 50 500 0 0 0 0 0 0\ncpu1 200 0 50 500 0 0 0 0 0 0\nintr 1 2 3\n")))
	if err != nil {
		t.Fatal(err)
	}
	// CPU 0: 90 of 100 ticks busy (user, system, irq, steal), 10 idle;
	// CPU 1: 10 busy, 80 idle, 10 iowait; guest ticks are already in user.
	now, err := parseStat(bufio.NewScanner(strings.NewReader(
		"cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 160 0 70 510 0 5 0 5 40 0\ncpu1 210 0 50 580 10 0 0 0 0 0\n")))
	if err != nil {
		t.Fatal(err)
	}
	got := Busy(prev, now)
	if len(got) != 2 || got[0] < 0.899 || got[0] > 0.901 || got[1] < 0.099 || got[1] > 0.101 {
		t.Errorf("Busy = %v, want CPU 0 0.9 and CPU 1 0.1", got)
	}
	if s, err := ReadSample(); err != nil || len(s) < 1 {
		t.Errorf("ReadSample: %v, %v", s, err)
	}
}
