package mocksfu

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Codec names accepted in Config.Video / Config.Audio (and sent to the server as "codec").
const (
	VideoVP8  = "vp8"
	VideoVP9  = "vp9"
	VideoH264 = "h264"
	AudioOpus = "opus"
	// None disables the video or audio track of every participant.
	None = "none"
)

// Track kinds, as sent to the server and used in MuteWindow.Kind.
const (
	KindVideo = "video"
	KindAudio = "audio"
)

// Impairments are applied in Go on the send path, after the SFU forwarding
// decision (so they emulate the network between SFU and Streamline).
// Percentages are 0..100. They apply to RTP only; RTCP is sent unimpaired.
type Impairments struct {
	Loss      float64       // % of RTP packets dropped at random
	Reorder   float64       // % of RTP packets held back and sent after the next 1 or 2 packets of the same track
	Duplicate float64       // % of RTP packets sent twice
	Jitter    time.Duration // random extra delay in [0, Jitter] per packet; packet order is preserved (FIFO)
}

func (im Impairments) validate() error {
	for name, v := range map[string]float64{"loss": im.Loss, "reorder": im.Reorder, "duplicate": im.Duplicate} {
		if v < 0 || v > 100 {
			return fmt.Errorf("impairment %s=%v: want a percentage in [0,100]", name, v)
		}
	}
	if im.Jitter < 0 {
		return fmt.Errorf("impairment jitter=%v: must not be negative", im.Jitter)
	}
	return nil
}

func (im Impairments) any() bool {
	return im.Loss > 0 || im.Reorder > 0 || im.Duplicate > 0 || im.Jitter > 0
}

// Presence is one stay of a participant in the room, relative to the start of
// Run. Leave == 0 means "until the end". Every stay uses fresh SSRCs and a
// fresh UDP socket, as a re-joining browser would.
type Presence struct {
	Join  time.Duration
	Leave time.Duration
}

// ParticipantConfig describes one simulated participant. Zero fields take the
// defaults from Config.
type ParticipantConfig struct {
	ID          string       // e.g. "p1"; track IDs are "<ID>-video" and "<ID>-audio"
	Name        string       // display name; default "Participant <n>"
	Video       string       // codec; "" = Config.Video
	Audio       string       // codec; "" = Config.Audio
	Presence    []Presence   // nil = present for the whole run
	Impairments *Impairments // nil = Config.Impairments
}

// MuteWindow mutes one track of a participant from From until To (relative to
// the start of Run; To == 0 means until the end). While muted the track gets
// PATCHed {"muted": true} and no RTP/RTCP is sent for it.
type MuteWindow struct {
	Participant string
	Kind        string // KindVideo or KindAudio
	From, To    time.Duration
}

// Config configures a mock SFU. Only Server and Room are needed; everything
// else has defaults (see New).
type Config struct {
	Server string // base URL of the Streamline REST API; default http://127.0.0.1:8080
	Room   string // room ID; default "mock-room"

	// Participants lists the simulated participants. If empty, N participants
	// p1..pN are generated (N defaults to 4).
	Participants []ParticipantConfig
	N            int

	Video  string // vp8 (default), vp9, h264 or none
	Audio  string // opus (default) or none
	Width  int    // default 640
	Height int    // default 360
	FPS    int    // default 30

	VideoBitrate     int           // bits/s; default 600000
	AudioBitrate     int           // bits/s; default 32000
	KeyframeInterval time.Duration // encoder's maximum keyframe distance; default 10s (browsers rely on PLI instead)
	// ResolutionChange, if > 0, flips the video between Width x Height and
	// Width/2 x Height/2 every ResolutionChange (as Chrome does under load).
	ResolutionChange time.Duration
	// DTX enables Opus DTX with a source that alternates talk spurts and silence.
	DTX bool

	Impairments Impairments // default for every participant
	// NoRetransmit ignores the receiver's NACKs. By default the SFU keeps
	// the last packets it forwarded and resends those the receiver asks
	// for, on the same SSRC (the loss impairment applies to them too).
	NoRetransmit bool
	// RTX resends video on a retransmission stream (RFC 4588, payload type
	// 97, its own SSRC and sequence numbers), registered with the track as
	// rtx_ssrc and rtx_payload_type, instead of on the track's SSRC.
	RTX      bool
	Schedule map[string][]Presence // by participant ID; overrides ParticipantConfig.Presence
	Mutes    []MuteWindow

	// Record starts a "tracks" recording once the initial participants are set
	// up and deletes it (so the server finalizes it) when Run ends.
	Record bool
	// Duration bounds Run; 0 means until ctx is done.
	Duration time.Duration
	// KeepTracks leaves the tracks registered when Run ends (by default they
	// are DELETEd like a leaving participant's).
	KeepTracks bool
	// Seed makes SSRCs, sequence/timestamp offsets and impairment decisions
	// reproducible. 0 means random.
	Seed int64

	HTTPClient *http.Client // default: 10s timeout
	Logger     *slog.Logger // default: discard
}

func (c *Config) setDefaults() {
	if c.Server == "" {
		c.Server = "http://127.0.0.1:8080"
	}
	c.Server = strings.TrimRight(c.Server, "/")
	if c.Room == "" {
		c.Room = "mock-room"
	}
	if c.Video == "" {
		c.Video = VideoVP8
	}
	if c.Audio == "" {
		c.Audio = AudioOpus
	}
	if c.Width == 0 {
		c.Width = 640
	}
	if c.Height == 0 {
		c.Height = 360
	}
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.VideoBitrate == 0 {
		c.VideoBitrate = 600_000
	}
	if c.AudioBitrate == 0 {
		c.AudioBitrate = 32_000
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = 10 * time.Second
	}
	if len(c.Participants) == 0 {
		n := c.N
		if n == 0 {
			n = 4
		}
		c.Participants = DefaultParticipants(n)
	}
	if c.HTTPClient == nil {
		// Own transport, so Run can close its idle connections on return.
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	u, err := url.Parse(c.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("server %q: want an http(s) base URL", c.Server)
	}
	if strings.ContainsAny(c.Room, "/?#") {
		return fmt.Errorf("room %q: must not contain '/', '?' or '#'", c.Room)
	}
	if err := checkVideo(c.Video); err != nil {
		return err
	}
	if err := checkAudio(c.Audio); err != nil {
		return err
	}
	if c.Width < 16 || c.Height < 16 || c.Width%2 != 0 || c.Height%2 != 0 {
		return fmt.Errorf("resolution %dx%d: want even dimensions >= 16", c.Width, c.Height)
	}
	if c.FPS < 1 || c.FPS > 120 {
		return fmt.Errorf("fps %d: want 1..120", c.FPS)
	}
	if c.ResolutionChange < 0 || c.Duration < 0 || c.KeyframeInterval < 0 {
		return errors.New("durations must not be negative")
	}
	if err := c.Impairments.validate(); err != nil {
		return err
	}
	ids := map[string]bool{}
	for i := range c.Participants {
		p := &c.Participants[i]
		if p.ID == "" {
			return fmt.Errorf("participant %d: empty ID", i)
		}
		if strings.ContainsAny(p.ID, "/?#") {
			return fmt.Errorf("participant %q: ID must not contain '/', '?' or '#'", p.ID)
		}
		if ids[p.ID] {
			return fmt.Errorf("participant %q: duplicate ID", p.ID)
		}
		ids[p.ID] = true
		if p.Name == "" {
			p.Name = "Participant " + strconv.Itoa(i+1)
		}
		if p.Video == "" {
			p.Video = c.Video
		}
		if p.Audio == "" {
			p.Audio = c.Audio
		}
		if err := checkVideo(p.Video); err != nil {
			return fmt.Errorf("participant %q: %w", p.ID, err)
		}
		if err := checkAudio(p.Audio); err != nil {
			return fmt.Errorf("participant %q: %w", p.ID, err)
		}
		if p.Impairments != nil {
			if err := p.Impairments.validate(); err != nil {
				return fmt.Errorf("participant %q: %w", p.ID, err)
			}
		}
		if err := checkPresence(p.Presence); err != nil {
			return fmt.Errorf("participant %q: %w", p.ID, err)
		}
	}
	for id, pr := range c.Schedule {
		if !ids[id] {
			return fmt.Errorf("schedule: unknown participant %q", id)
		}
		if err := checkPresence(pr); err != nil {
			return fmt.Errorf("schedule for %q: %w", id, err)
		}
	}
	for _, m := range c.Mutes {
		if !ids[m.Participant] {
			return fmt.Errorf("mute: unknown participant %q", m.Participant)
		}
		if m.Kind != KindAudio && m.Kind != KindVideo {
			return fmt.Errorf("mute for %q: kind %q: want audio or video", m.Participant, m.Kind)
		}
		if m.From < 0 || (m.To != 0 && m.To <= m.From) {
			return fmt.Errorf("mute for %q: window %v-%v is empty", m.Participant, m.From, m.To)
		}
	}
	return nil
}

func checkVideo(v string) error {
	switch v {
	case VideoVP8, VideoVP9, VideoH264, None:
		return nil
	}
	return fmt.Errorf("video codec %q: want vp8, vp9, h264 or none", v)
}

func checkAudio(a string) error {
	switch a {
	case AudioOpus, None:
		return nil
	}
	return fmt.Errorf("audio codec %q: want opus or none", a)
}

func checkPresence(pr []Presence) error {
	var prevLeave time.Duration
	for i, w := range pr {
		if w.Join < 0 || w.Leave < 0 {
			return fmt.Errorf("stay %d: negative time", i+1)
		}
		if w.Leave != 0 && w.Leave <= w.Join {
			return fmt.Errorf("stay %d: leave %v is not after join %v", i+1, w.Leave, w.Join)
		}
		if i > 0 && (prevLeave == 0 || w.Join < prevLeave) {
			return fmt.Errorf("stay %d: joins at %v before the previous stay ended", i+1, w.Join)
		}
		prevLeave = w.Leave
	}
	return nil
}

// DefaultParticipants returns n participants p1..pn named "Participant 1".."Participant n".
func DefaultParticipants(n int) []ParticipantConfig {
	ps := make([]ParticipantConfig, n)
	for i := range ps {
		ps[i] = ParticipantConfig{ID: "p" + strconv.Itoa(i+1), Name: "Participant " + strconv.Itoa(i+1)}
	}
	return ps
}

// ParseSchedule parses a join/leave schedule such as
// "p3:join=5s,leave=20s;p4:join=2s" or "p2:leave=5s,join=8s,leave=12s".
// A leave without a preceding join means the participant is there from the
// start; a join without a leave means it stays until the end.
func ParseSchedule(s string) (map[string][]Presence, error) {
	out := map[string][]Presence{}
	for _, item := range strings.Split(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, spec, ok := strings.Cut(item, ":")
		id = strings.TrimSpace(id)
		if !ok || id == "" || strings.TrimSpace(spec) == "" {
			return nil, fmt.Errorf("schedule item %q: want <participant>:join=<dur>,leave=<dur>", item)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("schedule: participant %q listed twice", id)
		}
		var stays []Presence
		open := false // the last stay has a join but no leave yet
		for _, kv := range strings.Split(spec, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return nil, fmt.Errorf("schedule item %q: %q is not key=duration", item, kv)
			}
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("schedule item %q: %w", item, err)
			}
			switch strings.TrimSpace(k) {
			case "join":
				if open {
					return nil, fmt.Errorf("schedule item %q: join twice without leave", item)
				}
				stays = append(stays, Presence{Join: d})
				open = true
			case "leave":
				if !open {
					if len(stays) > 0 {
						return nil, fmt.Errorf("schedule item %q: leave twice without join", item)
					}
					stays = append(stays, Presence{Join: 0})
				}
				stays[len(stays)-1].Leave = d
				open = false
			default:
				return nil, fmt.Errorf("schedule item %q: unknown key %q (want join or leave)", item, k)
			}
		}
		if err := checkPresence(stays); err != nil {
			return nil, fmt.Errorf("schedule item %q: %w", item, err)
		}
		out[id] = stays
	}
	return out, nil
}

// ParseMutes parses mute windows such as "p1:audio:10s-15s,p2:video:3s-6s".
// An empty end ("p1:audio:10s-") mutes until the end of the run.
func ParseMutes(s string) ([]MuteWindow, error) {
	var out []MuteWindow
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("mute %q: want <participant>:<audio|video>:<from>-<to>", item)
		}
		from, to, ok := strings.Cut(parts[2], "-")
		if !ok {
			return nil, fmt.Errorf("mute %q: window %q: want <from>-<to>", item, parts[2])
		}
		var m MuteWindow
		m.Participant, m.Kind = parts[0], parts[1]
		var err error
		if m.From, err = time.ParseDuration(from); err != nil {
			return nil, fmt.Errorf("mute %q: %w", item, err)
		}
		if to != "" {
			if m.To, err = time.ParseDuration(to); err != nil {
				return nil, fmt.Errorf("mute %q: %w", item, err)
			}
			if m.To <= m.From {
				return nil, fmt.Errorf("mute %q: end is not after start", item)
			}
		}
		if m.Kind != KindAudio && m.Kind != KindVideo {
			return nil, fmt.Errorf("mute %q: kind %q: want audio or video", item, m.Kind)
		}
		out = append(out, m)
	}
	slices.SortStableFunc(out, func(a, b MuteWindow) int { return cmp.Compare(a.From, b.From) })
	return out, nil
}

// ParseImpairments parses "loss=5,reorder=2,duplicate=1,jitter=30ms"
// (percentages may carry a trailing %) into Impairments.
func ParseImpairments(s string) (Impairments, error) {
	var im Impairments
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return im, fmt.Errorf("impairment %q: want key=value", kv)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "jitter" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return im, fmt.Errorf("impairment %q: %w", kv, err)
			}
			im.Jitter = d
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil {
			return im, fmt.Errorf("impairment %q: %w", kv, err)
		}
		switch k {
		case "loss":
			im.Loss = f
		case "reorder":
			im.Reorder = f
		case "duplicate", "dup":
			im.Duplicate = f
		default:
			return im, fmt.Errorf("impairment %q: unknown key %q (want loss, reorder, duplicate or jitter)", kv, k)
		}
	}
	return im, im.validate()
}

// ParseParticipantImpairments parses per-participant impairments such as
// "p2:loss=5,jitter=30ms;p3:reorder=2".
func ParseParticipantImpairments(s string) (map[string]Impairments, error) {
	out := map[string]Impairments{}
	for _, item := range strings.Split(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, spec, ok := strings.Cut(item, ":")
		if !ok || strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("impairments %q: want <participant>:key=value,...", item)
		}
		im, err := ParseImpairments(spec)
		if err != nil {
			return nil, fmt.Errorf("participant %s: %w", id, err)
		}
		out[strings.TrimSpace(id)] = im
	}
	return out, nil
}
