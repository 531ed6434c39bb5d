// Command clusternode is a TEST FIXTURE, not a product: one siogate gateway
// node on the Redis cluster adapter, with an event contract that lets the
// multi-node tests (../../cluster_test.go) drive cluster operations from
// ordinary Socket.IO clients. Never deploy it: any client may disconnect or
// move any socket of the cluster.
//
//	clusternode --addr 127.0.0.1:0 --redis-url redis://127.0.0.1:6379/0 --prefix siotest-x --name A
//
// Once listening it prints one line to stdout:
//
//	clusternode listening on 127.0.0.1:PORT
//
// Every event below answers its acknowledgement with one JSON object; an
// operation that fails answers {"error": "..."} (with what it got so far).
//
//	join [room]                          the caller joins room
//	leave [room]                         the caller leaves room
//	whoami []                            {"sid", "node"}
//	count []                             {"nodes": ServerCount}
//	emit-room [room, event, payload]     server broadcast to room ("" = all)
//	broadcast-except [room, event, payload, [sids]]
//	                                     same, skipping the sids
//	call-sid [sid, event, payload, ms]   ns.Call on a sid anywhere: {"args"}
//	ack-room [room, event, payload, ms]  EmitWithAck to room: {"answers", "error", "elapsedMs"}
//	fetch [room, ms]                     FetchSockets: {"sockets": [{"id","rooms","node"}], "error", "elapsedMs"}
//	ssemit [event, payload, ms]          ServerSideEmit with acks: {"answers", "error", "elapsedMs"}
//	disconnect-sid [sid, close]          DisconnectSockets of one sid anywhere
//	join-sid [sid, room]                 SocketsJoin of one sid anywhere
//	leave-sid [sid, room]                SocketsLeave of one sid anywhere
//	close-room [room]                    every socket of the cluster leaves room
//
// Server-side events: "who" answers {"node": name, "got": payload}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
	"github.com/siogate/siogate/protocol/socketio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: any free port, printed)")
	redisURL := flag.String("redis-url", "redis://127.0.0.1:6379/0", "Redis URL")
	prefix := flag.String("prefix", "socket.io", "cluster channel prefix")
	name := flag.String("name", "node", "node label, reported in socket data and answers")
	pingInterval := flag.Duration("ping-interval", 25*time.Second, "Engine.IO ping interval")
	pingTimeout := flag.Duration("ping-timeout", 20*time.Second, "Engine.IO ping timeout")
	requestTimeout := flag.Duration("request-timeout", 2*time.Second, "cluster request timeout")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error (stderr)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "clusternode: bad --log-level:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", *name)
	factory, closer, err := redisadapter.New(redisadapter.Options{
		URL:     *redisURL,
		Cluster: adapter.ClusterConfig{Prefix: *prefix, RequestTimeout: *requestTimeout, Logger: logger.With("layer", "adapter")},
		Logger:  logger.With("layer", "redis"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusternode:", err)
		os.Exit(2)
	}
	srv := gateway.NewServer(gateway.Config{
		Engine:        engineio.Config{PingInterval: *pingInterval, PingTimeout: *pingTimeout},
		Adapter:       factory,
		AsyncHandlers: true, // a handler waiting on the cluster must not stall its client
		Logger:        logger.With("layer", "socketio"),
	})
	register(srv.Of("/"), *name, *requestTimeout)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusternode:", err)
		os.Exit(2)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("clusternode listening on %s\n", ln.Addr())
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "clusternode: serve:", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = hs.Shutdown(sctx)
	_ = closer.Close()
}

// reply is the single acknowledgement argument of every event.
type reply map[string]any

func errReply(err error) []any { return []any{reply{"error": err.Error()}} }

// timeout reads a millisecond count, with def when absent or not positive.
func timeout(a socketio.Args, i int, def time.Duration) time.Duration {
	var ms float64
	if a.Decode(i, &ms) == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	return def
}

func errString(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

func since(t time.Time) int64 { return time.Since(t).Milliseconds() }

func register(ns *gateway.Namespace, name string, reqTimeout time.Duration) {
	ns.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		s.SetData(map[string]any{"node": name})
		return nil
	})
	ns.OnServerEvent("who", func(args socketio.Args) []any {
		var got any
		_ = args.Decode(0, &got)
		return []any{reply{"node": name, "got": got}}
	})
	ns.On("whoami", func(s *gateway.Socket, _ *gateway.Event) []any {
		return []any{reply{"sid": s.ID(), "node": name}}
	})
	ns.On("count", func(_ *gateway.Socket, _ *gateway.Event) []any {
		ctx, cancel := context.WithTimeout(context.Background(), reqTimeout)
		defer cancel()
		n, err := ns.Adapter().ServerCount(ctx)
		return []any{reply{"nodes": n, "error": errString(err)}}
	})
	ns.On("join", func(s *gateway.Socket, e *gateway.Event) []any {
		s.Join(e.Args.String(0))
		return []any{reply{"ok": true}}
	})
	ns.On("leave", func(s *gateway.Socket, e *gateway.Event) []any {
		s.Leave(e.Args.String(0))
		return []any{reply{"ok": true}}
	})
	// to selects a room, or the whole namespace for "".
	to := func(room string) gateway.Operator {
		if room == "" {
			return ns.Except()
		}
		return ns.To(room)
	}
	ns.On("emit-room", func(_ *gateway.Socket, e *gateway.Event) []any {
		var payload any
		_ = e.Args.Decode(2, &payload)
		if err := to(e.Args.String(0)).Emit(context.Background(), e.Args.String(1), payload); err != nil {
			return errReply(err)
		}
		return []any{reply{"ok": true}}
	})
	ns.On("broadcast-except", func(_ *gateway.Socket, e *gateway.Event) []any {
		var payload any
		var except []string
		_ = e.Args.Decode(2, &payload)
		_ = e.Args.Decode(3, &except)
		if err := to(e.Args.String(0)).Except(except...).Emit(context.Background(), e.Args.String(1), payload); err != nil {
			return errReply(err)
		}
		return []any{reply{"ok": true}}
	})
	ns.On("call-sid", func(_ *gateway.Socket, e *gateway.Event) []any {
		var payload any
		_ = e.Args.Decode(2, &payload)
		ctx, cancel := context.WithTimeout(context.Background(), timeout(e.Args, 3, reqTimeout))
		defer cancel()
		start := time.Now()
		res, err := ns.Call(ctx, e.Args.String(0), e.Args.String(1), payload)
		if err != nil {
			return []any{reply{"error": err.Error(), "elapsedMs": since(start)}}
		}
		vals, err := res.Values()
		if err != nil {
			return errReply(err)
		}
		return []any{reply{"args": vals, "elapsedMs": since(start)}}
	})
	ns.On("ack-room", func(_ *gateway.Socket, e *gateway.Event) []any {
		var payload any
		_ = e.Args.Decode(2, &payload)
		ctx, cancel := context.WithTimeout(context.Background(), timeout(e.Args, 3, reqTimeout))
		defer cancel()
		start := time.Now()
		res, err := to(e.Args.String(0)).EmitWithAck(ctx, e.Args.String(1), payload)
		answers := make([]any, 0, len(res))
		for _, a := range res {
			var v any
			_ = a.Decode(0, &v)
			answers = append(answers, v)
		}
		return []any{reply{"answers": answers, "error": errString(err), "timeout": errors.Is(err, gateway.ErrAckTimeout), "elapsedMs": since(start)}}
	})
	ns.On("fetch", func(_ *gateway.Socket, e *gateway.Event) []any {
		ctx, cancel := context.WithTimeout(context.Background(), timeout(e.Args, 1, reqTimeout))
		defer cancel()
		start := time.Now()
		socks, err := to(e.Args.String(0)).FetchSockets(ctx)
		out := make([]any, 0, len(socks))
		for _, s := range socks {
			node := ""
			if m, ok := s.Data.(map[string]any); ok {
				node, _ = m["node"].(string)
			}
			out = append(out, reply{"id": s.ID, "rooms": s.Rooms, "node": node})
		}
		return []any{reply{"sockets": out, "error": errString(err), "timeout": errors.Is(err, adapter.ErrTimeout), "elapsedMs": since(start)}}
	})
	ns.On("ssemit", func(_ *gateway.Socket, e *gateway.Event) []any {
		var payload any
		_ = e.Args.Decode(1, &payload)
		ctx, cancel := context.WithTimeout(context.Background(), timeout(e.Args, 2, reqTimeout))
		defer cancel()
		start := time.Now()
		res, err := ns.Adapter().ServerSideEmit(ctx, e.Args.String(0), []any{payload}, true)
		answers := make([]any, 0, len(res))
		for _, a := range res {
			var v any
			_ = a.Decode(0, &v)
			answers = append(answers, v)
		}
		return []any{reply{"answers": answers, "error": errString(err), "timeout": errors.Is(err, adapter.ErrTimeout), "elapsedMs": since(start)}}
	})
	ns.On("disconnect-sid", func(_ *gateway.Socket, e *gateway.Event) []any {
		var closeConn bool
		_ = e.Args.Decode(1, &closeConn)
		if err := ns.To(e.Args.String(0)).DisconnectSockets(context.Background(), closeConn); err != nil {
			return errReply(err)
		}
		return []any{reply{"ok": true}}
	})
	ns.On("join-sid", func(_ *gateway.Socket, e *gateway.Event) []any {
		if err := ns.To(e.Args.String(0)).SocketsJoin(context.Background(), e.Args.String(1)); err != nil {
			return errReply(err)
		}
		return []any{reply{"ok": true}}
	})
	ns.On("leave-sid", func(_ *gateway.Socket, e *gateway.Event) []any {
		if err := ns.To(e.Args.String(0)).SocketsLeave(context.Background(), e.Args.String(1)); err != nil {
			return errReply(err)
		}
		return []any{reply{"ok": true}}
	})
	ns.On("close-room", func(_ *gateway.Socket, e *gateway.Event) []any {
		if err := ns.CloseRoom(context.Background(), e.Args.String(0)); err != nil {
			return errReply(err)
		}
		return []any{reply{"ok": true}}
	})
}
