package live

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// Output states.
const (
	StateStarting = "starting" // building the pipeline / connecting
	StateLive     = "live"     // media reaches the destination
	StateRetrying = "retrying" // the last attempt failed; waiting to retry
	StateStopped  = "stopped"
)

// Status is an output's state for the API.
type Status struct {
	State string `json:"state"`
	// Error is the last failure (kept while live again, until the next one).
	Error       string     `json:"error,omitempty"`
	Attempts    int        `json:"attempts"`
	LiveSince   *time.Time `json:"live_since,omitempty"`
	NextRetryMS int64      `json:"next_retry_ms,omitempty"`
	// KeyframeRequests counts PLI/FIR received from an RTP receiver.
	KeyframeRequests uint64 `json:"keyframe_requests,omitempty"`
	// BytesOut counts what left the pipeline (RTP: datagrams sent; others:
	// bytes handed to the sink element).
	BytesOut uint64 `json:"bytes_out"`
}

// Config configures an Output.
type Config struct {
	Name string // element name prefix, unique per process for clarity
	Spec Spec   // normalized
	// Video and Audio feed the output; both are required.
	Video, Audio *Feed
	// RequestKeyframe asks the video encoder for a keyframe (each new
	// attempt starts on one; RTP receivers ask through PLI/FIR).
	RequestKeyframe func()
	// OnChange is called (from the output's goroutine) after each state change.
	OnChange func(Status)
	Backoff  Backoff // zero: DefaultBackoff
	Logger   *slog.Logger
}

// Output is one running destination.
type Output struct {
	cfg  Config
	log  *slog.Logger
	inst atomic.Pointer[instance]
	rtp  *rtpConn // RTP only: the socket, kept across attempts

	mu     sync.Mutex
	status Status

	kfLast  atomic.Int64 // unix ns of the last keyframe request
	kfCount atomic.Uint64

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start runs an output until Stop. It fails only for a bad configuration;
// a destination that cannot be reached is retried in the background.
func Start(cfg Config) (*Output, error) {
	if cfg.Video == nil || cfg.Audio == nil {
		return nil, errors.New("live: output needs a video and an audio feed")
	}
	if err := cfg.Spec.Normalize(); err != nil {
		return nil, err
	}
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RequestKeyframe == nil {
		cfg.RequestKeyframe = func() {}
	}
	o := &Output{cfg: cfg, log: cfg.Logger.With("output", cfg.Name, "type", cfg.Spec.Type, "target", cfg.Spec.Target()),
		status: Status{State: StateStarting}, stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.Spec.Type == TypeRTP {
		c, err := newRTPConn(cfg.Spec, o.keyframeFromReceiver)
		if err != nil {
			return nil, err
		}
		o.rtp = c
	}
	cfg.Video.subscribe(o)
	cfg.Audio.subscribe(o)
	go o.run()
	return o, nil
}

// Status returns the current state.
func (o *Output) Status() Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.status
	st.KeyframeRequests = o.kfCount.Load()
	if in := o.inst.Load(); in != nil {
		st.BytesOut = in.bytesOut()
	}
	if o.rtp != nil {
		st.BytesOut = o.rtp.sent.Load()
	}
	return st
}

// LocalPort is the UDP port an RTP output sends from (0 for other types):
// receivers send their RTCP there.
func (o *Output) LocalPort() int {
	if o.rtp == nil {
		return 0
	}
	return o.rtp.localPort()
}

// Stop ends the output: the current attempt is finished cleanly (EOS, so
// an HLS playlist is closed) and everything is freed. Idempotent.
func (o *Output) Stop() {
	o.once.Do(func() {
		o.cfg.Video.unsubscribe(o)
		o.cfg.Audio.unsubscribe(o)
		close(o.stop)
		<-o.done
		if o.rtp != nil {
			o.rtp.close()
		}
	})
}

func (o *Output) receive(k Kind, caps *gst.Caps, buf *gst.Buffer, rt int64) {
	if in := o.inst.Load(); in != nil {
		in.push(k, caps, buf, rt)
	}
}

func (o *Output) update(f func(*Status)) {
	o.mu.Lock()
	f(&o.status)
	st := o.status
	o.mu.Unlock()
	st.KeyframeRequests = o.kfCount.Load()
	if o.cfg.OnChange != nil {
		o.cfg.OnChange(st)
	}
}

// requestKeyframe asks the encoder for a keyframe, at most every 300 ms.
func (o *Output) requestKeyframe() {
	now := time.Now().UnixNano()
	last := o.kfLast.Load()
	if now-last < int64(300*time.Millisecond) || !o.kfLast.CompareAndSwap(last, now) {
		return
	}
	o.cfg.RequestKeyframe()
}

func (o *Output) keyframeFromReceiver() {
	o.kfCount.Add(1)
	o.requestKeyframe()
}

func (o *Output) stopped() bool {
	select {
	case <-o.stop:
		return true
	default:
		return false
	}
}

// run is the output's owner goroutine: attempt, watch, back off, again.
func (o *Output) run() {
	defer close(o.done)
	var delay time.Duration
	for attempt := 1; ; attempt++ {
		o.update(func(s *Status) { s.Attempts, s.NextRetryMS = attempt, 0 })
		began := time.Now()
		in, err := build(o)
		if err == nil {
			o.inst.Store(in)
			o.requestKeyframe()
			err = o.watch(in)
			o.inst.Store(nil)
			in.close(o.stopped())
		}
		if o.stopped() {
			o.update(func(s *Status) { s.State, s.LiveSince = StateStopped, nil })
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		if time.Since(began) >= o.cfg.Backoff.Healthy {
			delay = 0
		}
		delay = o.cfg.Backoff.next(delay)
		o.log.Warn("live output failed; retrying", "error", err, "attempt", attempt, "retry_in", delay)
		o.update(func(s *Status) {
			s.State, s.Error, s.LiveSince, s.NextRetryMS = StateRetrying, err.Error(), nil, delay.Milliseconds()
		})
		select {
		case <-o.stop:
			o.update(func(s *Status) { s.State, s.NextRetryMS = StateStopped, 0 })
			return
		case <-time.After(delay):
		}
	}
}

// watch follows one attempt until it fails or the output stops (nil).
func (o *Output) watch(in *instance) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	live := false
	for {
		select {
		case <-o.stop:
			return nil
		case err := <-in.errs:
			return err
		case <-tick.C:
			if !live && in.delivering() {
				live = true
				now := time.Now().UTC()
				o.log.Info("live output connected")
				o.update(func(s *Status) { s.State, s.LiveSince = StateLive, &now })
			}
			if !live {
				o.requestKeyframe() // waiting for the first keyframe
				if o.statusState() != StateStarting {
					o.update(func(s *Status) { s.State = StateStarting })
				}
			}
		}
	}
}

func (o *Output) statusState() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.status.State
}

// errorf builds an attempt error.
func errorf(format string, a ...any) error { return fmt.Errorf("live: "+format, a...) }
