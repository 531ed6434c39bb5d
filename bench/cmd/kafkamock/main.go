//go:build cgo

// Command kafkamock runs librdkafka's mock Kafka cluster (through
// confluent-kafka-go, so it needs cgo) as a stand-alone process, for the
// cross-node benchmark on machines without a real Kafka broker. It starts
// one mock broker, prints its bootstrap address (host:port) as one line on
// stdout, and runs until SIGTERM, SIGINT or --max-duration.
//
//	kafkamock --topics t1,t2 --control 127.0.0.1:9100
//
// Topics get one partition. The mock refuses kafka-go's CreateTopics
// request and creates four partitions when a topic is created
// automatically, so topics are made through the mock's own API: at start
// (--topics), or on request through the control endpoint, which the Kafka
// adapter's Options.CreateTopic hook can call (benchnode's
// --kafka-topic-api):
//
//	PUT http://127.0.0.1:9100/topics/NAME   → 204 (created or already there)
//
// The mock is not Kafka: it keeps its log in memory, and it does not answer
// a waiting fetch request when a message arrives, so a reader gets a
// message only when its fetch wait ends.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// maxTopicLen is Kafka's limit on topic names.
const maxTopicLen = 249

func main() {
	topics := flag.String("topics", "", "topics to create at start, comma-separated (one partition each)")
	control := flag.String("control", "", "serve the topic-creation endpoint on this 127.0.0.1 address (empty: off)")
	maxDuration := flag.Duration("max-duration", 30*time.Minute, "stop by itself after this long")
	version := flag.Bool("version", false, "print the confluent-kafka-go and librdkafka versions and exit")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("kafkamock: ")

	if *version {
		fmt.Println(versions())
		return
	}
	if *maxDuration <= 0 {
		log.Fatal("--max-duration must be positive")
	}
	var ln net.Listener
	if *control != "" {
		host, _, err := net.SplitHostPort(*control)
		if err != nil || host != "127.0.0.1" {
			log.Fatal("--control must be 127.0.0.1:port")
		}
		// Listen before announcing the bootstrap address, so that a
		// parent reading it can use the endpoint at once.
		if ln, err = net.Listen("tcp", *control); err != nil {
			log.Fatal(err)
		}
	}

	mc, err := ck.NewMockCluster(1)
	if err != nil {
		log.Fatalf("librdkafka mock cluster: %v", err)
	}
	defer mc.Close()
	m := &mock{mc: mc}
	for _, t := range strings.Split(*topics, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if err := m.create(t); err != nil {
			mc.Close()
			log.Fatalf("create topic %s: %v", t, err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *maxDuration)
	defer cancel()

	var hs *http.Server
	if ln != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("PUT /topics/{name}", m.serveCreate)
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Printf("control endpoint: %v", err)
			}
		}()
	}

	fmt.Println(mc.BootstrapServers())
	<-ctx.Done()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		log.Printf("--max-duration %v reached; stopping", *maxDuration)
	}
	if hs != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = hs.Shutdown(sctx)
		scancel()
	}
}

// mock serializes topic creation on the mock cluster.
type mock struct {
	mu sync.Mutex
	mc *ck.MockCluster
}

// create makes topic with one partition; a topic that already exists is
// success.
func (m *mock) create(topic string) error {
	if err := validTopic(topic); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.mc.CreateTopic(topic, 1, 1)
	var kerr ck.Error
	if errors.As(err, &kerr) && kerr.Code() == ck.ErrTopicAlreadyExists {
		return nil
	}
	return err
}

// serveCreate answers PUT /topics/{name}: 204 once the topic exists, 400
// for a name Kafka does not allow, 500 when the mock fails.
func (m *mock) serveCreate(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("name")
	if err := validTopic(topic); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := m.create(topic); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// validTopic checks a name against Kafka's rules: 1 to 249 bytes of
// [a-zA-Z0-9._-], and neither "." nor "..".
func validTopic(topic string) error {
	if topic == "" || len(topic) > maxTopicLen || topic == "." || topic == ".." {
		return fmt.Errorf("bad topic name %q", topic)
	}
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("bad topic name %q: byte %q", topic, c)
		}
	}
	return nil
}

// versions names the confluent-kafka-go module built in and the librdkafka
// library it runs.
func versions() string {
	mod := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/confluentinc/confluent-kafka-go/v2" {
				mod = d.Version
				if d.Replace != nil {
					mod = d.Replace.Version
				}
			}
		}
	}
	_, lib := ck.LibraryVersion()
	return fmt.Sprintf("confluent-kafka-go %s, librdkafka %s", mod, lib)
}
