package encode

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// Registry answers the two questions encoder selection asks about an element
// factory. GstRegistry asks GStreamer; FakeRegistry is for tests.
type Registry interface {
	// Has reports whether the element factory is registered.
	Has(factory string) bool
	// TryReady creates the element, sets it to READY (which opens the
	// device for hardware encoders) and back to NULL, and returns why that
	// failed, or nil.
	TryReady(factory string) error
}

// DefaultReadyTimeout bounds one NULL→READY trial of a GstRegistry.
const DefaultReadyTimeout = 5 * time.Second

// GstRegistry is the Registry of the running process's GStreamer. Results of
// TryReady are cached per factory (opening a GPU is slow and its answer does
// not change while the process runs). Safe for concurrent use.
type GstRegistry struct {
	timeout time.Duration

	mu    sync.Mutex
	ready map[string]error
}

var _ Registry = (*GstRegistry)(nil)

// NewGstRegistry returns a Registry over GStreamer's plugin registry,
// initialising GStreamer if needed. readyTimeout bounds each READY trial (a
// wedged driver must not hang a recording start); 0 means
// DefaultReadyTimeout.
func NewGstRegistry(readyTimeout time.Duration) *GstRegistry {
	gstx.Init()
	if readyTimeout <= 0 {
		readyTimeout = DefaultReadyTimeout
	}
	return &GstRegistry{timeout: readyTimeout, ready: map[string]error{}}
}

// Has reports whether GStreamer has an element factory of that name.
func (r *GstRegistry) Has(factory string) bool {
	return gst.Find(factory) != nil
}

// TryReady creates the element inside a throw-away pipeline, sets it to
// READY and back to NULL. The error carries the element's own error message
// when it posted one (for example "Could not initialize supporting library").
func (r *GstRegistry) TryReady(factory string) error {
	r.mu.Lock()
	if err, ok := r.ready[factory]; ok {
		r.mu.Unlock()
		return err
	}
	r.mu.Unlock()

	done := make(chan error, 1)
	go func() { done <- tryReady(factory) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(r.timeout):
		// The trial goroutine is left behind: there is no way to cancel a
		// state change stuck in a driver.
		err = fmt.Errorf("no answer within %s", r.timeout)
	}

	r.mu.Lock()
	r.ready[factory] = err
	r.mu.Unlock()
	return err
}

func tryReady(factory string) error {
	p, err := gst.NewPipeline("")
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	e, err := gst.NewElement(factory)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if err := p.Add(e); err != nil {
		return fmt.Errorf("add to pipeline: %w", err)
	}
	stateErr := p.SetState(gst.StateReady)
	if stateErr == nil {
		if ret, _ := p.GetState(gst.StateReady, gst.ClockTime(DefaultReadyTimeout)); ret == gst.StateChangeFailure {
			stateErr = errors.New("failed to change state to READY")
		}
	}
	if stateErr != nil {
		// The element usually says why on the bus.
		if msg := p.GetPipelineBus().TimedPopFiltered(0, gst.MessageError); msg != nil {
			gerr := msg.ParseError()
			stateErr = fmt.Errorf("%w: %s", stateErr, gerr.Error())
		}
	}
	if err := p.BlockSetState(gst.StateNull); err != nil && stateErr == nil {
		stateErr = fmt.Errorf("back to NULL: %w", err)
	}
	return stateErr
}

// FakeRegistry is a Registry for tests: factories in Present exist, and
// TryReady returns ReadyErr[factory] (nil when absent from the map) for
// present factories. Probed records every TryReady call in order. Not safe
// for concurrent use.
type FakeRegistry struct {
	Present  map[string]bool
	ReadyErr map[string]error
	Probed   []string
}

var _ Registry = (*FakeRegistry)(nil)

// Has reports Present[factory].
func (f *FakeRegistry) Has(factory string) bool { return f.Present[factory] }

// TryReady records the call and returns ReadyErr[factory], or an error when
// the factory is not Present.
func (f *FakeRegistry) TryReady(factory string) error {
	f.Probed = append(f.Probed, factory)
	if !f.Present[factory] {
		return errors.New("no such element factory")
	}
	return f.ReadyErr[factory]
}
