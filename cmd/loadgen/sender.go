package main

import (
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// TrackSpec is one track to send.
type TrackSpec struct {
	SSRC        uint32 `json:"ssrc"`
	PayloadType uint8  `json:"payload_type"`
	Kind        string `json:"kind"` // audio or video
	Dest        string `json:"dest"` // host:port
	// Group picks the sending socket: tracks of one group always leave from
	// the same socket (default: Dest). A server learns each track's source
	// from its first packet, so a track must never change socket.
	Group string `json:"group,omitempty"`
	CNAME string `json:"cname,omitempty"`
	// MediaFile names a media file (loadgen encode/packetize) this track
	// replays instead of the default one; send loads it into media.
	MediaFile string `json:"media,omitempty"`
	// HoldFirst sends the track's first packet this much late and the ones
	// due meanwhile in a burst after it, as a sender whose encoder starts
	// up slowly does (the receiver's timeline is anchored on that late
	// first packet).
	HoldFirst Duration `json:"hold_first,omitempty"`
	media     *Media
}

// Duration is a time.Duration that JSON spells as Go does ("300ms").
type Duration time.Duration

// UnmarshalJSON reads "300ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"300ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("duration %q: want a non-negative Go duration like \"300ms\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes "300ms".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// SendOptions configure a replay.
type SendOptions struct {
	Duration time.Duration
	// Stagger spreads track starts uniformly over this span so keyframes and
	// packet bursts of different tracks do not line up.
	Stagger      time.Duration
	Workers      int
	RTCPInterval time.Duration // 0 = no sender reports
	Batch        int           // datagrams per sendmmsg
	Seed         uint64
}

// TrackResult is what was sent for one track.
type TrackResult struct {
	SSRC    uint32  `json:"ssrc"`
	Kind    string  `json:"kind"`
	Dest    string  `json:"dest"`
	Packets uint64  `json:"packets"`
	Bytes   uint64  `json:"bytes"`
	Frames  uint64  `json:"frames"`   // media frames (RTP timestamps) sent
	MediaS  float64 `json:"media_s"`  // media time covered, first to last frame plus one frame
	FirstMS float64 `json:"first_ms"` // send time of the first packet after start
	LastMS  float64 `json:"last_ms"`
}

// Result is what `loadgen send` prints.
type Result struct {
	Tracks       int               `json:"tracks"`
	DurationS    float64           `json:"duration_s"`
	Datagrams    uint64            `json:"datagrams"` // RTP + RTCP
	Packets      uint64            `json:"packets"`   // RTP
	Bytes        uint64            `json:"bytes"`     // RTP, headers included
	RTCPSent     uint64            `json:"rtcp_sent"`
	RTCPReceived uint64            `json:"rtcp_received"` // feedback from the server (RR, PLI…)
	SendErrors   uint64            `json:"send_errors"`
	BitrateMbps  float64           `json:"bitrate_mbps"`
	LagMS        LagStats          `json:"lag_ms"` // how late packets left versus their schedule
	CPUS         float64           `json:"cpu_s"`
	ByDest       map[string]uint64 `json:"by_dest"` // datagrams per destination
	PerTrack     []TrackResult     `json:"per_track"`
}

// LagStats summarise send lateness.
type LagStats struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Over float64 `json:"over_10ms_pct"`
}

// lagHist is a histogram of send lateness in 100 µs buckets up to 1 s.
type lagHist struct {
	b   [10001]uint64
	n   uint64
	max time.Duration
}

func (h *lagHist) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := int(d / (100 * time.Microsecond))
	if i >= len(h.b) {
		i = len(h.b) - 1
	}
	h.b[i]++
	h.n++
	h.max = max(h.max, d)
}

func (h *lagHist) merge(o *lagHist) {
	for i, v := range o.b {
		h.b[i] += v
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

func (h *lagHist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	want := uint64(q * float64(h.n))
	var acc uint64
	for i, v := range h.b {
		acc += v
		if acc > want {
			return float64(i) * 0.1
		}
	}
	return float64(len(h.b)-1) * 0.1
}

func (h *lagHist) stats() LagStats {
	var over uint64
	for i := 100; i < len(h.b); i++ { // ≥ 10 ms
		over += h.b[i]
	}
	s := LagStats{P50: h.quantile(0.5), P99: h.quantile(0.99), Max: float64(h.max) / 1e6}
	if h.n > 0 {
		s.Over = 100 * float64(over) / float64(h.n)
	}
	return s
}

// track is the replay state of one track.
type track struct {
	spec   TrackSpec
	st     *Stream
	dest   *net.UDPAddr
	destS  string
	sock   *socket
	start  time.Time // when packet 0 of loop 0 is due
	loop   int
	idx    int
	due    time.Time
	heapAt int

	seqBase uint16
	tsBase  uint32
	picBase uint16

	packets, bytes, payloadBytes, frames, rtcp uint64
	lastFramePos                               time.Duration // media position of the last frame sent
	firstPos                                   time.Duration
	first, last                                time.Time
	lastTS                                     uint32
	sent                                       bool
}

// pos is the media position of the next packet.
func (t *track) pos() time.Duration {
	return time.Duration(t.loop)*t.st.Loop + t.st.Packets[t.idx].At
}

func (t *track) schedule() {
	t.due = t.start.Add(t.pos())
	if !t.sent {
		t.due = t.due.Add(time.Duration(t.spec.HoldFirst))
	}
}

// build writes the next packet of t into buf and advances t.
func (t *track) build(buf []byte) int {
	p := &t.st.Packets[t.idx]
	n := copy(buf, p.Data)
	seq := t.seqBase + uint16(t.loop*len(t.st.Packets)+t.idx)
	ts := t.tsBase + uint32(t.loop)*t.st.LoopTS + p.TSRel
	buf[1] = buf[1]&0x80 | t.spec.PayloadType&0x7f
	binary.BigEndian.PutUint16(buf[2:], seq)
	binary.BigEndian.PutUint32(buf[4:], ts)
	binary.BigEndian.PutUint32(buf[8:], t.spec.SSRC)
	if p.PicOff > 0 && t.st.Pictures > 0 {
		pid := (uint32(t.picBase) + uint32(t.loop)*uint32(t.st.Pictures) + uint32(p.PicRel)) & 0x7fff
		binary.BigEndian.PutUint16(buf[p.PicOff:], 0x8000|uint16(pid))
	}
	if !t.sent || ts != t.lastTS {
		t.frames++
		t.lastFramePos = t.pos()
	}
	if !t.sent {
		t.firstPos = t.pos()
	}
	t.sent, t.lastTS = true, ts
	t.packets++
	t.bytes += uint64(n)
	t.payloadBytes += uint64(n - p.Payload)
	t.idx++
	if t.idx == len(t.st.Packets) {
		t.idx = 0
		t.loop++
	}
	return n
}

// rtpTimeAt is the RTP timestamp of the track's media clock at wall time now.
func (t *track) rtpTimeAt(now time.Time) uint32 {
	d := now.Sub(t.start)
	return t.tsBase + uint32(int64(d)*int64(t.st.ClockRate)/int64(time.Second))
}

type trackHeap []*track

func (h trackHeap) Len() int           { return len(h) }
func (h trackHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h trackHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapAt, h[j].heapAt = i, j
}
func (h *trackHeap) Push(x any) { t := x.(*track); t.heapAt = len(*h); *h = append(*h, t) }
func (h *trackHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// socket is one UDP socket and its pending batch.
type socket struct {
	conn *net.UDPConn
	bw   interface {
		WriteBatch([]ipv4.Message, int) (int, error)
	}
	msgs     []ipv4.Message
	bufs     [][]byte
	n        int
	received uint64 // RTCP feedback read back (owned by the reader goroutine until it exits)
}

func newSocket(group string, v6 bool, batch int) (*socket, error) {
	network, laddr := "udp4", &net.UDPAddr{IP: net.IPv4zero}
	if v6 {
		network, laddr = "udp6", &net.UDPAddr{IP: net.IPv6zero}
	}
	conn, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("socket for %s: %w", group, err)
	}
	_ = conn.SetWriteBuffer(4 << 20)
	s := &socket{conn: conn, msgs: make([]ipv4.Message, batch), bufs: make([][]byte, batch)}
	if v6 {
		s.bw = ipv6.NewPacketConn(conn)
	} else {
		s.bw = ipv4.NewPacketConn(conn)
	}
	for i := range s.bufs {
		s.bufs[i] = make([]byte, 1500)
		s.msgs[i].Buffers = [][]byte{nil}
	}
	return s, nil
}

// flush sends the pending batch; it returns the datagrams that failed.
func (s *socket) flush() (failed uint64) {
	sent := 0
	for sent < s.n {
		k, err := s.bw.WriteBatch(s.msgs[sent:s.n], 0)
		if err != nil {
			if k <= 0 { // drop the datagram that failed and go on
				failed++
				sent++
				continue
			}
		}
		sent += k
	}
	s.n = 0
	return failed
}

// worker sends the tracks of some sockets from one goroutine.
type worker struct {
	tracks  []*track
	sockets []*socket
	h       trackHeap
	lag     lagHist
	errs    uint64
	rtcp    uint64
	rtcpBuf []byte
}

// Send replays media to the tracks until opt.Duration has passed or ctx ends.
func Send(ctx context.Context, m *Media, specs []TrackSpec, opt SendOptions) (*Result, error) {
	if len(specs) == 0 {
		return nil, errors.New("send: no tracks")
	}
	if opt.Workers <= 0 {
		opt.Workers = 1
	}
	if opt.Batch <= 0 {
		opt.Batch = 64
	}
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	// Sockets per group; groups are dealt round-robin to the workers.
	groups := map[string]*socket{}
	var groupOrder []string
	workers := make([]*worker, opt.Workers)
	for i := range workers {
		workers[i] = &worker{}
	}
	groupWorker := map[string]*worker{}
	tracks := make([]*track, 0, len(specs))
	seen := map[uint32]bool{}
	closeAll := func() {
		for _, s := range groups {
			s.conn.Close()
		}
	}
	for i, sp := range specs {
		var st *Stream
		tm := m
		if sp.media != nil {
			tm = sp.media
		}
		if tm == nil {
			closeAll()
			return nil, fmt.Errorf("track %d: no media", i)
		}
		switch sp.Kind {
		case "audio":
			st = &tm.Audio
		case "video":
			st = &tm.Video
		default:
			closeAll()
			return nil, fmt.Errorf("track %d: kind %q: want audio or video", i, sp.Kind)
		}
		if seen[sp.SSRC] {
			closeAll()
			return nil, fmt.Errorf("track %d: ssrc %d used twice", i, sp.SSRC)
		}
		seen[sp.SSRC] = true
		ap, err := netip.ParseAddrPort(sp.Dest)
		if err != nil {
			ua, rerr := net.ResolveUDPAddr("udp", sp.Dest)
			if rerr != nil {
				closeAll()
				return nil, fmt.Errorf("track %d: dest %q: %w", i, sp.Dest, rerr)
			}
			ap = ua.AddrPort()
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		group := sp.Group
		if group == "" {
			group = ap.String()
		}
		v6 := ap.Addr().Is6()
		key := group
		if v6 {
			key += "/6"
		}
		sock := groups[key]
		if sock == nil {
			sock, err = newSocket(group, v6, opt.Batch)
			if err != nil {
				closeAll()
				return nil, err
			}
			groups[key] = sock
			groupOrder = append(groupOrder, key)
			w := workers[(len(groupOrder)-1)%len(workers)]
			groupWorker[key] = w
			w.sockets = append(w.sockets, sock)
		}
		t := &track{spec: sp, st: st, dest: net.UDPAddrFromAddrPort(ap), destS: ap.String(), sock: sock,
			seqBase: uint16(rng.Uint32()), tsBase: rng.Uint32(), picBase: uint16(rng.Uint32()) & 0x7fff}
		if t.spec.CNAME == "" {
			t.spec.CNAME = fmt.Sprintf("loadgen-%d", sp.SSRC)
		}
		tracks = append(tracks, t)
		groupWorker[key].tracks = append(groupWorker[key].tracks, t)
	}
	defer closeAll()

	// Read back the server's feedback so it does not pile up.
	var readers sync.WaitGroup
	for _, s := range groups {
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := s.conn.ReadFromUDPAddrPort(buf); err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				s.received++
			}
		}()
	}

	start := time.Now().Add(20 * time.Millisecond)
	end := start.Add(opt.Duration)
	for _, t := range tracks {
		var phase time.Duration
		if opt.Stagger > 0 {
			phase = time.Duration(rng.Int64N(int64(opt.Stagger)))
		}
		t.start = start.Add(phase)
		t.schedule()
	}
	var cpu0 = selfCPU()
	var wg sync.WaitGroup
	for _, w := range workers {
		if len(w.tracks) == 0 {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx, end, opt.RTCPInterval) }()
	}
	wg.Wait()
	stopped := time.Now()
	closeAll()
	readers.Wait()

	res := &Result{Tracks: len(tracks), DurationS: stopped.Sub(start).Seconds(), ByDest: map[string]uint64{}}
	var lag lagHist
	for _, w := range workers {
		lag.merge(&w.lag)
		res.SendErrors += w.errs
		res.RTCPSent += w.rtcp
	}
	for _, s := range groups {
		res.RTCPReceived += s.received
	}
	res.LagMS = lag.stats()
	for _, t := range tracks {
		res.Packets += t.packets
		res.Bytes += t.bytes
		res.ByDest[t.destS] += t.packets + t.rtcp
		tr := TrackResult{SSRC: t.spec.SSRC, Kind: t.spec.Kind, Dest: t.destS, Packets: t.packets, Bytes: t.bytes, Frames: t.frames}
		if t.sent {
			tr.MediaS = (t.lastFramePos - t.firstPos + t.st.FrameDuration()).Seconds()
			tr.FirstMS = float64(t.first.Sub(start)) / 1e6
			tr.LastMS = float64(t.last.Sub(start)) / 1e6
		}
		res.PerTrack = append(res.PerTrack, tr)
	}
	res.Datagrams = res.Packets + res.RTCPSent - res.SendErrors
	if res.DurationS > 0 {
		res.BitrateMbps = float64(res.Bytes) * 8 / res.DurationS / 1e6
	}
	res.CPUS = selfCPU() - cpu0
	sort.Slice(res.PerTrack, func(i, j int) bool { return res.PerTrack[i].SSRC < res.PerTrack[j].SSRC })
	return res, nil
}

func (w *worker) run(ctx context.Context, end time.Time, rtcpEvery time.Duration) {
	w.h = make(trackHeap, 0, len(w.tracks))
	for _, t := range w.tracks {
		heap.Push(&w.h, t)
	}
	nextSR := time.Time{}
	if rtcpEvery > 0 {
		nextSR = w.tracks[0].start.Add(rtcpEvery / 2)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		for len(w.h) > 0 && !w.h[0].due.After(now) {
			t := w.h[0]
			s := t.sock
			if s.n == len(s.msgs) {
				w.errs += s.flush()
			}
			msg := &s.msgs[s.n]
			n := t.build(s.bufs[s.n])
			msg.Buffers[0] = s.bufs[s.n][:n]
			msg.Addr = t.dest
			s.n++
			w.lag.add(now.Sub(t.due))
			if t.packets == 1 {
				t.first = now
			}
			t.last = now
			t.schedule()
			if t.due.Before(end) {
				heap.Fix(&w.h, 0)
			} else {
				heap.Pop(&w.h)
			}
		}
		for _, s := range w.sockets {
			if s.n > 0 {
				w.errs += s.flush()
			}
		}
		if !nextSR.IsZero() && !now.Before(nextSR) {
			w.sendReports(now)
			nextSR = nextSR.Add(rtcpEvery)
		}
		if len(w.h) == 0 {
			return
		}
		wake := w.h[0].due
		if !nextSR.IsZero() && nextSR.Before(wake) {
			wake = nextSR
		}
		if end.Before(wake) {
			wake = end
		}
		if d := time.Until(wake); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
	}
}

// sendReports sends an RTCP SR + SDES (CNAME) for every started track.
func (w *worker) sendReports(now time.Time) {
	for _, t := range w.tracks {
		if !t.sent {
			continue
		}
		s := t.sock
		if s.n == len(s.msgs) {
			w.errs += s.flush()
		}
		n := buildSenderReport(s.bufs[s.n], t.spec.SSRC, now, t.rtpTimeAt(now), uint32(t.packets), uint32(t.payloadBytes), t.spec.CNAME)
		s.msgs[s.n].Buffers[0] = s.bufs[s.n][:n]
		s.msgs[s.n].Addr = t.dest
		s.n++
		t.rtcp++
		w.rtcp++
	}
	for _, s := range w.sockets {
		if s.n > 0 {
			w.errs += s.flush()
		}
	}
}

// buildSenderReport writes a compound RTCP packet (SR without report blocks,
// then SDES with a CNAME) into buf and returns its length.
func buildSenderReport(buf []byte, ssrc uint32, now time.Time, rtpTS, packets, octets uint32, cname string) int {
	if len(cname) > 255 {
		cname = cname[:255]
	}
	buf[0], buf[1] = 0x80, 200 // V=2, RC=0, PT=SR
	binary.BigEndian.PutUint16(buf[2:], 6)
	binary.BigEndian.PutUint32(buf[4:], ssrc)
	binary.BigEndian.PutUint64(buf[8:], toNTP(now))
	binary.BigEndian.PutUint32(buf[16:], rtpTS)
	binary.BigEndian.PutUint32(buf[20:], packets)
	binary.BigEndian.PutUint32(buf[24:], octets)
	// SDES: one chunk = SSRC, CNAME item, null terminator, padding to 32 bits.
	o := 28
	chunk := 4 + 2 + len(cname) + 1
	chunk = (chunk + 3) &^ 3
	buf[o], buf[o+1] = 0x81, 202 // V=2, SC=1, PT=SDES
	binary.BigEndian.PutUint16(buf[o+2:], uint16(chunk/4))
	binary.BigEndian.PutUint32(buf[o+4:], ssrc)
	buf[o+8], buf[o+9] = 1, byte(len(cname))
	copy(buf[o+10:], cname)
	for i := o + 10 + len(cname); i < o+4+chunk; i++ {
		buf[i] = 0
	}
	return o + 4 + chunk
}

func toNTP(t time.Time) uint64 {
	const epoch = 2208988800
	secs := uint64(t.Unix() + epoch)
	frac := (uint64(t.Nanosecond()) << 32) / 1_000_000_000
	return secs<<32 | frac
}
