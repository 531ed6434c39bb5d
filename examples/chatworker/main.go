// Command chatworker runs the gateway's chat demo as a worker, in a
// process of its own: the gateway nodes forward the chat's events (nick,
// join, chat) through a Redis stream, and this worker answers them and
// broadcasts through the cluster. Run as many as you like: each event
// goes to one of them, and the nicknames and rooms live in Redis, not in
// a worker.
//
//	cd gateway/cmd/gateway && go run . --adapter redis --workers redis --worker-events nick,join,chat
//	cd examples && go run ./chatworker --redis-url redis://127.0.0.1:6379/0
//
// then open http://127.0.0.1:3000 in two tabs.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/worker"
)

func main() {
	url := flag.String("redis-url", "redis://127.0.0.1:6379/0", "Redis the gateway nodes use (cluster adapter and work queue)")
	queue := flag.String("worker-queue", "siogate.work", "the nodes' --worker-queue")
	prefix := flag.String("channel-prefix", "socket.io", "the nodes' --channel-prefix")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := redisadapter.NewBroker(redisadapter.Options{URL: *url})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	w := newChatWorker(b, *queue, *prefix)
	log.Printf("chat worker consuming %s on %s", *queue, *url)
	if err := w.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

// newChatWorker returns the chat's worker on the Redis of b: the work
// queue is the stream queue, replies and broadcasts go through b.
func newChatWorker(b *redisadapter.Broker, queue, prefix string) *worker.Worker {
	rdb := b.Client()
	w := worker.New(redisadapter.NewWorkQueue(rdb, redisadapter.WorkQueueOptions{Stream: queue}), b, worker.Options{Prefix: prefix})

	// Per-socket state, shared by every worker, forgotten a day after the
	// socket's last event.
	const ttl = 24 * time.Hour
	key := func(ev *worker.Event, what string) string { return "chatworker:" + what + ":" + ev.SID }
	get := func(ctx context.Context, ev *worker.Event, what, def string) string {
		v, err := rdb.Get(ctx, key(ev, what)).Result()
		if err != nil || v == "" {
			return def
		}
		return v
	}

	w.On("nick", func(ctx context.Context, ev *worker.Event) error {
		n := strings.TrimSpace(ev.String(0))
		if n == "" || len(n) > 32 {
			ev.Ack(false)
			return nil
		}
		if err := rdb.Set(ctx, key(ev, "nick"), n, ttl).Err(); err != nil {
			return err
		}
		ev.Ack(true)
		return nil
	})
	w.On("join", func(ctx context.Context, ev *worker.Event) error {
		room := strings.TrimSpace(ev.String(0))
		if room == "" || len(room) > 32 {
			ev.Ack(false)
			return nil
		}
		old := get(ctx, ev, "room", "lobby") // the node puts every socket in the lobby
		if err := rdb.Set(ctx, key(ev, "room"), room, ttl).Err(); err != nil {
			return err
		}
		sock := ev.Socket()
		if old != room {
			if err := sock.SocketsLeave(ctx, old); err != nil {
				return err
			}
		}
		if err := sock.SocketsJoin(ctx, room); err != nil {
			return err
		}
		if err := sock.Emit(ctx, "joined", room); err != nil {
			return err
		}
		ev.Ack(true)
		return nil
	})
	w.On("chat", func(ctx context.Context, ev *worker.Event) error {
		text := ev.String(0)
		if text == "" || len(text) > 1000 {
			ev.Ack(false)
			return nil
		}
		room := get(ctx, ev, "room", "lobby")
		msg := map[string]any{"from": get(ctx, ev, "nick", "anonymous"), "room": room, "text": text}
		if err := w.Of(ev.Namespace).To(room).Emit(ctx, "chat", msg); err != nil {
			return err
		}
		ev.Ack(true)
		return nil
	})
	return w
}
