package ctl

import (
	"sync"
	"time"

	"github.com/streamline-media/streamline/internal/cpupin"
)

// DefaultPinBudget is how much pinned composite work (estimated cores, see
// CostModel) one CPU takes: a room of 4 at 720p (~0.62) fits, two of them
// do not share a CPU, and what fits nowhere floats. A room of 9 (~0.79)
// floats: its estimate leaves no margin for a machine slower than the
// model's, and on one (a 9-person room costing ~1.05 cores) it filled its
// CPU until the hot-CPU rule let it go ~3.5 s later, its encoder's queue
// filling meanwhile (peak 119–153 MiB a room against 107–113 floating).
const DefaultPinBudget = 0.7

// pinInterval is how often room placements follow the rooms' costs
// (participants joining, composites stopping) and the CPUs' load (a room
// costlier than estimated is let go from a CPU it overloads).
var pinInterval = 2 * time.Second

// pinning keeps each room that runs a composite on one CPU (Config.PinRooms,
// cpupin): a composite's frames pass through a chain of threads 30 times a
// second, and on one CPU those hand-offs cost less. Rooms without a
// composite (raw tracks only) float.
type pinning struct {
	mu      sync.Mutex
	planner *cpupin.Planner
	last    cpupin.Sample // CPU times at the last periodic plan
}

func newPinning(budget float64) *pinning {
	var cpus []int
	for cpu := 0; len(cpus) < cpupin.CPUs() && cpu < 1024; cpu++ {
		if cpupin.Usable(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return &pinning{planner: cpupin.NewPlanner(cpus, budget)}
}

// replan places every room from its estimated cost; starting, when set,
// is a room whose composite is being started (its lock held by the
// caller) with the cost it will have. measure says to read the CPUs'
// load since the last measured plan (the periodic ones).
func (s *Server) replan(starting *roomMedia, startingCost float64, measure bool) {
	if s.pins == nil {
		return
	}
	medias := s.mediaList()
	s.pins.mu.Lock()
	defer s.pins.mu.Unlock()
	var busy map[int]float64
	if measure {
		if now, err := cpupin.ReadSample(); err == nil {
			if s.pins.last != nil {
				busy = cpupin.Busy(s.pins.last, now)
			}
			s.pins.last = now
		}
	}
	costs := make(map[string]float64, len(medias))
	byID := make(map[string]*roomMedia, len(medias))
	for _, m := range medias {
		id := m.room.ID()
		byID[id] = m
		if m == starting {
			costs[id] = startingCost
			m.costMu.Lock() // the periodic plan reads it while the start holds m.mu
			m.lastCost = startingCost
			m.costMu.Unlock()
			continue
		}
		costs[id] = 0
		if cost := s.roomCost(m); cost > s.costs.Tracks(len(m.room.Tracks())) { // a composite runs
			costs[id] = cost
		}
	}
	for id, cpu := range s.pins.planner.Plan(costs, busy) {
		m := byID[id]
		if was := m.room.PinnedTo(); was != cpu {
			m.room.PinTo(cpu)
			if was != cpupin.Float {
				// Its codecs' threads (x264's, libvpx's) started pinned and no
				// Binding knows them.
				cpupin.ReleaseStrays(was)
			}
			if s.pins.planner.Evicted(id) {
				s.log.Warn("room threads let go from an overloaded CPU: the room costs more than estimated", "room", id,
					"cpu", was, "cpu_busy", busy[was], "estimated_cores", costs[id])
				continue
			}
			s.log.Info("room threads placed", "room", id, "cpu", cpu, "was", was, "estimated_cores", costs[id])
		}
	}
}

func (s *Server) pinLoop(stop <-chan struct{}) {
	every(stop, pinInterval, func() { s.replan(nil, 0, true) })
}
