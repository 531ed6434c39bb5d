package natsadapter_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsadapter "github.com/siogate/siogate/adapter-nats"
)

// heldProxy forwards one TCP connection to NATS; while held, the bytes the
// client sends wait in the proxy (as they wait in a process's buffers
// until nats.go's flusher writes them).
type heldProxy struct {
	ln   net.Listener
	mu   sync.Mutex
	held bool
	cond *sync.Cond
}

func newHeldProxy(t *testing.T) *heldProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &heldProxy{ln: ln}
	p.cond = sync.NewCond(&p.mu)
	var conns sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		p.hold(false)
		conns.Wait()
	})
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", "127.0.0.1:4222")
			if err != nil {
				_ = c.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); _, _ = io.Copy(c, s); _ = c.Close() }()
			go func() { defer conns.Done(); p.forward(s, c); _ = s.Close() }()
		}
	}()
	return p
}

func (p *heldProxy) hold(h bool) {
	p.mu.Lock()
	p.held = h
	p.mu.Unlock()
	p.cond.Broadcast()
}

// forward copies client bytes to the server, waiting while held.
func (p *heldProxy) forward(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		for p.held {
			p.cond.Wait()
		}
		p.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestBrokerFlush: Publish returns while the message is still on the
// client's side; Flush returns only once the server has it (a worker
// flushes its reply before acknowledging the event, or a SIGKILL between
// the two loses the event's answer).
func TestBrokerFlush(t *testing.T) {
	p := newHeldProxy(t)
	b, err := natsadapter.NewBroker(natsadapter.Options{URL: "nats://" + p.ln.Addr().String()})
	if err != nil {
		t.Fatalf("NATS on 127.0.0.1:4222 is needed: %v", err)
	}
	defer b.Close()
	sub, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var id [6]byte
	_, _ = rand.Read(id[:])
	subject := "flushtest-" + hex.EncodeToString(id[:])
	got, err := sub.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.hold(true)
	if err := b.Publish(ctx, subject, []byte("reply")); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- b.Flush(ctx) }()
	// Flush must not return while the proxy holds the bytes; give it the
	// chance to return wrongly.
	select {
	case err := <-flushed:
		t.Fatalf("Flush returned (%v) while the server could not have the message", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := got.NextMsg(10 * time.Millisecond); err == nil {
		t.Fatal("the server had the message while the proxy held it")
	}
	p.hold(false)
	if err := <-flushed; err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if m, err := got.NextMsg(5 * time.Second); err != nil || string(m.Data) != "reply" {
		t.Fatalf("after Flush the subscriber has %v, %v; want the message", m, err)
	}
}
