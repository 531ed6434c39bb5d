package main

import (
	"testing"
	"time"

	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
)

func TestBasic(t *testing.T) {
	srv := newServer()
	url := et.Serve(t, srv, srv)

	alice := et.NewClient(t, client.Options{})
	aliceWelcome := et.Record(alice, "/", "welcome")
	aliceJoined := et.Record(alice, "/", "joined")
	aliceEcho := et.Record(alice, "/", "echo")
	aliceShout := et.Record(alice, "/", "shout")
	aliceMessage := et.Record(alice, "/", "message")
	aliceLeft := et.Record(alice, "/", "left")
	et.Connect(t, alice, url)

	// The connect handler's emit reaches the new client, with its sid.
	if got := et.String(t, et.Next(t, aliceWelcome), 0); got != alice.SID("/") {
		t.Fatalf("welcome carries %q, want alice's sid %q", got, alice.SID("/"))
	}

	bob := et.NewClient(t, client.Options{})
	bobEcho := et.Record(bob, "/", "echo")
	bobShout := et.Record(bob, "/", "shout")
	et.Connect(t, bob, url)

	// The others hear of the newcomer; the newcomer does not.
	if got := et.String(t, et.Next(t, aliceJoined), 0); got != bob.SID("/") {
		t.Fatalf("joined carries %q, want bob's sid %q", got, bob.SID("/"))
	}

	// The handler's return value is the acknowledgement.
	var sum float64
	if err := et.Call(t, alice, "/", "add", 2, 3.5).Decode(0, &sum); err != nil || sum != 5.5 {
		t.Fatalf("add(2, 3.5) = %v (%v), want 5.5", sum, err)
	}
	if msg := et.Call(t, alice, "/", "add", "x").String(1); msg != "add needs two numbers" {
		t.Fatalf("add(\"x\") error = %q", msg)
	}

	// An emit to the sender reaches it alone.
	if err := alice.Emit("echo", "hi", map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	echo := et.Next(t, aliceEcho)
	var obj struct{ N int }
	if echo.String(0) != "hi" || echo.Decode(1, &obj) != nil || obj.N != 1 {
		t.Fatalf("echo = %v, want [\"hi\", {\"n\":1}]", echo)
	}
	et.Nothing(t, bobEcho, 200*time.Millisecond)

	// A broadcast reaches everyone, the sender included.
	if err := bob.Emit("shout", "hey"); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan client.Args{"alice": aliceShout, "bob": bobShout} {
		got := et.Next(t, ch)
		if got.String(0) != bob.SID("/") || got.String(1) != "hey" {
			t.Fatalf("%s got shout %v", name, got)
		}
	}

	// Send is the "message" event.
	if err := alice.Emit("message", "ping"); err != nil {
		t.Fatal(err)
	}
	if got := et.String(t, et.Next(t, aliceMessage), 0); got != "got: ping" {
		t.Fatalf("message = %q", got)
	}

	// The disconnect handler runs with the reason.
	bobSID := bob.SID("/")
	if err := bob.Disconnect(); err != nil {
		t.Fatal(err)
	}
	left := et.Next(t, aliceLeft)
	if left.String(0) != bobSID || left.String(1) != "client namespace disconnect" {
		t.Fatalf("left = %v, want [%q, \"client namespace disconnect\"]", left, bobSID)
	}
	if n := srv.Of("/").Count(); n != 1 {
		t.Fatalf("%d sockets connected, want 1", n)
	}
}
