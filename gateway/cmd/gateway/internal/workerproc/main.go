// Command workerproc is the worker of the worker-forwarding tests
// (gateway/cmd/gateway/workers_test.go): it takes the events the gateway
// nodes forward, appends each event's id to a file before answering (so
// that a test can count deliveries, even of a worker it SIGKILLs), and
// answers the client's ack with the event's id, socket and payload.
//
//	workerproc --queue-broker redis --reply-broker redis --queue q --prefix p --out ids.txt
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	amqpadapter "github.com/siogate/siogate/adapter-amqp"
	kafkaadapter "github.com/siogate/siogate/adapter-kafka"
	natsadapter "github.com/siogate/siogate/adapter-nats"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/emitter"
	"github.com/siogate/siogate/worker"
)

func main() {
	queueBroker := flag.String("queue-broker", "redis", "broker of the work queue: redis, nats, kafka or amqp")
	replyBroker := flag.String("reply-broker", "redis", "broker of the cluster adapter (replies): redis, nats or amqp")
	redisURL := flag.String("redis-url", "redis://127.0.0.1:6379/0", "Redis URL")
	natsURL := flag.String("nats-url", "nats://127.0.0.1:4222", "NATS URL")
	kafkaURL := flag.String("kafka-url", "kafka://127.0.0.1:9092", "Kafka URL")
	amqpURL := flag.String("amqp-url", "amqp://guest:guest@127.0.0.1:5672/", "AMQP URL")
	queue := flag.String("queue", "siogate.work", "work queue name")
	prefix := flag.String("prefix", "socket.io", "cluster channel prefix")
	out := flag.String("out", "", "file the handled event ids are appended to")
	name := flag.String("name", "w", "worker name, in the answers")
	redeliver := flag.Duration("redeliver", 30*time.Second, "Redis ClaimIdle, JetStream AckWait, Kafka SessionTimeout")
	concurrency := flag.Int("concurrency", 32, "events handled at once")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	var src worker.Source
	switch *queueBroker {
	case "redis":
		client, err := redisadapter.ClientFromURL(*redisURL)
		if err != nil {
			log.Fatal(err)
		}
		defer client.Close()
		src = redisadapter.NewWorkQueue(client, redisadapter.WorkQueueOptions{Stream: *queue, Consumer: *name, ClaimIdle: *redeliver, Concurrency: *concurrency})
	case "nats":
		b, err := natsadapter.NewBroker(natsadapter.Options{URL: *natsURL})
		if err != nil {
			log.Fatal(err)
		}
		defer b.Close()
		q, err := natsadapter.NewWorkQueue(ctx, b.Conn(), natsadapter.WorkQueueOptions{Stream: *queue, Subject: *queue, AckWait: *redeliver, Concurrency: *concurrency})
		if err != nil {
			log.Fatal(err)
		}
		src = q
	case "kafka":
		q, err := kafkaadapter.NewWorkQueue(kafkaadapter.WorkQueueOptions{URL: *kafkaURL, Topic: *queue, Concurrency: *concurrency,
			SessionTimeout: *redeliver, CommitInterval: 20 * time.Millisecond, FetchWait: 20 * time.Millisecond})
		if err != nil {
			log.Fatal(err)
		}
		defer q.Close()
		src = q
	case "amqp":
		q := amqpadapter.NewWorkQueue(amqpadapter.WorkQueueOptions{URL: *amqpURL, Queue: *queue, Prefetch: *concurrency})
		defer q.Close()
		src = q
	default:
		log.Fatalf("unknown --queue-broker %q", *queueBroker)
	}
	var pub emitter.Publisher
	switch *replyBroker {
	case "redis":
		b, err := redisadapter.NewBroker(redisadapter.Options{URL: *redisURL})
		if err != nil {
			log.Fatal(err)
		}
		defer b.Close()
		pub = b
	case "nats":
		b, err := natsadapter.NewBroker(natsadapter.Options{URL: *natsURL})
		if err != nil {
			log.Fatal(err)
		}
		defer b.Close()
		pub = b
	case "amqp":
		b, err := amqpadapter.NewBroker(amqpadapter.Options{URL: *amqpURL})
		if err != nil {
			log.Fatal(err)
		}
		defer b.Close()
		pub = b
	default:
		log.Fatalf("unknown --reply-broker %q", *replyBroker)
	}

	w := worker.New(src, pub, worker.Options{Prefix: *prefix})
	var mu sync.Mutex
	w.On("job", func(ctx context.Context, ev *worker.Event) error {
		// One write(2) per id, before the answer: a SIGKILL loses no id
		// of an event the client got an answer for.
		mu.Lock()
		_, err := fmt.Fprintf(f, "%s %s\n", ev.ID, ev.SID)
		mu.Unlock()
		if err != nil {
			return err
		}
		ev.Ack(map[string]any{"id": ev.ID, "sid": ev.SID, "worker": *name, "echo": ev.Arg(0), "bytes": len(binArg(ev.Args))})
		return nil
	})
	w.On("fail", func(ctx context.Context, ev *worker.Event) error {
		return fmt.Errorf("refused by the worker: %v", ev.Arg(0))
	})
	fmt.Println("workerproc ready")
	if err := w.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

// binArg returns the first binary argument found in args.
func binArg(args []any) []byte {
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			return v
		case map[string]any:
			for _, e := range v {
				if b, ok := e.([]byte); ok {
					return b
				}
			}
		}
	}
	return nil
}
