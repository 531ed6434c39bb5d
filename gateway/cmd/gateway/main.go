// Command gateway runs a siogate node: a Socket.IO v5 server with a small
// chat demo page, on the adapter chosen by --adapter.
//
//	go run ./cmd/gateway --addr 127.0.0.1:3000
//
// Every flag can also be set by an environment variable (SIOGATE_ + the
// flag name in capitals, dashes as underscores); a flag given on the
// command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
)

// options are the command-line settings.
type options struct {
	addr          string
	path          string
	cors          string
	proxies       string
	pingInterval  time.Duration
	pingTimeout   time.Duration
	maxPayload    int
	idleTimeout   time.Duration
	transports    string
	adapterName   string
	redisURL      string
	redisPrefix   string
	natsURL       string
	amqpURL       string
	amqpConfirms  bool
	kafkaURL      string
	prefix        string
	cookie        string
	wsCompress    bool
	recovery      bool
	recoveryMax   time.Duration
	recoveryStore string
	drainWindow   time.Duration
	clientJS      string
	demo          bool
	logLevel      string
	refusalLevel  string
	metricsAddr   string
	pythonChannel string

	workers workerOptions // worker forwarding (workers.go)

	adminUI       bool
	adminUIDir    string
	adminUser     string
	adminPassword string

	auth authOptions // auth.go
}

// newFlagSet declares every flag, bound to o.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:3000", "listen address")
	fs.StringVar(&o.path, "path", "/socket.io/", "Socket.IO path")
	fs.StringVar(&o.cors, "cors-origins", "", `allowed origins, comma-separated; "*" for any; empty for same origin only`)
	fs.StringVar(&o.proxies, "trusted-proxies", "", "addresses or CIDRs of reverse proxies whose X-Forwarded-Host/Proto the same-origin check believes, comma-separated; empty for none")
	fs.DurationVar(&o.pingInterval, "ping-interval", 25*time.Second, "interval between server pings")
	fs.DurationVar(&o.pingTimeout, "ping-timeout", 20*time.Second, "time allowed for a pong")
	fs.IntVar(&o.maxPayload, "max-payload", 1_000_000, "largest accepted message or request body, bytes")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", time.Minute, "how long an idle keep-alive HTTP connection is kept open")
	fs.StringVar(&o.transports, "transports", "polling,websocket", "allowed transports, comma-separated")
	fs.StringVar(&o.adapterName, "adapter", "memory", "cluster adapter: memory, redis, nats, amqp or kafka")
	fs.StringVar(&o.prefix, "channel-prefix", "socket.io", "cluster channel prefix (Node's default key), the same on every node")
	fs.StringVar(&o.redisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL for --adapter redis (redis://, rediss://, redis+sentinel://, redis+cluster://h1:p1,h2:p2; add ?sharded=dynamic|static|dynamic-private for sharded pub/sub)")
	fs.StringVar(&o.redisPrefix, "redis-prefix", "", "deprecated spelling of --channel-prefix for --adapter redis")
	fs.StringVar(&o.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS URL for --adapter nats (nats://, tls://; comma-separated servers)")
	fs.StringVar(&o.amqpURL, "amqp-url", "amqp://guest:guest@127.0.0.1:5672/", "AMQP URL for --adapter amqp (amqp://, amqps://)")
	fs.BoolVar(&o.amqpConfirms, "amqp-confirms", false, "wait for publisher confirms with --adapter amqp")
	fs.StringVar(&o.kafkaURL, "kafka-url", "kafka://127.0.0.1:9092", "Kafka bootstrap brokers for --adapter kafka (kafka://h1:p1,h2:p2)")
	fs.StringVar(&o.clientJS, "client-js", "", "socket.io-client bundle served to the demo page (default: js/node_modules/socket.io-client/dist/socket.io.min.js found from the working directory up)")
	fs.BoolVar(&o.demo, "demo", true, "serve the chat demo page at /")
	fs.BoolVar(&o.wsCompress, "ws-compression", false, "permessage-deflate on WebSocket for clients that offer it (messages of 1024 bytes and more)")
	fs.BoolVar(&o.recovery, "recovery", false, "connection state recovery: clients that lose their connection get their session and missed events back")
	fs.DurationVar(&o.recoveryMax, "recovery-max-disconnection", 2*time.Minute, "how long a dropped session waits for its client (with --recovery)")
	fs.StringVar(&o.recoveryStore, "recovery-store", "memory", "where --recovery keeps events and sessions: memory (this node only), redis (Redis Streams at --redis-url), nats (JetStream at --nats-url), kafka (events at --kafka-url, sessions at --redis-url); all but memory are shared by the nodes")
	fs.DurationVar(&o.drainWindow, "drain-window", 30*time.Second, "on SIGTERM/SIGINT: readiness fails at once, new connections are refused, held ones are closed spread over this window (clients reconnect elsewhere), then the process exits")
	fs.StringVar(&o.cookie, "cookie", "", "name of a cookie carrying the session id on the handshake (for sid-sticky load balancers); empty for none")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.refusalLevel, "refusal-log-level", "info", "level of the lines logging refused requests (cause and remote address; at most one a second per cause): debug, info, warn or error")
	fs.StringVar(&o.pythonChannel, "python-channel", "", "also carry out what python-socketio workers publish on this manager channel (their channel argument, e.g. socketio) through --adapter's broker: redis, amqp (Kombu) or kafka; empty for off")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "listen address of the Prometheus metrics endpoint (/metrics); empty for none")
	fs.BoolVar(&o.adminUI, "admin-ui", false, "serve the Socket.IO Admin UI at /admin/ (namespace /admin)")
	fs.StringVar(&o.adminUIDir, "admin-ui-dir", "", "built admin UI files (default: js/node_modules/@socket.io/admin-ui/ui/dist found from the working directory up)")
	fs.StringVar(&o.adminUser, "admin-user", "", "admin UI login name (no login required when unset)")
	fs.StringVar(&o.adminPassword, "admin-password", "", "admin UI password (prefer SIOGATE_ADMIN_PASSWORD to keep it out of the process list)")
	addAuthFlags(fs, &o.auth)
	o.workers.flags(fs)
	return fs
}

func parseFlags(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := newFlagSet(&o)
	// Environment first, so that explicit flags override it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SIOGATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// adapterFactory opens the broker chosen by --adapter. The closer, when
// not nil, releases it at shutdown.
func adapterFactory(o options, logger *slog.Logger, obs adapter.ClusterObserver) (adapter.Factory, io.Closer, error) {
	prefix := o.prefix
	if o.redisPrefix != "" {
		prefix = o.redisPrefix
	}
	cluster := adapter.ClusterConfig{Prefix: prefix, Logger: logger.With("layer", "adapter"), Observer: obs}
	brokerLog := logger.With("layer", "broker", "adapter", o.adapterName)
	switch o.adapterName {
	case "memory", "":
		return adapter.NewMemory, nil, nil
	case "redis":
		return redisadapter.New(redisadapter.Options{URL: o.redisURL, Cluster: cluster, Logger: brokerLog})
	case "nats":
		return natsadapter.New(natsadapter.Options{URL: o.natsURL, Cluster: cluster, Logger: brokerLog})
	case "amqp":
		return amqpadapter.New(amqpadapter.Options{URL: o.amqpURL, Confirms: o.amqpConfirms, Cluster: cluster, Logger: brokerLog})
	case "kafka":
		return kafkaadapter.New(kafkaadapter.Options{URL: o.kafkaURL, Cluster: cluster, Logger: brokerLog})
	default:
		return nil, nil, fmt.Errorf("unknown --adapter %q: want memory, redis, nats, amqp or kafka", o.adapterName)
	}
}

// recoveryStore opens the store chosen by --recovery-store; the closer,
// when not nil, releases its connection.
func recoveryStore(o options) (adapter.RecoveryStore, io.Closer, error) {
	switch o.recoveryStore {
	case "memory", "":
		return adapter.NewMemoryStore(adapter.MemoryStoreOptions{MaxAge: o.recoveryMax}), nil, nil
	case "redis":
		client, err := redisadapter.ClientFromURL(o.redisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("--recovery-store redis: %w", err)
		}
		// The stream is named after the channel prefix ("socket.io" by
		// default, the stream Node's redis-streams-adapter uses).
		return redisadapter.NewRecoveryStore(client, redisadapter.RecoveryStoreOptions{StreamName: o.prefix}), client, nil
	case "nats":
		b, err := natsadapter.NewBroker(natsadapter.Options{URL: o.natsURL})
		if err != nil {
			return nil, nil, fmt.Errorf("--recovery-store nats: %w", err)
		}
		// Stream, subjects and bucket are named after the channel prefix,
		// so that clusters with different prefixes do not mix.
		name := jetStreamName(o.prefix)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		store, err := natsadapter.NewRecoveryStore(ctx, b.Conn(), natsadapter.RecoveryStoreOptions{
			Stream: "siogate_recovery_" + name, Subject: "siogate.recovery." + name, Bucket: "siogate_sessions_" + name,
			MaxAge: o.recoveryMax, SessionTTL: o.recoveryMax * 3 / 2,
		})
		if err != nil {
			_ = b.Close()
			return nil, nil, fmt.Errorf("--recovery-store nats (JetStream at --nats-url): %w", err)
		}
		return store, b, nil
	case "kafka":
		// Kafka keeps the events; it cannot take a session atomically, so
		// sessions go to Redis (--redis-url).
		client, err := redisadapter.ClientFromURL(o.redisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("--recovery-store kafka (sessions at --redis-url): %w", err)
		}
		sessions := redisadapter.NewRecoveryStore(client, redisadapter.RecoveryStoreOptions{StreamName: o.prefix})
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		store, err := kafkaadapter.NewRecoveryStore(ctx, kafkaadapter.RecoveryStoreOptions{
			URL: o.kafkaURL, Topic: kafkaRecoveryTopic(o.prefix), Retention: o.recoveryMax, Sessions: sessions,
		})
		if err != nil {
			_ = client.Close()
			return nil, nil, fmt.Errorf("--recovery-store kafka (at --kafka-url): %w", err)
		}
		return store, closers{client, closerFunc(func() error { store.Close(); return nil })}, nil
	default:
		return nil, nil, fmt.Errorf("unknown --recovery-store %q: want memory, redis, nats or kafka", o.recoveryStore)
	}
}

// kafkaRecoveryTopic names the topic of --recovery-store kafka after the
// channel prefix.
func kafkaRecoveryTopic(prefix string) string { return "siogate.recovery." + jetStreamName(prefix) }

// jetStreamName maps a channel prefix to the characters JetStream names
// allow.
func jetStreamName(prefix string) string {
	b := []byte(prefix)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// closerFunc is a function as an io.Closer.
type closerFunc func() error

// Close calls f.
func (f closerFunc) Close() error { return f() }

// closers closes several closers, last opened first.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i] != nil {
			errs = append(errs, cs[i].Close())
		}
	}
	return errors.Join(errs...)
}

func newServer(o options, logger *slog.Logger) (*gateway.Server, io.Closer, error) {
	srv, _, closer, err := newNode(o, logger)
	return srv, closer, err
}

// newNode is newServer with the handler of the node's metrics, nil
// unless --metrics-addr is set.
func newNode(o options, logger *slog.Logger) (*gateway.Server, http.Handler, io.Closer, error) {
	refusalLevel, err := parseLevel("--refusal-log-level", o.refusalLevel)
	if err != nil {
		return nil, nil, nil, err
	}
	m, reg, metricsHandler, err := newMetrics(o)
	if err != nil {
		return nil, nil, nil, err
	}
	var obs adapter.ClusterObserver
	if m != nil {
		obs = m.ClusterObserver()
	}
	factory, closer, err := adapterFactory(o, logger, obs)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, t := range splitList(o.transports) {
		if t != "polling" && t != "websocket" {
			if closer != nil {
				_ = closer.Close()
			}
			return nil, nil, nil, fmt.Errorf("unknown transport %q in --transports: want polling and/or websocket", t)
		}
	}
	proxies, err := parsePrefixes(o.proxies)
	if err != nil {
		if closer != nil {
			_ = closer.Close()
		}
		return nil, nil, nil, err
	}
	mux := http.NewServeMux()
	cfg := gateway.Config{
		Engine: engineio.Config{
			PingInterval:       o.pingInterval,
			PingTimeout:        o.pingTimeout,
			MaxPayload:         o.maxPayload,
			Transports:         splitList(o.transports),
			CORSAllowedOrigins: splitList(o.cors),
			TrustedProxies:     proxies,
			Cookie:             cookieFor(o.cookie),
			Logger:             logger.With("layer", "engineio"),
			RefusalLogLevel:    refusalLevel,
		},
		Path:    o.path,
		Adapter: factory,
		Logger:  logger.With("layer", "socketio"),
		Handler: mux,
	}
	cfg.Engine.WebSocketCompression = o.wsCompress
	if o.recovery {
		store, storeCloser, err := recoveryStore(o)
		if err != nil {
			if closer != nil {
				_ = closer.Close()
			}
			return nil, nil, nil, err
		}
		if storeCloser != nil {
			closer = closers{closer, storeCloser}
		}
		cfg.Recovery = gateway.RecoveryConfig{Enabled: true, MaxDisconnectionDuration: o.recoveryMax, Store: store,
			RunMiddlewares: o.auth.on()} // a recovered session is authenticated again
	}
	srv := gateway.NewServer(cfg)
	if m != nil {
		m.Attach(srv) // for the life of the process
	}
	mountHealth(srv, mux, o.adapterName, closer) // before closer is wrapped: it looks for the broker's health check
	if closer, err = mountAuth(srv, o.auth, logger, closer); err != nil {
		return nil, nil, nil, err
	}
	if o.pythonChannel != "" {
		if closer, err = startPyBridge(srv, o, logger, closer); err != nil {
			if closer != nil {
				_ = closer.Close()
			}
			return nil, nil, nil, err
		}
	}
	if o.demo {
		mountDemo(srv, mux, o.clientJS, o.workers.broker == "")
	}
	if _, wc, err := mountWorkers(srv, o, logger, reg); err != nil {
		closeQuietly(closer)
		return nil, nil, nil, err
	} else if wc != nil {
		closer = closers{closer, wc}
	}
	if o.adminUI {
		if closer, err = mountAdminUI(srv, mux, o, logger, closer); err != nil {
			return nil, nil, nil, err
		}
	}
	return srv, metricsHandler, closer, nil
}

// httpServer returns the HTTP server the binary runs. Its timeouts bound
// what a client that sends slowly, or not at all, can hold, without
// cutting Engine.IO's long requests:
//
//   - ReadHeaderTimeout bounds the request line and headers (10s).
//   - ReadTimeout and WriteTimeout run from the start of a request to the
//     end of its body, and of its response. A long-polling GET waits up to
//     the ping interval (the ping ends it), so both are the ping interval
//     plus twice the ping timeout. A polling POST's body has a shorter
//     deadline of its own, the ping timeout, set by the engine.
//   - IdleTimeout bounds a keep-alive connection between requests
//     (--idle-timeout).
//
// None of them applies to a WebSocket: net/http clears the deadlines of a
// hijacked connection, gws bounds the handshake, and then the Engine.IO
// heartbeat closes a connection whose pong is late.
func httpServer(o options, h http.Handler) *http.Server {
	long := o.pingInterval + 2*o.pingTimeout
	return &http.Server{
		Addr:              o.addr,
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, long),
		ReadTimeout:       long,
		WriteTimeout:      long,
		IdleTimeout:       o.idleTimeout,
	}
}

// redisLog adapts slog to go-redis's logger.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...))
}

// parsePrefixes reads --trusted-proxies: addresses and CIDR prefixes.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(list) {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is neither an address nor a CIDR prefix", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func cookieFor(name string) *http.Cookie {
	if name == "" {
		return nil
	}
	return &http.Cookie{Name: name, Path: "/", HttpOnly: true}
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
	level, err := parseLevel("--log-level", o.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// go-redis logs each failed redial on its own package-wide logger, many
	// times a second during an outage; the adapter already logs the outage
	// once, so send those lines to debug. (Process-wide, hence here in
	// main and not in the library.)
	redis.SetLogger(redisLog{logger.With("layer", "go-redis")})
	srv, metricsHandler, closer, err := newNode(o, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
	hs := httpServer(o, srv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Listening before serving lets the log say the bound address, which
	// is the one to use when --addr or --metrics-addr asks for port 0.
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	if metricsHandler != nil {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gateway: metrics listener:", err)
			os.Exit(1)
		}
		ms := metricsServer(o.metricsAddr, metricsHandler)
		defer ms.Close()
		go func() { errc <- fmt.Errorf("metrics listener: %w", ms.Serve(mln)) }()
		logger.Info("metrics listening", "addr", mln.Addr().String(), "path", "/metrics")
	}
	logger.Info("gateway listening", "addr", ln.Addr().String(), "path", o.path, "adapter", o.adapterName)
	select {
	case err := <-errc:
		logger.Error("gateway stopped", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	stop() // a second signal ends the process at once
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), o.drainWindow+10*time.Second)
	defer cancelDrain()
	if err := srv.Drain(drainCtx, o.drainWindow); err != nil {
		logger.Warn("gateway: drain did not finish", "err", err, "connections_left", srv.Engine().Count())
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	_ = hs.Shutdown(shutdownCtx)
	if closer != nil {
		_ = closer.Close()
	}
	logger.Info("gateway stopped")
}
