package main

import (
	"slices"
	"testing"
	"time"

	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
)

const quiet = 200 * time.Millisecond

type member struct {
	c       *client.Client
	said    <-chan client.Args
	invited <-chan client.Args
}

func join(t *testing.T, url string) member {
	c := et.NewClient(t, client.Options{})
	m := member{c: c, said: et.Record(c, "/", "said"), invited: et.Record(c, "/", "invited")}
	et.Connect(t, c, url)
	return m
}

// rooms decodes the room list an ack carries, without the socket's own
// room (its sid).
func rooms(t *testing.T, args client.Args, sid string) []string {
	t.Helper()
	var list []string
	if err := args.Decode(0, &list); err != nil {
		t.Fatalf("room list %v: %v", args, err)
	}
	return slices.DeleteFunc(list, func(r string) bool { return r == sid })
}

func TestRooms(t *testing.T) {
	srv := newServer()
	url := et.Serve(t, srv, srv)
	a, b, c := join(t, url), join(t, url), join(t, url)
	sidB, sidC := b.c.SID("/"), c.c.SID("/")

	for _, m := range []member{a, b, c} {
		got := rooms(t, et.Call(t, m.c, "/", "join", "lobby"), m.c.SID("/"))
		if !slices.Equal(got, []string{"lobby"}) {
			t.Fatalf("rooms after join = %v", got)
		}
	}

	// To(room).Except(sender): everyone in the room but the sender.
	if err := a.c.Emit("say", "lobby", "hello"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []member{b, c} {
		got := et.Next(t, m.said)
		if got.String(0) != "lobby" || got.String(1) != a.c.SID("/") || got.String(2) != "hello" {
			t.Fatalf("said = %v", got)
		}
	}
	et.Nothing(t, a.said, quiet)

	// After leaving, b no longer hears the room.
	if got := rooms(t, et.Call(t, b.c, "/", "leave", "lobby"), sidB); len(got) != 0 {
		t.Fatalf("rooms after leave = %v", got)
	}
	if err := a.c.Emit("say", "lobby", "again"); err != nil {
		t.Fatal(err)
	}
	if got := et.Next(t, c.said); got.String(2) != "again" {
		t.Fatalf("said = %v", got)
	}
	et.Nothing(t, b.said, quiet)

	// EnterRoom by sid, seen through Rooms(sid).
	if got := et.Call(t, a.c, "/", "invite", sidC, "vip").String(0); got != "ok" {
		t.Fatalf("invite: %s", got)
	}
	if got := et.String(t, et.Next(t, c.invited), 0); got != "vip" {
		t.Fatalf("invited to %q", got)
	}
	if got := rooms(t, et.Call(t, a.c, "/", "rooms_of", sidC), sidC); !slices.Equal(got, []string{"lobby", "vip"}) {
		t.Fatalf("rooms of c = %v, want [lobby vip]", got)
	}
	// Rooms(sid) includes the socket's own room.
	if got := et.Call(t, a.c, "/", "rooms_of", sidC); !slices.Contains(rooms(t, got, ""), sidC) {
		t.Fatalf("rooms of c = %v, want its own sid among them", got)
	}

	// LeaveRoom by sid.
	et.Call(t, a.c, "/", "kick", sidC, "vip")
	if got := rooms(t, et.Call(t, a.c, "/", "rooms_of", sidC), sidC); !slices.Equal(got, []string{"lobby"}) {
		t.Fatalf("rooms of c after kick = %v, want [lobby]", got)
	}

	// CloseRoom empties the room for everyone.
	et.Call(t, a.c, "/", "invite", sidB, "vip")
	et.Call(t, a.c, "/", "invite", sidC, "vip")
	et.Next(t, b.invited)
	et.Next(t, c.invited)
	et.Call(t, a.c, "/", "close_room", "vip")
	for _, sid := range []string{sidB, sidC} {
		if got := rooms(t, et.Call(t, a.c, "/", "rooms_of", sid), sid); slices.Contains(got, "vip") {
			t.Fatalf("rooms of %s after close_room = %v", sid, got)
		}
	}
	if err := a.c.Emit("say", "vip", "anyone?"); err != nil {
		t.Fatal(err)
	}
	et.Nothing(t, b.said, quiet)

	// An unknown sid has no rooms.
	if got := rooms(t, et.Call(t, a.c, "/", "rooms_of", "nobody"), ""); len(got) != 0 {
		t.Fatalf("rooms of an unknown sid = %v", got)
	}
}
