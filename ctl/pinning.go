package ctl

import (
	"sync"
	"time"

	"github.com/streamline-media/streamline/internal/cpupin"
)

// DefaultPinBudget is how much pinned composite work (estimated cores, see
// CostModel) one CPU takes: a room of 9 at 720p (~0.75) fits, two rooms
// of 4 (~0.6 each) do not share a CPU, and what fits nowhere floats.
const DefaultPinBudget = 0.8

// pinInterval is how often room placements follow the rooms' costs
// (participants joining, composites stopping).
var pinInterval = 3 * time.Second

// pinning keeps each room that runs a composite on one CPU (Config.PinRooms,
// cpupin): a composite's frames pass through a chain of threads 30 times a
// second, and on one CPU those hand-offs cost less. Rooms without a
// composite (raw tracks only) float.
type pinning struct {
	mu      sync.Mutex
	planner *cpupin.Planner
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
// caller) with the cost it will have.
func (s *Server) replan(starting *roomMedia, startingCost float64) {
	if s.pins == nil {
		return
	}
	s.mu.Lock()
	medias := make([]*roomMedia, 0, len(s.medias))
	for _, m := range s.medias {
		medias = append(medias, m)
	}
	s.mu.Unlock()
	s.pins.mu.Lock()
	defer s.pins.mu.Unlock()
	costs := make(map[string]float64, len(medias))
	byID := make(map[string]*roomMedia, len(medias))
	for _, m := range medias {
		id := m.room.ID()
		byID[id] = m
		if m == starting {
			costs[id] = startingCost
			continue
		}
		costs[id] = 0
		if cost := s.roomCost(m); cost > s.costs.Tracks(len(m.room.Tracks())) { // a composite runs
			costs[id] = cost
		}
	}
	for id, cpu := range s.pins.planner.Plan(costs) {
		m := byID[id]
		if was := m.room.PinnedTo(); was != cpu {
			m.room.PinTo(cpu)
			s.log.Info("room threads placed", "room", id, "cpu", cpu, "was", was, "estimated_cores", costs[id])
		}
	}
}

func (s *Server) pinLoop(stop <-chan struct{}) {
	t := time.NewTicker(pinInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.replan(nil, 0)
		}
	}
}
