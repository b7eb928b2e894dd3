package cpupin

import (
	"cmp"
	"slices"
)

// Planner chooses a CPU for each pipeline from its estimated cost in cores,
// so that no CPU carries more pinned work than Budget. Pipelines that fit
// nowhere, or cost more than Budget alone, float: the kernel spreads them
// over every CPU, beside the pinned ones. Placements are sticky: a pipeline
// keeps its CPU while that CPU stays within budget, since moving costs its
// codecs' threads (they keep the mask they started with).
type Planner struct {
	cpus   []int
	budget float64
	placed map[string]placement
	seq    uint64
}

type placement struct {
	cpu int
	seq uint64 // order of placement: the oldest keep their CPU first
}

// NewPlanner places on cpus with budget cores of pinned work per CPU. With
// fewer than two CPUs nothing is pinned (one CPU is where everything runs
// anyway).
func NewPlanner(cpus []int, budget float64) *Planner {
	return &Planner{cpus: slices.Clone(cpus), budget: budget, placed: map[string]placement{}}
}

// Plan returns every key's CPU (Float: anywhere) given the cost of each
// pipeline to place now; keys not in costs are forgotten. A cost of 0 or
// less floats.
func (p *Planner) Plan(costs map[string]float64) map[string]int {
	out := make(map[string]int, len(costs))
	for k := range costs {
		out[k] = Float
	}
	for k := range p.placed {
		if _, ok := costs[k]; !ok {
			delete(p.placed, k)
		}
	}
	if len(p.cpus) < 2 {
		clear(p.placed)
		return out
	}
	load := make(map[int]float64, len(p.cpus))
	// Kept first, oldest first, while their CPU has room for them.
	kept := make([]string, 0, len(p.placed))
	for k := range p.placed {
		kept = append(kept, k)
	}
	slices.SortFunc(kept, func(a, b string) int { return cmp.Compare(p.placed[a].seq, p.placed[b].seq) })
	for _, k := range kept {
		pl, c := p.placed[k], costs[k]
		if c > 0 && c <= p.budget && load[pl.cpu]+c <= p.budget && slices.Contains(p.cpus, pl.cpu) {
			load[pl.cpu] += c
			out[k] = pl.cpu
			continue
		}
		delete(p.placed, k)
	}
	// Then the others, largest first, each on the least loaded CPU.
	var rest []string
	for k := range costs {
		if _, ok := p.placed[k]; !ok {
			rest = append(rest, k)
		}
	}
	slices.SortFunc(rest, func(a, b string) int {
		if c := cmp.Compare(costs[b], costs[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, k := range rest {
		c := costs[k]
		if c <= 0 || c > p.budget {
			continue
		}
		best := p.cpus[0]
		for _, cpu := range p.cpus[1:] {
			if load[cpu] < load[best] {
				best = cpu
			}
		}
		if load[best]+c > p.budget {
			continue
		}
		load[best] += c
		p.seq++
		p.placed[k] = placement{cpu: best, seq: p.seq}
		out[k] = best
	}
	return out
}
