// Command streamline is the Streamline media server.
//
//	streamline serve [flags]
//
// Every flag has a STREAMLINE_* environment equivalent (e.g. --rtp-ports ↔
// STREAMLINE_RTP_PORTS); flags win over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/streamline-media/streamline/ctl"
	"github.com/streamline-media/streamline/internal/gstx"
	"github.com/streamline-media/streamline/web"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprintln(os.Stderr, "usage: streamline serve [flags]   (streamline serve --help for flags)")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "token":
		if err := token(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "streamline:", err)
			os.Exit(1)
		}
	case "serve":
		if err := serve(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "streamline:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "streamline: unknown command %q (want serve)\n", os.Args[1])
		os.Exit(2)
	}
}

type options struct {
	httpAddr      string
	rtpPorts      string
	rtpHost       string
	rtpListen     string
	dataDir       string
	redisURL      string
	redisPrefix   string
	nodeID        string
	jitterMS      int
	nack          bool
	mixLatencyMS  int
	logLevel      string
	logFormat     string
	gstDebug      string
	gstDebugFile  string
	apiKeys       string
	webhookURL    string
	webhookSecret string
	rtpAllow      string
	jwtSecret     string
	maxRooms      int
	cpuCapacity   float64
	admitComps    bool
	pinRooms      bool
	pinBudget     float64
	minFreeMB     int
	maxTracks     int
	shutdownGrace time.Duration
	hugePages     bool
	warmEncoders  string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&o.httpAddr, "http", "127.0.0.1:8080", "HTTP listen address of the API and dashboard")
	fs.StringVar(&o.rtpPorts, "rtp-ports", "40000-40999", "UDP port range for rooms (one port per room)")
	fs.StringVar(&o.rtpHost, "rtp-host", "", "address advertised to the SFU for RTP (default: the listen address, or 127.0.0.1)")
	fs.StringVar(&o.rtpListen, "rtp-listen", "0.0.0.0", "address room sockets bind to")
	fs.StringVar(&o.dataDir, "data", "./recordings", "recordings root")
	fs.StringVar(&o.redisURL, "redis", "", "Redis URL for shared state, e.g. redis://127.0.0.1:6379/0 (empty = embedded in-memory store)")
	fs.StringVar(&o.redisPrefix, "redis-prefix", "streamline", "key prefix in Redis: one deployment per prefix")
	fs.StringVar(&o.nodeID, "node-id", "", "this node's id (default: hostname)")
	fs.IntVar(&o.jitterMS, "jitter-ms", 200, "jitterbuffer latency per track in milliseconds")
	fs.BoolVar(&o.nack, "nack", true, "ask senders to resend lost packets (RTCP NACK) while the jitterbuffer can still wait for them; --nack=false for SFUs that cannot retransmit")
	fs.IntVar(&o.mixLatencyMS, "mix-latency-ms", 60, "composite mixers' latency in milliseconds: how late a decoded frame or voice may reach the mixers and still be mixed (more also delays live outputs and the MCU by as much)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.gstDebug, "gst-debug", "", "GStreamer debug spec, e.g. 3 or '*:2,rtpjitterbuffer:5' (GST_DEBUG)")
	fs.StringVar(&o.gstDebugFile, "gst-debug-file", "", "write GStreamer's debug log to this file instead of stderr")
	fs.StringVar(&o.apiKeys, "api-key", "", "API keys with full access, comma-separated (empty with no --jwt-secret = no authentication)")
	fs.StringVar(&o.rtpAllow, "rtp-allow", "", "accept RTP/RTCP only from these networks, comma-separated CIDRs (empty = any)")
	fs.StringVar(&o.webhookURL, "webhook-url", "", "POST recording started/stopped/failed events here (retried with backoff)")
	fs.StringVar(&o.webhookSecret, "webhook-secret", "", "HMAC-SHA256 key signing webhook bodies (X-Streamline-Signature)")
	fs.StringVar(&o.jwtSecret, "jwt-secret", "", "secret verifying HS256 tokens with room-scoped grants (see streamline token)")
	fs.IntVar(&o.maxRooms, "max-rooms", 0, "maximum rooms on this node (0 = unlimited)")
	fs.Float64Var(&o.cpuCapacity, "cpu-capacity", 0, "CPU cores this node offers to room placement (0 = all of them); see the cost model in docs/architecture.md")
	fs.BoolVar(&o.pinRooms, "pin-rooms", true, "keep each room that runs a composite on one CPU while the rooms' estimated costs fit --pin-budget per CPU (the rest float); --pin-rooms=false leaves every thread to the kernel")
	fs.Float64Var(&o.pinBudget, "pin-budget", ctl.DefaultPinBudget, "estimated cores of pinned rooms one CPU takes (--pin-rooms)")
	fs.BoolVar(&o.admitComps, "admit-composites", false, "refuse (503) a composite recording whose estimated cost would take this node past --cpu-capacity")
	fs.IntVar(&o.minFreeMB, "min-free-mb", 256, "refuse (507) new recordings while the recordings' filesystem has less free space than this, in MiB (0 = no check)")
	fs.IntVar(&o.maxTracks, "max-tracks-per-room", 0, "maximum tracks per room (0 = unlimited)")
	fs.DurationVar(&o.shutdownGrace, "shutdown-grace", 30*time.Second, "time allowed for in-flight HTTP requests on shutdown (files are then finalized, each within its own EOS timeout)")
	fs.StringVar(&o.warmEncoders, "warm-encoders", "h264,aac", "codecs whose encoders are selected and loaded at startup, so the first composite does not wait for "+
		"hardware probes and library loading (empty = on first use)")
	fs.BoolVar(&o.hugePages, "huge-pages", false, "let encoders back their buffers with transparent huge pages (off: x264 asks for them, "+
		"which rounds a 720p encoder's buffers up to 2 MiB pages for ~6 MiB more per encoding and was no faster here)")
	// Environment first, so explicit flags override it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "STREAMLINE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", env, v, err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, nil
}

// disableHugePages opts the whole process out of transparent huge pages
// (it is a property of the address space, so every thread, GStreamer's
// included, is covered; memory already backed by huge pages keeps them).
func disableHugePages() error {
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_THP_DISABLE: %w", err)
	}
	return nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func serve(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	// Under a file size limit (ulimit -f) a write past it raises SIGXFSZ;
	// raised on a GStreamer thread, it would kill the server and every
	// room. Ignored, the write fails instead and only that file's
	// recording fails (TestFailedEncodingLeavesTheOthersRecording).
	signal.Ignore(syscall.SIGXFSZ)
	if !o.hugePages {
		if err := disableHugePages(); err != nil {
			log.Warn("could not opt out of transparent huge pages", "error", err)
		}
	}
	ports, err := ctl.ParsePortRange(o.rtpPorts)
	if err != nil {
		return err
	}
	listen, err := netip.ParseAddr(o.rtpListen)
	if err != nil {
		return fmt.Errorf("--rtp-listen %q: %w", o.rtpListen, err)
	}
	var allow []netip.Prefix
	for _, c := range strings.Split(o.rtpAllow, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return fmt.Errorf("--rtp-allow %q: %w", c, err)
		}
		allow = append(allow, p)
	}
	var store ctl.Store = ctl.NewMemoryStore()
	storeName := "memory"
	if o.redisURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rs, err := ctl.NewRedisStore(ctx, o.redisURL, o.redisPrefix)
		cancel()
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		defer rs.Close()
		store, storeName = rs, "redis"
	}
	if o.pinBudget <= 0 || o.pinBudget > 1 {
		return fmt.Errorf("--pin-budget %g: want the cores' worth of work one CPU takes, above 0 and at most 1", o.pinBudget)
	}
	if o.cpuCapacity < 0 {
		return fmt.Errorf("--cpu-capacity %g: want a number of cores, or 0 for all of them", o.cpuCapacity)
	}
	if o.jitterMS < 10 || o.jitterMS > 10000 {
		return fmt.Errorf("--jitter-ms %d: want 10-10000", o.jitterMS)
	}
	if o.mixLatencyMS < 20 || o.mixLatencyMS > 2000 {
		return fmt.Errorf("--mix-latency-ms %d: want 20-2000", o.mixLatencyMS)
	}
	if o.minFreeMB < 0 {
		return fmt.Errorf("--min-free-mb %d: want 0 (no check) or more", o.minFreeMB)
	}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	// GStreamer reads its debug settings at init.
	if o.gstDebug != "" {
		os.Setenv("GST_DEBUG", o.gstDebug)
	}
	if o.gstDebugFile != "" {
		os.Setenv("GST_DEBUG_FILE", o.gstDebugFile)
		os.Setenv("GST_DEBUG_NO_COLOR", "1")
	}
	gstx.Init()
	if o.nodeID == "" {
		o.nodeID, _ = os.Hostname()
	}

	srv, err := ctl.NewServer(ctl.Config{
		RTPListen: listen, RTPHost: o.rtpHost, Ports: ports, DataDir: dataDir, NodeID: o.nodeID, Store: store, APIAddr: "http://" + o.httpAddr,
		JitterLatency: time.Duration(o.jitterMS) * time.Millisecond, NoNACK: !o.nack, MixLatency: time.Duration(o.mixLatencyMS) * time.Millisecond, MaxRooms: o.maxRooms,
		MaxTracksPerRoom: o.maxTracks, Logger: log,
		APIKeys: strings.Split(o.apiKeys, ","), JWTSecret: []byte(o.jwtSecret), RTPAllow: allow,
		WebhookURL: o.webhookURL, WebhookSecret: []byte(o.webhookSecret), Capacity: o.cpuCapacity, AdmitComposites: o.admitComps,
		PinRooms: o.pinRooms, PinBudget: o.pinBudget,
		MinFreeDisk: int64(o.minFreeMB) << 20,
	})
	if err != nil {
		return err
	}
	if !srv.AuthEnabled() {
		log.Warn("AUTHENTICATION IS DISABLED: anyone who reaches " + o.httpAddr + " controls every room; set --api-key or --jwt-secret outside local demos")
	}
	srv.Mount("/", web.Handler())
	if o.warmEncoders != "" {
		// Before listening: a request never races the probes. Failures are
		// not fatal: a composite asking for that codec reports them.
		if _, err := srv.WarmEncoders(strings.Split(o.warmEncoders, ",")); err != nil {
			log.Warn("encoders not ready", "error", err)
		}
	}

	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("--http %s: %w", o.httpAddr, err)
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	httpSrv.RegisterOnShutdown(srv.EndStreams) // preview watchers would otherwise hold Shutdown
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	log.Info("streamline serving", "http", "http://"+ln.Addr().String(), "dashboard", "http://"+ln.Addr().String()+"/",
		"rtp_ports", o.rtpPorts, "data", dataDir, "store", storeName, "node", o.nodeID)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
		log.Info("shutting down: finalizing recordings")
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	}
	stop() // a second Ctrl-C kills at once
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.shutdownGrace)
	defer cancel()
	_ = httpSrv.Shutdown(shutdownCtx)
	if err := srv.Close(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped; recordings are final", "data", dataDir)
	return nil
}

// token mints an HS256 token: streamline token --secret S --role viewer --rooms a,b --ttl 1h
func token(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	secret := fs.String("secret", os.Getenv("STREAMLINE_JWT_SECRET"), "the server's --jwt-secret")
	role := fs.String("role", ctl.RoleViewer, "admin or viewer")
	rooms := fs.String("rooms", "", "comma-separated room ids, or * for all")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime (0 = no expiry)")
	sub := fs.String("sub", "", "who the token is for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" || *rooms == "" {
		return errors.New("token: --secret and --rooms are required")
	}
	c := ctl.Claims{Subject: *sub, Role: *role, Rooms: strings.Split(*rooms, ",")}
	if *ttl > 0 {
		c.ExpiresAt = time.Now().Add(*ttl).Unix()
	}
	tok, err := ctl.SignToken([]byte(*secret), c)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}
