package ctl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// ErrNoPorts means every port of the RTP range is taken.
var ErrNoPorts = errors.New("no free RTP port in range")

// PortRange is an inclusive UDP port range such as 40000-40999.
type PortRange struct{ Min, Max int }

// ParsePortRange parses "MIN-MAX".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return PortRange{}, fmt.Errorf("rtp port range %q: want MIN-MAX", s)
	}
	minP, err1 := strconv.Atoi(lo)
	maxP, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || minP < 1 || maxP > 65535 || minP > maxP {
		return PortRange{}, fmt.Errorf("rtp port range %q: want MIN-MAX within 1-65535", s)
	}
	return PortRange{Min: minP, Max: maxP}, nil
}

// portPool hands out ports of a range, round-robin so a port just freed is
// not reused at once (late packets of a closed room must not reach a new one).
type portPool struct {
	mu   sync.Mutex
	r    PortRange
	used map[int]bool
	next int
}

func newPortPool(r PortRange) *portPool {
	return &portPool{r: r, used: map[int]bool{}, next: r.Min}
}

// acquire calls open with candidate ports until one succeeds.
func (p *portPool) acquire(open func(port int) error) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	size := p.r.Max - p.r.Min + 1
	var lastErr error
	for i := 0; i < size; i++ {
		port := p.next
		p.next++
		if p.next > p.r.Max {
			p.next = p.r.Min
		}
		if p.used[port] {
			continue
		}
		if err := open(port); err != nil {
			lastErr = err // taken by another process: try the next one
			continue
		}
		p.used[port] = true
		return port, nil
	}
	if lastErr != nil {
		return 0, fmt.Errorf("%w %d-%d (last error: %v)", ErrNoPorts, p.r.Min, p.r.Max, lastErr)
	}
	return 0, fmt.Errorf("%w %d-%d", ErrNoPorts, p.r.Min, p.r.Max)
}

// acquirePreferred tries port first (a restored room keeps its address when
// it can), then any other.
func (p *portPool) acquirePreferred(port int, open func(port int) error) (int, error) {
	p.mu.Lock()
	if port >= p.r.Min && port <= p.r.Max && !p.used[port] {
		if err := open(port); err == nil {
			p.used[port] = true
			p.mu.Unlock()
			return port, nil
		}
	}
	p.mu.Unlock()
	return p.acquire(open)
}

func (p *portPool) release(port int) {
	p.mu.Lock()
	delete(p.used, port)
	p.mu.Unlock()
}
