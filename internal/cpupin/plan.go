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
	// evicted are pipelines let go because their CPU ran hot: estimates
	// can be wrong (a codec costlier than modelled), and they float until
	// they stop costing anything.
	evicted map[string]bool
}

// Hot is the busy fraction of a CPU above which, while another CPU is
// below Cool, the newest pipeline pinned to it is let go to float.
const (
	Hot  = 0.9
	Cool = 0.7
)

type placement struct {
	cpu int
	seq uint64 // order of placement: the oldest keep their CPU first
}

// NewPlanner places on cpus with budget cores of pinned work per CPU. With
// fewer than two CPUs nothing is pinned (one CPU is where everything runs
// anyway).
func NewPlanner(cpus []int, budget float64) *Planner {
	return &Planner{cpus: slices.Clone(cpus), budget: budget, placed: map[string]placement{}, evicted: map[string]bool{}}
}

// Plan returns every key's CPU (Float: anywhere) given the cost of each
// pipeline to place now and how busy each CPU was lately (nil: unknown);
// keys not in costs are forgotten. A cost of 0 or less floats.
func (p *Planner) Plan(costs map[string]float64, busy map[int]float64) map[string]int {
	out := make(map[string]int, len(costs))
	for k := range costs {
		out[k] = Float
	}
	for k := range p.placed {
		if _, ok := costs[k]; !ok {
			delete(p.placed, k)
		}
	}
	for k := range p.evicted {
		if costs[k] <= 0 {
			delete(p.evicted, k)
		}
	}
	p.evictFromHot(busy)
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
		if c > 0 && c <= p.budget && load[pl.cpu]+c <= p.budget {
			load[pl.cpu] += c
			out[k] = pl.cpu
			continue
		}
		delete(p.placed, k)
	}
	// Then the others, largest first, each on the least loaded CPU.
	var rest []string
	for k := range costs {
		if _, ok := p.placed[k]; !ok && !p.evicted[k] {
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

// evictFromHot lets go of the newest pipeline on each CPU that ran hot
// while another had room: its work did not fit there.
func (p *Planner) evictFromHot(busy map[int]float64) {
	cool := false
	for _, cpu := range p.cpus {
		if b, ok := busy[cpu]; ok && b < Cool {
			cool = true
		}
	}
	if !cool {
		return // every CPU is busy: floating would not help
	}
	for _, cpu := range p.cpus {
		if busy[cpu] <= Hot {
			continue
		}
		newest := ""
		for k, pl := range p.placed {
			if pl.cpu == cpu && (newest == "" || pl.seq > p.placed[newest].seq) {
				newest = k
			}
		}
		if newest != "" {
			delete(p.placed, newest)
			p.evicted[newest] = true
		}
	}
}

// Evicted reports whether key was let go from a hot CPU (and floats).
func (p *Planner) Evicted(key string) bool { return p.evicted[key] }
