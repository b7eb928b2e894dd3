package mocksfu

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// SFU is a mock SFU. Create it with New, run it once with Run; Stats may be
// called at any time from any goroutine.
type SFU struct {
	cfg     Config
	log     *slog.Logger
	api     *apiClient
	ownHTTP bool // the HTTP client is ours: close its idle connections after Run
	seed    uint64
	seeded  bool
	ran     atomic.Bool

	mu          sync.Mutex
	rtpAddr     *net.UDPAddr // set by Run before any session starts
	tracks      []*track     // every track of every stay, in creation order
	ssrcs       map[uint32]bool
	recordingID string
	parts       []*participant

	errOnce sync.Once
	errc    chan struct{}
	err     error
}

type participant struct {
	cfg   ParticipantConfig
	index int

	mu    sync.Mutex
	sess  *session
	muted map[string]bool // desired mute state by kind
}

// New validates cfg, fills in defaults and returns an SFU. It does no I/O.
func New(cfg Config) (*SFU, error) {
	cfg.Participants = slices.Clone(cfg.Participants)
	ownHTTP := cfg.HTTPClient == nil
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("mocksfu: %w", err)
	}
	s := &SFU{
		cfg:     cfg,
		log:     cfg.Logger,
		api:     &apiClient{base: cfg.Server, hc: cfg.HTTPClient},
		ssrcs:   map[uint32]bool{},
		errc:    make(chan struct{}),
		ownHTTP: ownHTTP,
	}
	if cfg.Seed != 0 {
		s.seed, s.seeded = uint64(cfg.Seed), true
	} else {
		s.seed = rand.Uint64()
	}
	for i, pc := range cfg.Participants {
		if pr, ok := cfg.Schedule[pc.ID]; ok {
			pc.Presence = pr
		}
		s.parts = append(s.parts, &participant{cfg: pc, index: i, muted: map[string]bool{}})
	}
	return s, nil
}

// rngFor returns a random source derived from the seed and names (so the
// same seed gives the same SSRCs/offsets/decisions per participant).
func (s *SFU) rngFor(names ...string) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprint(h, s.seed, "\x00", s.cfg.Room)
	for _, n := range names {
		fmt.Fprint(h, "\x00", n)
	}
	v := h.Sum64()
	return rand.New(rand.NewPCG(v, v^s.seed))
}

// newSSRC returns a non-zero SSRC unique within this SFU.
func (s *SFU) newSSRC(rng *rand.Rand) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		v := rng.Uint32()
		if v != 0 && !s.ssrcs[v] {
			s.ssrcs[v] = true
			return v
		}
	}
}

func (s *SFU) fail(err error) {
	s.errOnce.Do(func() {
		s.err = err
		close(s.errc)
	})
}

// Run creates the room, brings participants in and out according to the
// schedule, and sends media until ctx is done, Duration has passed or an
// error occurs (an API error, a pipeline error). On return every pipeline is
// stopped, the recording (if any) is deleted and the tracks are deleted
// unless KeepTracks is set. It returns nil when ended by ctx or Duration.
// Run can be called only once.
func (s *SFU) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("mocksfu: Run called twice")
	}
	initGStreamer()
	room, err := s.api.ensureRoom(ctx, s.cfg.Room)
	if err != nil {
		return err
	}
	addr, err := s.resolveRTP(room)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.rtpAddr = addr
	s.mu.Unlock()
	s.log.Info("room ready", "room", s.cfg.Room, "rtp", s.rtpAddr.String())

	// Participants run on their own context so that on shutdown the
	// recording is stopped while media still flows, and only then do they leave.
	pctx, stopParticipants := context.WithCancel(context.WithoutCancel(ctx))
	defer stopParticipants()
	start := time.Now()
	var wg, initial sync.WaitGroup
	for _, p := range s.parts {
		first := len(p.cfg.Presence) == 0 || p.cfg.Presence[0].Join == 0
		if first {
			initial.Add(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runParticipant(pctx, p, start, first, &initial)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.runMutes(pctx, start)
	}()
	ready := make(chan struct{})
	go func() { initial.Wait(); close(ready) }()

	var durC <-chan time.Time
	if s.cfg.Duration > 0 {
		tm := time.NewTimer(s.cfg.Duration)
		defer tm.Stop()
		durC = tm.C
	}
	running := true
	select {
	case <-ready:
	case <-ctx.Done():
		running = false
	case <-durC:
		running = false
	case <-s.errc:
		running = false
	}
	if running && s.cfg.Record {
		id, err := s.api.startRecording(ctx, s.cfg.Room)
		if err != nil {
			s.fail(err)
		} else {
			s.mu.Lock()
			s.recordingID = id
			s.mu.Unlock()
			s.log.Info("recording started", "recording", id)
		}
	}
	if running {
		select {
		case <-ctx.Done():
		case <-durC:
		case <-s.errc:
		}
	}

	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	s.mu.Lock()
	recID := s.recordingID
	s.mu.Unlock()
	if recID != "" {
		if err := s.api.stopRecording(cleanup, s.cfg.Room, recID); err != nil {
			s.log.Warn("stop recording failed", "err", err)
			s.fail(err)
		} else {
			s.log.Info("recording stopped", "recording", recID)
		}
	}
	stopParticipants()
	wg.Wait()
	if s.ownHTTP {
		s.cfg.HTTPClient.CloseIdleConnections()
	}
	select {
	case <-s.errc:
		return s.err
	default:
		return nil
	}
}

// resolveRTP turns the room's rtp host/port into a UDP address; an empty or
// unspecified host means "the API server's host".
func (s *SFU) resolveRTP(room *roomInfo) (*net.UDPAddr, error) {
	if room.RTP.Port <= 0 || room.RTP.Port > 65535 {
		return nil, fmt.Errorf("room %q: invalid rtp port %d", s.cfg.Room, room.RTP.Port)
	}
	host := room.RTP.Host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		u, err := url.Parse(s.cfg.Server)
		if err != nil {
			return nil, err
		}
		host = u.Hostname()
	}
	addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, strconv.Itoa(room.RTP.Port)))
	if err != nil {
		return nil, fmt.Errorf("room %q: resolve rtp address: %w", s.cfg.Room, err)
	}
	return addr, nil
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// runParticipant owns the participant's sessions (stays) until ctx is done.
func (s *SFU) runParticipant(ctx context.Context, p *participant, start time.Time, first bool, initial *sync.WaitGroup) {
	markReady := func() {
		if first {
			first = false
			initial.Done()
		}
	}
	defer markReady()
	stays := p.cfg.Presence
	if len(stays) == 0 {
		stays = []Presence{{}}
	}
	for i, w := range stays {
		if !sleepUntil(ctx, start.Add(w.Join)) {
			return
		}
		sess, err := s.join(ctx, p, i)
		markReady()
		if err != nil {
			if ctx.Err() == nil { // not just interrupted by the shutdown
				s.fail(err)
			}
			return
		}
		var leaveC <-chan time.Time
		if w.Leave > 0 {
			tm := time.NewTimer(time.Until(start.Add(w.Leave)))
			leaveC = tm.C
			defer tm.Stop()
		}
		shutdown := false
		select {
		case <-ctx.Done():
			shutdown = true
		case <-leaveC:
		case <-sess.failed:
			s.fail(sess.failErr)
		}
		s.leave(p, sess, !(shutdown && s.cfg.KeepTracks))
		if shutdown {
			return
		}
	}
}

// join starts a stay: tracks created on the server, mute state applied, then
// media started.
func (s *SFU) join(ctx context.Context, p *participant, stay int) (*session, error) {
	sess, err := newSession(s, p, stay)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.tracks = append(s.tracks, sess.tracks...)
	s.mu.Unlock()
	fail := func(err error) (*session, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		sess.stopPipelines()
		for _, t := range sess.tracks {
			if t.active.Load() {
				if derr := s.api.deleteTrack(cctx, s.cfg.Room, t.id); derr != nil {
					sess.log.Warn("delete track failed", "track", t.id, "err", derr)
				}
				t.active.Store(false)
			}
			t.ended.Store(time.Now().UnixNano())
		}
		sess.conn.Close()
		return nil, err
	}
	if err := sess.register(ctx); err != nil {
		return fail(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for kind, m := range p.muted {
		if m {
			if err := sess.setMuted(ctx, kind, true); err != nil {
				return fail(err)
			}
		}
	}
	if err := sess.start(); err != nil {
		// start launched the loops; stop them properly.
		sess.stop(context.WithoutCancel(ctx), true)
		return nil, err
	}
	p.sess = sess
	sess.log.Info("participant joined", "tracks", len(sess.tracks))
	return sess, nil
}

func (s *SFU) leave(p *participant, sess *session, deleteTracks bool) {
	p.mu.Lock()
	p.sess = nil
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess.stop(ctx, deleteTracks)
	sess.log.Info("participant left")
}

type muteEvent struct {
	at    time.Duration
	p     *participant
	kind  string
	muted bool
}

// runMutes applies the mute windows at their times.
func (s *SFU) runMutes(ctx context.Context, start time.Time) {
	var evs []muteEvent
	for _, m := range s.cfg.Mutes {
		p := s.participant(m.Participant)
		evs = append(evs, muteEvent{m.From, p, m.Kind, true})
		if m.To > 0 {
			evs = append(evs, muteEvent{m.To, p, m.Kind, false})
		}
	}
	slices.SortStableFunc(evs, func(a, b muteEvent) int { return cmp.Compare(a.at, b.at) })
	for _, ev := range evs {
		if !sleepUntil(ctx, start.Add(ev.at)) {
			return
		}
		ev.p.mu.Lock()
		ev.p.muted[ev.kind] = ev.muted
		var err error
		if ev.p.sess != nil {
			err = ev.p.sess.setMuted(ctx, ev.kind, ev.muted)
		}
		ev.p.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			s.fail(err)
			return
		}
	}
}

func (s *SFU) participant(id string) *participant {
	for _, p := range s.parts {
		if p.cfg.ID == id {
			return p
		}
	}
	return nil
}
