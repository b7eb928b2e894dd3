package mocksfu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// counters of one track; read by Stats at any time.
type counters struct {
	produced, queueDrops, malformed atomic.Uint64
	mutedDrops, forwarded           atomic.Uint64
	lost, reordered, duplicated     atomic.Uint64
	sent, sentBytes, sendErrors     atomic.Uint64
	srs, byes, rrs, nacks           atomic.Uint64
	resent, resendLost, resendGone  atomic.Uint64
	plis, firs, firsIgnored, forced atomic.Uint64
	keyframes, frames               atomic.Uint64
	lastFractionLost, lastJitter    atomic.Uint32
}

// track is one RTP stream of a participant's stay. The first block is
// immutable after creation, atomics may be used from any goroutine, and the
// fields marked "send loop" belong to the session's send loop alone.
type track struct {
	id, participant, name, kind, codec, source string
	ssrc                                       uint32
	pt                                         uint8
	rtxSSRC                                    uint32 // 0: resend on ssrc
	rtxPT                                      uint8
	clock                                      uint32
	cname                                      string
	localAddr                                  string
	started                                    time.Time

	pipe *senderPipeline
	c    counters

	active  atomic.Bool
	muted   atomic.Bool
	waitKey atomic.Bool         // after unmute: drop until the next keyframe starts
	firSeq  atomic.Int32        // last FIR sequence number acted on (-1 = none)
	ended   atomic.Int64        // unix ns, 0 while active
	first   atomic.Int64        // unix ns of the first RTP packet sent, 0 before
	resW    atomic.Int32        // current video resolution
	resH    atomic.Int32        //
	emit    emitFunc            // send loop only
	imp     *impairer           // send loop only
	srRng   *rand.Rand          // send loop only
	nextSR  time.Time           // send loop only
	history [historySize][]byte // send loop only: forwarded packets by sequence number
	rtxRng  *rand.Rand          // send loop only: loss of resent packets
	rtxSeq  uint16              // send loop only: the RTX stream's next sequence number

	// send-loop state
	seqShift     uint16 // SFU-style sequence number rewriting across mute gaps
	haveTS       bool
	lastTS       uint32
	extTS        int64
	haveKey      bool
	lastKeyTS    uint32
	offMin       [2]int64 // min over the current/previous window of (send time - media time), ns since session t0
	offValid     [2]bool
	srPackets    uint32
	srOctets     uint32
	forwardedAny bool // any packet forwarded yet
}

type queuedPkt struct {
	t   *track
	b   []byte
	due time.Time
}

// nackReq asks the send loop to resend packets of t.
type nackReq struct {
	t    *track
	seqs []uint16
}

// historySize is how many forwarded packets of a track can be resent
// (~8 s of a 600 kbit/s camera).
const historySize = 512

type inPkt struct {
	t        *track
	b        []byte
	captured time.Time // when its media was captured (zero: unknown)
}

// session is one stay of a participant: one UDP socket, its tracks, their
// pipelines and the goroutines serving them. Owned by SFU.runParticipant,
// which ends it with stop.
type session struct {
	sfu   *SFU
	p     *participant
	stay  int
	log   *slog.Logger
	conn  *net.UDPConn
	dst   *net.UDPAddr
	t0    time.Time
	cname string

	tracks []*track
	bySSRC map[uint32]*track

	in       chan inPkt
	nacks    chan nackReq // readLoop → send loop
	closing  atomic.Bool  // set when the participant leaves: packets are no longer forwarded
	stopLoop chan struct{}
	loopDone chan struct{}
	readDone chan struct{}
	auxStop  chan struct{}
	auxWG    sync.WaitGroup

	failOnce sync.Once
	failed   chan struct{}
	failErr  error

	// send loop state
	now     time.Time
	queue   []queuedPkt
	lastDue time.Time
	timer   *time.Timer
}

func (s *session) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
	})
}

// newSession opens the socket and builds (but does not start) the pipelines.
func newSession(sfu *SFU, p *participant, stay int) (*session, error) {
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("participant %s: open UDP socket: %w", p.cfg.ID, err)
	}
	rng := sfu.rngFor("session", p.cfg.ID, fmt.Sprint(stay))
	s := &session{
		sfu:      sfu,
		p:        p,
		stay:     stay,
		conn:     conn,
		dst:      sfu.rtpAddr,
		t0:       time.Now(),
		cname:    randomCNAME(rng),
		bySSRC:   map[uint32]*track{},
		in:       make(chan inPkt, 1024),
		nacks:    make(chan nackReq, 64),
		stopLoop: make(chan struct{}),
		loopDone: make(chan struct{}),
		readDone: make(chan struct{}),
		auxStop:  make(chan struct{}),
		failed:   make(chan struct{}),
	}
	s.log = sfu.log.With("participant", p.cfg.ID, "stay", stay+1, "local", conn.LocalAddr().String())
	imp := sfu.cfg.Impairments
	if p.cfg.Impairments != nil {
		imp = *p.cfg.Impairments
	}
	add := func(kind, codec string) error {
		t := &track{
			id:          p.cfg.ID + "-" + kind,
			participant: p.cfg.ID,
			name:        p.cfg.Name,
			kind:        kind,
			codec:       codec,
			cname:       s.cname,
			localAddr:   conn.LocalAddr().String(),
			ssrc:        sfu.newSSRC(rng),
			started:     time.Now(),
			imp:         newImpairer(imp, rng.Uint64()),
			srRng:       rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())),
			rtxRng:      rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())),
		}
		t.firSeq.Store(-1)
		spec := pipeSpec{
			name:      t.id,
			kind:      kind,
			codec:     codec,
			label:     p.cfg.Name,
			index:     p.index,
			ssrc:      t.ssrc,
			seqOffset: uint16(rng.UintN(1 << 16)),
			tsOffset:  rng.Uint32(),
		}
		if kind == KindVideo && sfu.cfg.RTX {
			t.rtxSSRC, t.rtxPT, t.rtxSeq = sfu.newSSRC(rng), 97, uint16(rng.UintN(1<<16))
		}
		if kind == KindVideo {
			t.pt, t.clock, t.source = 96, 90000, "camera"
			spec.width, spec.height, spec.fps = sfu.cfg.Width, sfu.cfg.Height, sfu.cfg.FPS
			spec.bitrate = sfu.cfg.VideoBitrate
			spec.keyDist = max(1, int(sfu.cfg.KeyframeInterval.Seconds()*float64(sfu.cfg.FPS)))
			t.resW.Store(int32(spec.width))
			t.resH.Store(int32(spec.height))
		} else {
			t.pt, t.clock, t.source = 111, 48000, "microphone"
			spec.bitrate = sfu.cfg.AudioBitrate
			spec.dtx = sfu.cfg.DTX
		}
		spec.pt = t.pt
		pipe, err := newSenderPipeline(spec, func(b []byte, captured time.Time) {
			// Streaming thread: never block.
			if s.closing.Load() {
				return
			}
			select {
			case s.in <- inPkt{t: t, b: b, captured: captured}:
			default:
				t.c.queueDrops.Add(1)
			}
		})
		if err != nil {
			return err
		}
		t.pipe = pipe
		t.emit = func(pkt []byte, delay time.Duration) { s.enqueue(t, pkt, delay) }
		s.tracks = append(s.tracks, t)
		s.bySSRC[t.ssrc] = t
		return nil
	}
	var err2 error
	if p.cfg.Video != None {
		err2 = add(KindVideo, p.cfg.Video)
	}
	if err2 == nil && p.cfg.Audio != None {
		err2 = add(KindAudio, p.cfg.Audio)
	}
	if err2 != nil {
		s.stopPipelines()
		conn.Close()
		return nil, fmt.Errorf("participant %s: %w", p.cfg.ID, err2)
	}
	return s, nil
}

func randomCNAME(rng *rand.Rand) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, 16)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (s *session) track(kind string) *track {
	for _, t := range s.tracks {
		if t.kind == kind {
			return t
		}
	}
	return nil
}

// register creates the tracks on the server.
func (s *session) register(ctx context.Context) error {
	for _, t := range s.tracks {
		err := s.sfu.api.createTrack(ctx, s.sfu.cfg.Room, trackRequest{
			ID: t.id, Participant: t.participant, Kind: t.kind, Codec: t.codec, SSRC: t.ssrc,
			PayloadType: t.pt, ClockRate: t.clock, Source: t.source, Name: t.name,
			RTXSSRC: t.rtxSSRC, RTXPT: t.rtxPT,
		})
		if err != nil {
			return err
		}
		t.active.Store(true)
		s.log.Info("track created", "track", t.id, "codec", t.codec, "ssrc", t.ssrc)
	}
	return nil
}

// start starts the media and the goroutines of the session.
func (s *session) start() error {
	go s.sendLoop()
	go s.readLoop()
	for _, t := range s.tracks {
		if err := t.pipe.start(); err != nil {
			return err
		}
		if t.kind == KindVideo && s.sfu.cfg.ResolutionChange > 0 {
			s.auxWG.Add(1)
			go s.flipResolution(t)
		}
		if t.kind == KindAudio && s.sfu.cfg.DTX {
			s.auxWG.Add(1)
			go s.talkSpurts(t)
		}
	}
	return nil
}

// setMuted mutes/unmutes the track of kind: PATCH on the server, and no
// packets while muted. On unmute a video track waits for a keyframe (which it
// requests), as an SFU resuming forwarding does.
func (s *session) setMuted(ctx context.Context, kind string, muted bool) error {
	t := s.track(kind)
	if t == nil || t.muted.Load() == muted {
		return nil
	}
	if muted {
		t.muted.Store(true)
		if err := s.sfu.api.setMuted(ctx, s.sfu.cfg.Room, t.id, true); err != nil {
			return err
		}
	} else {
		if err := s.sfu.api.setMuted(ctx, s.sfu.cfg.Room, t.id, false); err != nil {
			return err
		}
		if t.kind == KindVideo {
			t.waitKey.Store(true)
			if t.pipe.forceKeyUnit() {
				t.c.forced.Add(1)
			}
		}
		t.muted.Store(false)
	}
	s.log.Info("track mute changed", "track", t.id, "muted", muted)
	return nil
}

// stop ends the stay like an SFU sees a participant leave: forwarding stops
// at once (RTCP BYE), then the tracks are DELETEd (if deleteTracks), and only
// then are the pipelines torn down (which can take a while on a busy
// machine) and the socket closed. Errors are logged.
func (s *session) stop(ctx context.Context, deleteTracks bool) {
	t0 := time.Now()
	s.closing.Store(true)
	close(s.auxStop)
	s.auxWG.Wait()
	close(s.stopLoop) // the loop flushes what it has, sends BYE and exits
	<-s.loopDone
	t1 := time.Now()
	for _, t := range s.tracks {
		t.ended.Store(time.Now().UnixNano())
		if deleteTracks && t.active.Load() {
			if err := s.sfu.api.deleteTrack(ctx, s.sfu.cfg.Room, t.id); err != nil {
				s.log.Warn("delete track failed", "track", t.id, "err", err)
			} else {
				s.log.Info("track deleted", "track", t.id)
			}
		}
		t.active.Store(false)
	}
	t2 := time.Now()
	s.stopPipelines()
	s.conn.Close()
	<-s.readDone
	s.log.Debug("session stopped", "forwarding", t1.Sub(t0), "api", t2.Sub(t1), "pipelines", time.Since(t2))
}

func (s *session) stopPipelines() {
	for _, t := range s.tracks {
		if t.pipe == nil {
			continue
		}
		if err := t.pipe.stop(15 * time.Second); err != nil {
			s.log.Warn("stop pipeline", "track", t.id, "err", err)
		}
	}
}

func (s *session) flipResolution(t *track) {
	defer s.auxWG.Done()
	tick := time.NewTicker(s.sfu.cfg.ResolutionChange)
	defer tick.Stop()
	full := true
	for {
		select {
		case <-s.auxStop:
			return
		case <-tick.C:
		}
		full = !full
		w, h := s.sfu.cfg.Width, s.sfu.cfg.Height
		if !full {
			w, h = even(w/2), even(h/2)
		}
		if err := t.pipe.setResolution(w, h); err != nil {
			s.log.Warn("resolution change failed", "track", t.id, "err", err)
			continue
		}
		t.resW.Store(int32(w))
		t.resH.Store(int32(h))
		s.log.Info("resolution changed", "track", t.id, "width", w, "height", h)
	}
}

func even(v int) int { return max(2, v&^1) }

// talkSpurts alternates ~1.5 s of tone with ~1.5 s of silence so Opus DTX
// has gaps to suppress.
func (s *session) talkSpurts(t *track) {
	defer s.auxWG.Done()
	on := true
	for {
		select {
		case <-s.auxStop:
			return
		case <-time.After(1500 * time.Millisecond):
		}
		on = !on
		v := 0.0
		if on {
			v = 0.4
		}
		if err := t.pipe.setVolume(v); err != nil {
			s.log.Warn("set volume failed", "track", t.id, "err", err)
		}
	}
}

// ---- send path (single goroutine) ----

const srInterval = time.Second

func (s *session) sendLoop() {
	defer close(s.loopDone)
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	defer s.timer.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, t := range s.tracks {
		t.nextSR = time.Now().Add(time.Duration(t.srRng.Int64N(int64(srInterval))))
	}
	ticks := 0
	for {
		select {
		case <-s.stopLoop:
			s.now = time.Now()
			for _, t := range s.tracks {
				t.imp.flush(s.now, 0, t.emit)
			}
			for _, q := range s.queue {
				s.write(q.t, q.b)
			}
			s.queue = nil
			s.sendBye()
			return
		case p := <-s.in:
			s.now = time.Now()
			s.forward(p)
		case r := <-s.nacks:
			s.now = time.Now()
			s.resend(r)
		case <-s.timer.C:
			s.now = time.Now()
			s.flushQueue()
		case <-tick.C:
			s.now = time.Now()
			if ticks++; ticks%10 == 0 {
				for _, t := range s.tracks {
					if err := t.pipe.pollBus(); err != nil {
						s.fail(err)
					}
				}
			}
			for _, t := range s.tracks {
				t.imp.flush(s.now, maxHold, t.emit)
				s.syncImpairCounters(t)
				if !s.now.Before(t.nextSR) {
					t.nextSR = s.now.Add(srInterval*9/10 + time.Duration(t.srRng.Int64N(int64(srInterval/5))))
					s.sendSR(t)
				}
			}
		}
	}
}

func (s *session) syncImpairCounters(t *track) {
	t.c.lost.Store(t.imp.lost)
	t.c.reordered.Store(t.imp.reordered)
	t.c.duplicated.Store(t.imp.duplicated)
}

// forward does what an SFU does with a packet from the publisher (drop while
// muted or waiting for a keyframe, rewrite sequence numbers so the forwarded
// stream has no gaps), then hands it to the impairments.
func (s *session) forward(p inPkt) {
	t := p.t
	t.c.produced.Add(1)
	f, err := parseRTP(p.b)
	if err != nil {
		t.c.malformed.Add(1)
		return
	}
	payload := p.b[f.headerLen : f.headerLen+f.payloadLen]
	if t.codec == AudioOpus && t.c.produced.Load() == 1 {
		// opusenc's first packet is shortened by the encoder lookahead
		// (13.5 ms), giving a 648-tick timestamp step no browser produces:
		// drop it so every step is a multiple of 960.
		t.seqShift++
		return
	}
	if t.muted.Load() {
		t.seqShift++
		t.c.mutedDrops.Add(1)
		return
	}
	if t.waitKey.Load() {
		if !isKeyframeStart(t.codec, payload) {
			t.seqShift++
			t.c.mutedDrops.Add(1)
			return
		}
		t.waitKey.Store(false)
	}
	if t.seqShift != 0 {
		binary.BigEndian.PutUint16(p.b[2:], f.seq-t.seqShift)
	}
	t.c.forwarded.Add(1)
	if t.kind == KindVideo && p.b[1]&0x80 != 0 { // the marker ends a frame
		t.c.frames.Add(1)
	}
	t.forwardedAny = true
	t.srPackets++
	t.srOctets += uint32(f.payloadLen)

	// NTP<->RTP mapping, as a browser's: the media's capture time minus its
	// media time, the same for every packet. Without a capture time, each
	// packet's send time gives an estimate, and the smallest over the last
	// ~2 s is the one with the least encoder/scheduling delay; but a busy
	// encoder's delay moves from one window to the next, and the receiver
	// would see the sender's clock jump by as much.
	if !t.haveTS {
		t.extTS, t.haveTS = int64(f.ts), true
	} else {
		t.extTS += int64(int32(f.ts - t.lastTS)) // unwraps the 32-bit timestamp
	}
	t.lastTS = f.ts
	at := s.now
	if !p.captured.IsZero() {
		at = p.captured
	}
	if off := int64(at.Sub(s.t0)) - mediaNanos(t.extTS, t.clock); !t.offValid[0] || off < t.offMin[0] {
		t.offMin[0], t.offValid[0] = off, true
	}

	if t.kind == KindVideo && isKeyframeStart(t.codec, payload) && (!t.haveKey || f.ts != t.lastKeyTS) {
		t.haveKey, t.lastKeyTS = true, f.ts
		t.c.keyframes.Add(1)
	}
	t.history[(f.seq-t.seqShift)%historySize] = p.b
	t.imp.push(p.b, s.now, t.emit)
	s.syncImpairCounters(t)
}

// resend sends again the packets a NACK asked for that are still in the
// track's history, each subject to the loss impairment as the original was.
func (s *session) resend(r nackReq) {
	t := r.t
	for _, seq := range r.seqs {
		pkt := t.history[seq%historySize]
		if pkt == nil || binary.BigEndian.Uint16(pkt[2:4]) != seq {
			t.c.resendGone.Add(1)
			continue
		}
		if t.rtxRng.Float64()*100 < t.imp.cfg.Loss {
			t.c.resendLost.Add(1)
			continue
		}
		t.c.resent.Add(1)
		if t.rtxSSRC != 0 {
			pkt = t.rtxPacket(pkt)
		}
		s.enqueue(t, pkt, 0)
	}
}

// rtxPacket wraps a forwarded packet for the RTX stream (RFC 4588): the
// original sequence number goes before the payload; the RTX stream's own
// SSRC, payload type and next sequence number replace the original's.
// Send loop only.
func (t *track) rtxPacket(pkt []byte) []byte {
	f, err := parseRTP(pkt)
	if err != nil {
		return pkt
	}
	out := make([]byte, 0, len(pkt)+2)
	out = append(out, pkt[:f.headerLen]...)
	out = append(out, pkt[2], pkt[3])
	out = append(out, pkt[f.headerLen:]...)
	binary.BigEndian.PutUint16(out[2:4], t.rtxSeq)
	t.rtxSeq++
	binary.BigEndian.PutUint32(out[8:12], t.rtxSSRC)
	out[1] = out[1]&0x80 | t.rtxPT
	return out
}

// mediaNanos converts a media timestamp to nanoseconds without overflow.
func mediaNanos(ts int64, clock uint32) int64 {
	c := int64(clock)
	return ts/c*1e9 + ts%c*1e9/c
}

// enqueue sends pkt after delay, never before a packet queued earlier
// (jitter without reordering, like a queue in the network).
func (s *session) enqueue(t *track, pkt []byte, delay time.Duration) {
	due := s.now.Add(delay)
	if due.Before(s.lastDue) {
		due = s.lastDue
	}
	s.lastDue = due
	if len(s.queue) == 0 && !due.After(s.now) {
		s.write(t, pkt)
		return
	}
	s.queue = append(s.queue, queuedPkt{t: t, b: pkt, due: due})
	if len(s.queue) == 1 {
		s.timer.Reset(due.Sub(s.now))
	}
}

func (s *session) flushQueue() {
	i := 0
	for ; i < len(s.queue) && !s.queue[i].due.After(s.now); i++ {
		s.write(s.queue[i].t, s.queue[i].b)
		s.queue[i] = queuedPkt{}
	}
	s.queue = s.queue[i:]
	if len(s.queue) > 0 {
		s.timer.Reset(s.queue[0].due.Sub(s.now))
	}
}

func (s *session) write(t *track, pkt []byte) {
	if _, err := s.conn.WriteToUDP(pkt, s.dst); err != nil {
		if t.c.sendErrors.Add(1) == 1 {
			s.log.Warn("RTP send failed", "track", t.id, "err", err)
		}
		return
	}
	if t.c.sent.Add(1) == 1 {
		t.first.CompareAndSwap(0, time.Now().UnixNano())
	}
	t.c.sentBytes.Add(uint64(len(pkt)))
}

// rtpNow is the RTP timestamp corresponding to now, from the send-time
// mapping (false if there is none yet).
func (s *session) rtpNow(t *track, now time.Time) (uint32, bool) {
	off, ok := t.offMin[0], t.offValid[0]
	if t.offValid[1] && (!ok || t.offMin[1] < off) {
		off, ok = t.offMin[1], true
	}
	if !ok {
		return 0, false
	}
	media := int64(now.Sub(s.t0)) - off // ns of media time
	ticks := media/1e9*int64(t.clock) + media%1e9*int64(t.clock)/1e9
	return uint32(ticks), true
}

func (s *session) senderReport(t *track, now time.Time) rtcp.Packet {
	rtpTS, ok := s.rtpNow(t, now)
	if !ok || !t.forwardedAny {
		return &rtcp.ReceiverReport{SSRC: t.ssrc}
	}
	return &rtcp.SenderReport{
		SSRC:        t.ssrc,
		NTPTime:     toNTP(now),
		RTPTime:     rtpTS,
		PacketCount: t.srPackets,
		OctetCount:  t.srOctets,
	}
}

// sendSR sends SR + SDES CNAME for a track (not while muted, not before the
// first packet). RTCP is not impaired.
func (s *session) sendSR(t *track) {
	if t.muted.Load() || !t.forwardedAny {
		return
	}
	now := time.Now()
	sr := s.senderReport(t, now)
	// rotate the mapping window: keep this and the previous interval
	t.offMin[1], t.offValid[1] = t.offMin[0], t.offValid[0]
	t.offValid[0] = false
	s.sendRTCP(t, sr, rtcp.NewCNAMESourceDescription(t.ssrc, t.cname))
	t.c.srs.Add(1)
}

func (s *session) sendBye() {
	now := time.Now()
	for _, t := range s.tracks {
		s.sendRTCP(t, s.senderReport(t, now), rtcp.NewCNAMESourceDescription(t.ssrc, t.cname),
			&rtcp.Goodbye{Sources: []uint32{t.ssrc}, Reason: "participant left"})
		t.c.byes.Add(1)
	}
}

func (s *session) sendRTCP(t *track, pkts ...rtcp.Packet) {
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		s.log.Warn("marshal RTCP", "track", t.id, "err", err)
		return
	}
	if _, err := s.conn.WriteToUDP(b, s.dst); err != nil {
		s.log.Debug("RTCP send failed", "track", t.id, "err", err)
	}
}

// toNTP converts a wall-clock time to a 64-bit NTP timestamp.
func toNTP(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // 1900-01-01 to 1970-01-01 in seconds
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return secs<<32 | frac
}

// ---- receive path ----

// readLoop reads the RTCP the server sends to the participant's socket until
// the socket is closed.
func (s *session) readLoop() {
	defer close(s.readDone)
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("read", "err", err)
			continue
		}
		b := buf[:n]
		// RFC 5761: RTCP packet types 192..223 in the second byte.
		if n < 8 || b[1] < 192 || b[1] > 223 {
			s.log.Debug("ignoring non-RTCP datagram", "from", from, "len", n)
			continue
		}
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			s.log.Debug("bad RTCP", "from", from, "err", err)
			continue
		}
		for _, p := range pkts {
			s.handleRTCP(p)
		}
	}
}

func (s *session) handleRTCP(p rtcp.Packet) {
	switch p := p.(type) {
	case *rtcp.PictureLossIndication:
		if t := s.bySSRC[p.MediaSSRC]; t != nil {
			t.c.plis.Add(1)
			s.keyframeRequest(t, "PLI")
		}
	case *rtcp.FullIntraRequest:
		for _, e := range p.FIR {
			t := s.bySSRC[e.SSRC]
			if t == nil {
				continue
			}
			t.c.firs.Add(1)
			// RFC 5104 4.3.1.2: a repeated sequence number is a retransmission.
			if t.firSeq.Swap(int32(e.SequenceNumber)) == int32(e.SequenceNumber) {
				t.c.firsIgnored.Add(1)
				continue
			}
			s.keyframeRequest(t, "FIR")
		}
	case *rtcp.ReceiverReport:
		s.receptionReports(p.Reports)
	case *rtcp.SenderReport:
		s.receptionReports(p.Reports)
	case *rtcp.TransportLayerNack:
		if t := s.bySSRC[p.MediaSSRC]; t != nil {
			var seqs []uint16
			for _, n := range p.Nacks {
				seqs = append(seqs, n.PacketList()...)
			}
			t.c.nacks.Add(uint64(len(seqs)))
			if s.sfu.cfg.NoRetransmit || s.closing.Load() {
				break
			}
			select {
			case s.nacks <- nackReq{t: t, seqs: seqs}:
			default:
				t.c.resendGone.Add(uint64(len(seqs)))
			}
		}
	}
}

func (s *session) receptionReports(rr []rtcp.ReceptionReport) {
	for _, r := range rr {
		if t := s.bySSRC[r.SSRC]; t != nil {
			t.c.rrs.Add(1)
			t.c.lastFractionLost.Store(uint32(r.FractionLost))
			t.c.lastJitter.Store(r.Jitter)
		}
	}
}

func (s *session) keyframeRequest(t *track, why string) {
	if t.kind != KindVideo || s.closing.Load() {
		return
	}
	if t.pipe.forceKeyUnit() {
		t.c.forced.Add(1)
		s.log.Debug("keyframe forced", "track", t.id, "by", why)
	} else {
		s.log.Warn("encoder refused force-key-unit", "track", t.id, "by", why)
	}
}
