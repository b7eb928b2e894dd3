// Command mocker is a mock SFU: it registers a room and its participants'
// tracks with a Streamline server and forwards live test media (VP8/VP9/H.264
// video, Opus audio) as RTP over UDP, with RTCP, schedules, mutes and
// network impairments. See internal/mocksfu.
//
// Every flag can also be set through the environment as MOCKER_<FLAG>, with
// dashes as underscores (e.g. MOCKER_SERVER, MOCKER_RESOLUTION_CHANGE);
// command-line flags win.
//
// Example:
//
//	mocker --server http://127.0.0.1:8080 --room demo --participants 4 --record \
//	  --schedule "p3:join=5s,leave=20s;p4:join=2s" --mute "p1:audio:10s-15s" --loss 2 --jitter 20ms
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/streamline-media/streamline/internal/mocksfu"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	cfg        mocksfu.Config
	schedule   string
	mutes      string
	impair     string
	logLevel   string
	statsEvery time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	c := &o.cfg
	fs := flag.NewFlagSet("mocker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Server, "server", "http://127.0.0.1:8080", "Streamline REST API base URL")
	fs.StringVar(&c.Room, "room", "mock-room", "room ID (created, or reused if it exists)")
	fs.IntVar(&c.N, "participants", 4, "number of participants p1..pN")
	fs.DurationVar(&c.Duration, "duration", 0, "how long to run (0 = until Ctrl-C)")
	fs.StringVar(&c.Video, "video", "vp8", "video codec: vp8, vp9, h264 or none")
	fs.StringVar(&c.Audio, "audio", "opus", "audio codec: opus or none")
	fs.IntVar(&c.Width, "width", 640, "video width")
	fs.IntVar(&c.Height, "height", 360, "video height")
	fs.IntVar(&c.FPS, "fps", 30, "video frame rate")
	fs.IntVar(&c.VideoBitrate, "video-bitrate", 600_000, "video bitrate in bit/s")
	fs.IntVar(&c.AudioBitrate, "audio-bitrate", 32_000, "Opus bitrate in bit/s")
	fs.DurationVar(&c.KeyframeInterval, "keyframe-interval", 10*time.Second, "maximum time between keyframes (PLI/FIR force more)")
	fs.DurationVar(&c.ResolutionChange, "resolution-change", 0, "flip video between WxH and W/2xH/2 at this interval (e.g. 3s; 0 = off)")
	fs.BoolVar(&c.DTX, "dtx", false, "Opus DTX with talk spurts and silent gaps")
	fs.Float64Var(&c.Impairments.Loss, "loss", 0, "random RTP packet loss in %")
	fs.Float64Var(&c.Impairments.Reorder, "reorder", 0, "RTP packets held back behind the next 1-2 packets, in %")
	fs.Float64Var(&c.Impairments.Duplicate, "duplicate", 0, "RTP packets sent twice, in %")
	fs.DurationVar(&c.Impairments.Jitter, "jitter", 0, "random extra delay up to this, order preserved (e.g. 30ms)")
	fs.BoolVar(&c.NoRetransmit, "no-retransmit", false, "ignore the server's NACKs (by default the packets it asks for are sent again)")
	fs.BoolVar(&c.RTX, "rtx", false, "resend video on an RTX stream (RFC 4588, registered as the track's rtx_ssrc) instead of its own SSRC")
	fs.StringVar(&o.impair, "impair", "", `per-participant impairments overriding the global ones, e.g. "p2:loss=5,jitter=30ms;p3:reorder=2"`)
	fs.Int64Var(&c.Seed, "seed", 0, "seed for SSRCs, offsets and impairments (0 = random)")
	fs.StringVar(&o.schedule, "schedule", "", `join/leave schedule, e.g. "p3:join=5s,leave=20s;p4:join=2s"`)
	fs.StringVar(&o.mutes, "mute", "", `mute windows, e.g. "p1:audio:10s-15s,p2:video:3s-6s"`)
	fs.BoolVar(&c.Record, "record", false, "start a tracks recording after setup and stop it at the end")
	fs.BoolVar(&c.KeepTracks, "keep-tracks", false, "do not DELETE the tracks when stopping")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&o.statsEvery, "stats-interval", 10*time.Second, "log a stats line this often (0 = off)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mocker [flags]\n\nA mock SFU sending live test media to a Streamline server.\nFlags (also settable as MOCKER_<FLAG>):\n")
		fs.PrintDefaults()
	}

	// Environment first, so that flags on the command line override it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "MOCKER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.N < 1 {
		return nil, fmt.Errorf("--participants must be >= 1")
	}
	var err error
	if o.schedule != "" {
		if c.Schedule, err = mocksfu.ParseSchedule(o.schedule); err != nil {
			return nil, err
		}
	}
	if o.mutes != "" {
		if c.Mutes, err = mocksfu.ParseMutes(o.mutes); err != nil {
			return nil, err
		}
	}
	if o.impair != "" {
		per, err := mocksfu.ParseParticipantImpairments(o.impair)
		if err != nil {
			return nil, err
		}
		c.Participants = mocksfu.DefaultParticipants(c.N)
		for i := range c.Participants {
			if im, ok := per[c.Participants[i].ID]; ok {
				c.Participants[i].Impairments = &im
				delete(per, c.Participants[i].ID)
			}
		}
		for id := range per {
			return nil, fmt.Errorf("--impair: unknown participant %q", id)
		}
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "mocker:", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintln(stderr, "mocker: --log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	o.cfg.Logger = log

	sfu, err := mocksfu.New(o.cfg)
	if err != nil {
		fmt.Fprintln(stderr, "mocker:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		// A second signal kills the process the default way.
		stop()
	}()
	if o.statsEvery > 0 {
		go logStats(ctx, log, sfu, o.statsEvery)
	}

	log.Info("mocker starting", "server", o.cfg.Server, "room", o.cfg.Room, "participants", o.cfg.N,
		"video", o.cfg.Video, "audio", o.cfg.Audio, "duration", o.cfg.Duration)
	start := time.Now()
	runErr := sfu.Run(ctx)
	if ctx.Err() != nil {
		log.Info("stopped by signal")
	}
	printSummary(stdout, sfu.Stats(), time.Since(start))
	if runErr != nil {
		log.Error("mocker failed", "err", runErr)
		return 1
	}
	return 0
}

func logStats(ctx context.Context, log *slog.Logger, sfu *mocksfu.SFU, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var active int
		var pkts, bytes, plis, lost uint64
		for _, t := range sfu.Stats().Tracks {
			if t.Active {
				active++
			}
			pkts += t.PacketsSent
			bytes += t.BytesSent
			plis += t.PLIs + t.FIRs
			lost += t.Lost
		}
		log.Info("stats", "active_tracks", active, "packets", pkts, "bytes", bytes, "lost", lost, "keyframe_requests", plis)
	}
}

func printSummary(w io.Writer, st mocksfu.Stats, elapsed time.Duration) {
	fmt.Fprintf(w, "room %s, rtp %s, ran %s", st.Room, st.RTPAddr, elapsed.Round(time.Millisecond))
	if st.RecordingID != "" {
		fmt.Fprintf(w, ", recording %s", st.RecordingID)
	}
	fmt.Fprintln(w)
	if len(st.Tracks) == 0 {
		fmt.Fprintln(w, "no tracks")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "track\tcodec\tssrc\tpackets\tkbit/s\tlost\treord\tdup\tNACKed\tresent\tmuted\tSRs\tRRs\tPLI\tFIR\tkeyframes\tforced\t")
	for _, t := range st.Tracks {
		end := t.Ended
		if end.IsZero() {
			end = time.Now()
		}
		secs := end.Sub(t.Started).Seconds()
		kbps := 0.0
		if secs > 0 {
			kbps = float64(t.BytesSent) * 8 / 1000 / secs
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n",
			t.ID, t.Codec, t.SSRC, t.PacketsSent, kbps, t.Lost, t.Reordered, t.Duplicated, t.NACKedPackets, t.Resent, t.MutedDrops,
			t.SRsSent, t.RRsReceived, t.PLIs, t.FIRs, t.KeyframesOut, t.KeyframesForced)
	}
	tw.Flush()
}
