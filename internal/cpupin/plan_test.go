package cpupin

import (
	"maps"
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
				if got := p.Plan(st.costs); !maps.Equal(got, st.want) {
					t.Fatalf("step %d: Plan(%v) = %v, want %v", i, st.costs, got, st.want)
				}
			}
		})
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
			for k, cpu := range p.Plan(costs) {
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
