package adaptertest

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Helpers the broker modules' own tests share: bounded waits, a log sink,
// and a TCP proxy that cuts connections as a network failure would.

// Eventually polls check until it returns nil, failing t after 15 s with
// the last error.
func Eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s: %v", what, err)
}

// LogBuffer is an io.Writer safe for concurrent use (a slog handler's
// output in tests).
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count returns how many times s was written.
func (l *LogBuffer) Count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Count(l.b.Bytes(), []byte(s))
}

// Contains reports whether s was written.
func (l *LogBuffer) Contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.b.Bytes(), []byte(s))
}

// Cutter is a TCP proxy on 127.0.0.1 to a broker; Cut closes every proxied
// connection, as a network failure would, and can refuse new ones. Hold
// keeps what clients send waiting in the proxy, as a process's unflushed
// bytes wait in its buffers (and die with it when it is killed).
type Cutter struct {
	ln      net.Listener
	mu      sync.Mutex
	cond    *sync.Cond // signalled when held turns false
	conns   []net.Conn
	blocked bool
	held    bool
}

// NewCutter proxies a free 127.0.0.1 port to target until t ends.
func NewCutter(t testing.TB, target string) *Cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cutter{ln: ln}
	c.cond = sync.NewCond(&c.mu)
	t.Cleanup(func() { _ = ln.Close(); c.Hold(false); c.Cut(false) })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			blocked := c.blocked
			c.mu.Unlock()
			if blocked {
				_ = in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { c.forward(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return c
}

// Addr is the proxy's address.
func (c *Cutter) Addr() string { return c.ln.Addr().String() }

// Hold makes the bytes clients send wait in the proxy (h true) or go on to
// the broker (h false). What the broker sends is never held.
func (c *Cutter) Hold(h bool) {
	c.mu.Lock()
	c.held = h
	c.mu.Unlock()
	c.cond.Broadcast()
}

// forward copies a client's bytes to the broker, waiting while held.
func (c *Cutter) forward(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		c.mu.Lock()
		for c.held {
			c.cond.Wait()
		}
		c.mu.Unlock()
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

// Cut closes every proxied connection; with block, new ones are refused
// until the next Cut(false).
func (c *Cutter) Cut(block bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blocked = block
	for _, x := range c.conns {
		_ = x.Close()
	}
	c.conns = nil
}
