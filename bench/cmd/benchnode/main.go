// Command benchnode runs the siogate node under test: the gateway library
// with the benchmark's event contract (echo with ack, binary echo,
// broadcast), on the in-memory adapter or a broker like the gateway binary.
//
//	benchnode --addr 127.0.0.1:3000 --adapter redis --redis-url redis://127.0.0.1:6379/0
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/bench"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	adapterName := flag.String("adapter", "memory", "cluster adapter: memory, redis, nats or amqp")
	redisURL := flag.String("redis-url", "redis://127.0.0.1:6379/0", "Redis URL for --adapter redis")
	natsURL := flag.String("nats-url", "nats://127.0.0.1:4222", "NATS URL for --adapter nats")
	amqpURL := flag.String("amqp-url", "amqp://guest:guest@127.0.0.1:5672/", "AMQP URL for --adapter amqp")
	prefix := flag.String("channel-prefix", "socket.io", "cluster channel prefix, the same on every node")
	ping := flag.Duration("ping-interval", 25*time.Second, "Engine.IO ping interval")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this 127.0.0.1 address (empty: off)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "benchnode: bad --log-level:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cluster := adapter.ClusterConfig{Prefix: *prefix, Logger: logger}
	var factory adapter.Factory
	var closer io.Closer
	var err error
	switch *adapterName {
	case "memory":
		factory = adapter.NewMemory
	case "redis":
		factory, closer, err = redisadapter.New(redisadapter.Options{URL: *redisURL, Cluster: cluster, Logger: logger})
	case "nats":
		factory, closer, err = natsadapter.New(natsadapter.Options{URL: *natsURL, Cluster: cluster, Logger: logger})
	case "amqp":
		factory, closer, err = amqpadapter.New(amqpadapter.Options{URL: *amqpURL, Cluster: cluster, Logger: logger})
	default:
		err = fmt.Errorf("unknown --adapter %q", *adapterName)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchnode:", err)
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchnode:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "benchnode:", err)
			os.Exit(2)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if *pprofAddr != "" {
		if host, _, err := net.SplitHostPort(*pprofAddr); err != nil || host != "127.0.0.1" {
			fmt.Fprintln(os.Stderr, "benchnode: --pprof must be 127.0.0.1:port")
			os.Exit(2)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		go func() { _ = http.ListenAndServe(*pprofAddr, mux) }()
	}
	srv := bench.NewNode(bench.NodeConfig{Adapter: factory, PingInterval: *ping, Logger: logger})
	hs := &http.Server{Addr: *addr, Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	logger.Info("benchnode listening", "addr", *addr, "adapter", *adapterName)
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "benchnode:", err)
		return
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = hs.Shutdown(sctx)
	if closer != nil {
		_ = closer.Close()
	}
}
