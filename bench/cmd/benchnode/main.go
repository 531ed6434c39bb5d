// Command benchnode runs the siogate node under test: the gateway library
// with the benchmark's event contract (echo with ack, binary echo,
// broadcast), on the in-memory adapter or a broker like the gateway binary.
//
//	benchnode --addr 127.0.0.1:3000 --adapter redis --redis-url redis://127.0.0.1:6379/0
//
// On Kafka, --kafka-topic-api points topic creation at kafkamock's control
// endpoint (librdkafka's mock cluster refuses kafka-go's CreateTopics):
//
//	benchnode --adapter kafka --kafka-url kafka://127.0.0.1:PORT --kafka-topic-api http://127.0.0.1:CPORT --kafka-fetch-wait 10ms
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/siogate/siogate/adapter"
	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/bench"
	"github.com/siogate/siogate/gateway"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	adapterName := flag.String("adapter", "memory", "cluster adapter: memory, redis, nats, amqp or kafka")
	redisURL := flag.String("redis-url", "redis://127.0.0.1:6379/0", "Redis URL for --adapter redis")
	natsURL := flag.String("nats-url", "nats://127.0.0.1:4222", "NATS URL for --adapter nats")
	amqpURL := flag.String("amqp-url", "amqp://guest:guest@127.0.0.1:5672/", "AMQP URL for --adapter amqp")
	kafkaURL := flag.String("kafka-url", "kafka://127.0.0.1:9092", "Kafka bootstrap brokers for --adapter kafka")
	kafkaFetchWait := flag.Duration("kafka-fetch-wait", 0, "Kafka fetch wait (0: the adapter's default, 500ms; at least 10ms)")
	kafkaTopicAPI := flag.String("kafka-topic-api", "", "create Kafka topics with PUT <url>/topics/<name> (kafkamock's --control endpoint) instead of a CreateTopics request")
	prefix := flag.String("channel-prefix", "socket.io", "cluster channel prefix, the same on every node")
	ping := flag.Duration("ping-interval", 25*time.Second, "Engine.IO ping interval")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this 127.0.0.1 address (empty: off)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	recovery := flag.Bool("recovery", false, "connection state recovery on (store: --recovery-store)")
	recoveryStore := flag.String("recovery-store", "memory", "recovery store: memory, redis (at --redis-url) or nats (JetStream at --nats-url)")
	memReport := flag.Bool("mem-report", false, "answer GET "+bench.MemPath+" with the memory split after a forced GC (stops the world; for siobench hold)")
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
	case "kafka":
		opts := kafkaadapter.Options{URL: *kafkaURL, FetchWait: *kafkaFetchWait, Cluster: cluster, Logger: logger}
		if *kafkaTopicAPI != "" {
			opts.CreateTopic = topicAPI(*kafkaTopicAPI)
		}
		factory, closer, err = kafkaadapter.New(opts)
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
	var rec gateway.RecoveryConfig
	if *recovery {
		store, err := benchStore(*recoveryStore, *redisURL, *natsURL)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchnode:", err)
			os.Exit(2)
		}
		rec = gateway.RecoveryConfig{Enabled: true, Store: store}
	}
	srv := bench.NewNode(bench.NodeConfig{Adapter: factory, PingInterval: *ping, Logger: logger, Recovery: rec})
	var h http.Handler = srv
	if *memReport {
		h = bench.WithMem(srv)
	}
	hs := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
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

// benchStore opens the recovery store named by --recovery-store. Its
// stream and bucket have fixed names, bounded in size, reused by every run
// (a run reads only offsets it wrote), so runs leave one of each behind.
func benchStore(name, redisURL, natsURL string) (adapter.RecoveryStore, error) {
	switch name {
	case "memory":
		return adapter.NewMemoryStore(adapter.MemoryStoreOptions{}), nil
	case "redis":
		client, err := redisadapter.ClientFromURL(redisURL)
		if err != nil {
			return nil, err
		}
		return redisadapter.NewRecoveryStore(client, redisadapter.RecoveryStoreOptions{StreamName: "siogate-bench-recovery"}), nil
	case "nats":
		b, err := natsadapter.NewBroker(natsadapter.Options{URL: natsURL})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return natsadapter.NewRecoveryStore(ctx, b.Conn(), natsadapter.RecoveryStoreOptions{
			Stream: "siogate_bench_recovery", Subject: "siogate.bench.recovery", Bucket: "siogate_bench_sessions", Storage: jetstream.MemoryStorage,
		})
	default:
		return nil, fmt.Errorf("unknown --recovery-store %q", name)
	}
}

// topicAPI returns a Kafka Options.CreateTopic that asks an HTTP endpoint
// (kafkamock's) to create the topic: PUT base/topics/name, answered 2xx
// once the topic exists.
func topicAPI(base string) func(ctx context.Context, topic string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	return func(ctx context.Context, topic string) error {
		u, err := url.JoinPath(base, "topics", topic)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("topic API: %s: %s", resp.Status, bytes.TrimSpace(body))
		}
		return nil
	}
}
