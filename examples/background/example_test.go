package main

import (
	"context"
	"testing"
	"time"

	"github.com/siogate/siogate/client"
	et "github.com/siogate/siogate/examples/internal/exampletest"
	"github.com/siogate/siogate/gateway"
)

func TestBackgroundTask(t *testing.T) {
	ln := et.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reasons := make(chan gateway.DisconnectReason, 4)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, ln, func(_ string, r gateway.DisconnectReason) { reasons <- r })
	}()

	c := et.NewClient(t, client.Options{})
	ticks := et.Record(c, "/", "tick")
	gone := make(chan client.DisconnectReason, 1)
	c.OnDisconnect(func(r client.DisconnectReason) { gone <- r })
	et.Connect(t, c, "http://"+ln.Addr().String())

	// Ticks arrive, in order, about every 100 ms.
	start := time.Now()
	var last int
	for range 4 {
		var n int
		if err := et.Next(t, ticks).Decode(0, &n); err != nil {
			t.Fatal(err)
		}
		if last != 0 && n != last+1 {
			t.Fatalf("tick %d after %d", n, last)
		}
		last = n
	}
	if d := time.Since(start); d < 2*tickEvery || d > 2*time.Second {
		t.Fatalf("4 ticks in %v, want about %v", d, 4*tickEvery)
	}

	// Shutdown: run returns, the client is disconnected with the
	// server-side reason "server shutting down", and the ticks stop.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(et.Timeout):
		t.Fatal("run did not return after cancel")
	}
	if r := et.Next(t, reasons); r != gateway.ReasonServerShutdown {
		t.Fatalf("server-side reason = %q", r)
	}
	if r := et.Next(t, gone); r != client.ReasonTransportClose && r != client.ReasonServerDisconnect {
		t.Fatalf("client-side reason = %q", r)
	}
	for len(ticks) > 0 { // ticks sent before the cancel
		<-ticks
	}
	et.Nothing(t, ticks, 3*tickEvery)
}
