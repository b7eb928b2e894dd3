package gstx

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// BusMessage is a copy of the fields of a bus message that handlers need.
// It is safe to keep after the callback (GSTREAMER.md pitfall 3).
type BusMessage struct {
	Type   gst.MessageType
	Source string // name of the element that posted it
	Text   string // error/warning text
	Debug  string // error/warning debug string
}

// busWakeName names the application message that wakes a bus watcher to
// see its context is done.
const busWakeName = "streamline-bus-watch-stop"

// busPopTimeout bounds one wait for a bus message. The watcher is woken at
// once when its context ends (an application message posted to the bus), so
// this only matters if that message is lost (a bus already flushing).
//
// Each wait is a cgo call, and a cgo call that lasts more than 10 ms has its
// P taken back by the runtime's sysmon, which then polls every 20 µs again for
// a millisecond or more: waiting 100 ms at a time, twenty rooms kept sysmon
// at its fastest all the time.
const busPopTimeout = 2 * time.Second

// WatchBus waits for the pipeline's bus messages until ctx is done, handing
// error, warning, EOS and latency messages to handle on the watching
// goroutine. Latency messages are answered by recalculating the pipeline
// latency first. The returned channel is closed when the watcher has
// stopped. Cancel ctx before the pipeline goes to NULL (its bus then drops
// what is posted, the wake-up too).
func WatchBus(ctx context.Context, p *gst.Pipeline, handle func(BusMessage)) <-chan struct{} {
	done := make(chan struct{})
	bus := p.GetPipelineBus()
	stopWake := context.AfterFunc(ctx, func() {
		bus.Post(gst.NewApplicationMessage(p, gst.NewStructure(busWakeName)))
	})
	go func() {
		defer close(done)
		defer stopWake()
		mask := gst.MessageError | gst.MessageWarning | gst.MessageEOS | gst.MessageLatency | gst.MessageApplication
		for ctx.Err() == nil {
			msg := bus.TimedPopFiltered(gst.ClockTime(busPopTimeout), mask)
			if msg == nil || msg.Type() == gst.MessageApplication {
				continue
			}
			m := BusMessage{Type: msg.Type(), Source: msg.Source()}
			switch msg.Type() {
			case gst.MessageError:
				gerr := msg.ParseError()
				m.Text, m.Debug = gerr.Error(), gerr.DebugString()
			case gst.MessageWarning:
				gerr := msg.ParseWarning()
				m.Text, m.Debug = gerr.Error(), gerr.DebugString()
			case gst.MessageLatency:
				p.RecalculateLatency()
			}
			handle(m)
		}
	}()
	return done
}

// EOSWatch is closed when an EOS event crosses a pad.
type EOSWatch struct {
	pad  *gst.Pad
	id   uint64
	once sync.Once
	done chan struct{}
}

// WatchEOS installs a downstream-event probe on pad that closes Done() when
// EOS passes. The probe stays until Remove.
func WatchEOS(pad *gst.Pad) *EOSWatch {
	w := &EOSWatch{pad: pad, done: make(chan struct{})}
	w.id = pad.AddProbe(gst.PadProbeTypeEventDownstream, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		if ev := info.GetEvent(); ev != nil && ev.Type() == gst.EventTypeEOS {
			w.once.Do(func() { close(w.done) })
		}
		return gst.PadProbeOK
	})
	return w
}

// Done is closed once EOS has crossed the pad.
func (w *EOSWatch) Done() <-chan struct{} { return w.done }

// Remove detaches the probe.
func (w *EOSWatch) Remove() {
	if w.id != 0 {
		w.pad.RemoveProbe(w.id)
		w.id = 0
	}
}

// Wait blocks until EOS crossed the pad or the timeout passed.
func (w *EOSWatch) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.done:
		return nil
	case <-t.C:
		return fmt.Errorf("no EOS on %s after %s", w.pad.GetName(), timeout)
	}
}

// StopElement sets e to NULL, waiting at most timeout (BlockSetState waits
// forever; GSTREAMER.md pitfall 9).
func StopElement(e *gst.Element, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- e.BlockSetState(gst.StateNull) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("set %s to NULL: %w", e.GetName(), err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("set %s to NULL: timed out after %s", e.GetName(), timeout)
	}
}

// RemoveElement takes e out of a running parent: it locks e's state, sets
// it to NULL (waiting at most timeout) and removes it from parent.
//
// Locking comes first because the parent keeps changing state while it
// runs: every bin added with an asynchronous sink (previews, compositor
// tiles, encodings) makes the pipeline go PAUSED→PLAYING again, and that
// sets every unlocked child, one already at NULL included, back to PLAYING.
// For a filesink that means opening its location again, which truncates the
// file it has just finished. If e does not reach NULL in time it stays in
// parent, locked, and the error says so.
func RemoveElement(parent *gst.Bin, e *gst.Element, timeout time.Duration) error {
	_ = e.SetLockedState(true) // "fails" only when it was locked already
	if err := StopElement(e, timeout); err != nil {
		return err
	}
	if err := parent.Remove(e); err != nil {
		return fmt.Errorf("remove %s from %s: %w", e.GetName(), parent.GetName(), err)
	}
	return nil
}

// RunningTime is the pipeline's current running time in nanoseconds, or -1
// when it has no clock yet.
func RunningTime(p *gst.Pipeline) int64 {
	clock := p.GetPipelineClock()
	if clock == nil {
		return -1
	}
	return int64(clock.GetTime()) - int64(p.GetBaseTime())
}

// DotGraph returns the pipeline graph in graphviz dot syntax.
func DotGraph(p *gst.Pipeline) string {
	return p.DebugBinToDotData(gst.DebugGraphShowAll)
}

// RenderSVG renders a dot graph with graphviz's `dot`.
func RenderSVG(ctx context.Context, dot string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "dot", "-Tsvg")
	cmd.Stdin = bytes.NewReader([]byte(dot))
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("render pipeline graph with dot: %w: %s", err, stderr.String())
	}
	return out.Bytes(), nil
}
