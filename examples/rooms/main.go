// Command rooms shows rooms: clients join and leave them through events,
// a message goes to a room except its sender (To(room).Except(sid)), and
// a moderator moves other sockets by sid with EnterRoom, LeaveRoom and
// CloseRoom and lists a socket's rooms with Rooms(sid). Run it from
// /work/main/examples with `go run ./rooms` (PORT picks the port, default
// 3000).
package main

import (
	"cmp"
	"context"
	"log"
	"net/http"
	"os"
	"slices"

	"github.com/siogate/siogate/gateway"
)

func main() {
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	log.Printf("rooms example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, newServer()))
}

// newServer builds the example's server; it is also the http.Handler.
func newServer() *gateway.Server {
	srv := gateway.NewServer(gateway.Config{})
	ns := srv.Of("/")

	// join(room) puts the sender in room; the ack lists its rooms.
	ns.On("join", func(s *gateway.Socket, e *gateway.Event) []any {
		s.Join(e.Args.String(0))
		return []any{sorted(s.Rooms())}
	})

	// leave(room) takes the sender out of room.
	ns.On("leave", func(s *gateway.Socket, e *gateway.Event) []any {
		s.Leave(e.Args.String(0))
		return []any{sorted(s.Rooms())}
	})

	// say(room, text) reaches everyone in room but the sender (python's
	// emit(..., room=room, skip_sid=sid)).
	ns.On("say", func(s *gateway.Socket, e *gateway.Event) []any {
		room, text := e.Args.String(0), e.Args.String(1)
		_ = ns.To(room).Except(s.ID()).Emit(context.Background(), "said", room, s.ID(), text)
		return nil
	})

	// The moderation events act on other sockets, named by sid: this is
	// the API a server uses outside of the socket's own handlers.
	ns.On("invite", func(_ *gateway.Socket, e *gateway.Event) []any {
		sid, room := e.Args.String(0), e.Args.String(1)
		if err := ns.EnterRoom(context.Background(), sid, room); err != nil {
			return []any{err.Error()}
		}
		_ = ns.To(sid).Emit(context.Background(), "invited", room)
		return []any{"ok"}
	})
	ns.On("kick", func(_ *gateway.Socket, e *gateway.Event) []any {
		if err := ns.LeaveRoom(context.Background(), e.Args.String(0), e.Args.String(1)); err != nil {
			return []any{err.Error()}
		}
		return []any{"ok"}
	})
	ns.On("close_room", func(_ *gateway.Socket, e *gateway.Event) []any {
		if err := ns.CloseRoom(context.Background(), e.Args.String(0)); err != nil {
			return []any{err.Error()}
		}
		return []any{"ok"}
	})
	ns.On("rooms_of", func(_ *gateway.Socket, e *gateway.Event) []any {
		return []any{sorted(ns.Rooms(e.Args.String(0)))}
	})
	return srv
}

// sorted returns rooms in a stable order ([] rather than null for none).
func sorted(rooms []string) []string {
	out := slices.Clone(rooms)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}
