// Command worker is an example background worker that pushes events to a
// siogate cluster through Redis: a progress event to a room every second,
// then a "done" event with a binary report.
//
//	cd examples && go run ./worker --redis-url redis://127.0.0.1:6379/0 --room jobs --steps 5
package main

import (
	"context"
	"flag"
	"log"
	"time"

	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/emitter"
)

func main() {
	url := flag.String("redis-url", "redis://127.0.0.1:6379/0", "Redis the gateway nodes use")
	room := flag.String("room", "jobs", "room to notify")
	nsp := flag.String("namespace", "/", "namespace of the room")
	steps := flag.Int("steps", 5, "progress events to send (bounded)")
	flag.Parse()

	b, err := redisadapter.NewBroker(redisadapter.Options{URL: *url})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	e := emitter.New(b, emitter.Options{}).Of(*nsp).To(*room)
	ctx := context.Background()
	for i := 1; i <= *steps; i++ {
		if err := e.Emit(ctx, "progress", map[string]any{"step": i, "of": *steps}); err != nil {
			log.Fatal(err)
		}
		time.Sleep(time.Second)
	}
	if err := e.Emit(ctx, "done", map[string]any{"report": []byte("ok")}); err != nil {
		log.Fatal(err)
	}
	log.Printf("sent %d progress events and done to room %q", *steps, *room)
}
