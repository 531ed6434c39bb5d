package main

import (
	"testing"

	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
)

func TestClassNamespace(t *testing.T) {
	srv, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	url := et.Serve(t, srv, srv)

	ada := et.NewClient(t, client.Options{Namespaces: []string{"/chat"}, Auth: map[string]string{"nick": "ada"}})
	adaReady := et.Record(ada, "/chat", "ready")
	adaNew := et.Record(ada, "/chat", "new_message")
	adaGone := et.Record(ada, "/chat", "gone")
	et.Connect(t, ada, url)
	bob := et.NewClient(t, client.Options{Namespaces: []string{"/chat"}, Auth: map[string]string{"nick": "bob"}})
	bobNew := et.Record(bob, "/chat", "new_message")
	et.Connect(t, bob, url)

	// OnConnect ran, and the embedded helper knows its namespace.
	if got := et.String(t, et.Next(t, adaReady), 0); got != "/chat" {
		t.Fatalf("ready = %q, want /chat", got)
	}

	// OnSendMessage handles "send_message"; its Emit reaches all of /chat.
	if got := et.Call(t, bob, "/chat", "send_message", "hi all").String(0); got != "sent" {
		t.Fatalf("send_message ack = %q", got)
	}
	for _, ch := range []<-chan client.Args{adaNew, bobNew} {
		if got := et.Next(t, ch); got.String(0) != "bob" || got.String(1) != "hi all" {
			t.Fatalf("new_message = %v", got)
		}
	}

	// The function handler wins over the method.
	if got := et.Call(t, ada, "/chat", "ping").String(0); got != "pong from the function" {
		t.Fatalf("ping = %q", got)
	}
	// CatchAll takes events without a method.
	if got := et.Call(t, ada, "/chat", "dance").String(0); got != "no handler for dance" {
		t.Fatalf("dance = %q", got)
	}

	// OnDisconnect.
	if err := bob.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if got := et.String(t, et.Next(t, adaGone), 0); got != "bob" {
		t.Fatalf("gone = %q", got)
	}
}

func TestCatchAllNamespace(t *testing.T) {
	srv, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	url := et.Serve(t, srv, srv)

	c := et.NewClient(t, client.Options{Namespaces: []string{"/", "/anything"}})
	ready := et.Record(c, "/anything", "ready")
	et.Connect(t, c, url)
	if got := et.String(t, et.Next(t, ready), 0); got != "/anything" {
		t.Fatalf("ready = %q, want /anything", got)
	}
	for _, ns := range []string{"/anything", "/"} {
		got := et.Call(t, c, ns, "what")
		if got.String(0) != ns || got.String(1) != "what" {
			t.Fatalf("%s: ack = %v, want [%s what]", ns, got, ns)
		}
	}
	if srv.Of("/anything").Count() != 1 {
		t.Fatal("the namespace the client named was not created")
	}
}
