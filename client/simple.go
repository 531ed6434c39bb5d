package client

import (
	"context"
	"sync"
	"time"

	"github.com/siogate/siogate/protocol/socketio"
)

// SimpleClient is a blocking client for one namespace: connect, emit,
// call, and pull received events with Receive. Reconnection happens in the
// background as with Client. Its methods are safe for concurrent use.
//
//	c := client.NewSimpleClient(client.Options{})
//	defer c.Close()
//	if err := c.Connect(ctx, "http://127.0.0.1:3000", "/"); err != nil { ... }
type SimpleClient struct {
	opts Options

	mu     sync.Mutex
	c      *Client
	ns     string
	events []Received
	over   chan struct{} // closed when the current client's session ended
	signal chan struct{} // has a value when events may be non-empty
	closed bool
}

// Received is an event pulled with SimpleClient.Receive.
type Received struct {
	// Name of the event.
	Name string
	// Args are the event's arguments.
	Args socketio.Args
	// Offset is the connection state recovery offset the event carried
	// as its last argument (see Event.Offset), "" if none.
	Offset string
}

// NewSimpleClient returns a SimpleClient configured by opts
// (opts.Namespaces is ignored: Connect names the namespace).
func NewSimpleClient(opts Options) *SimpleClient {
	return &SimpleClient{opts: opts, signal: make(chan struct{}, 1)}
}

// Connect connects to the server at url and the namespace ns ("" means
// "/"), waiting at most Options.WaitTimeout. Events arriving from then on
// are queued for Receive; those the server wants acknowledged are
// acknowledged with no arguments.
func (s *SimpleClient) Connect(ctx context.Context, url, ns string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.c != nil {
		s.mu.Unlock()
		return ErrAlreadyConnected
	}
	ns = normNamespace(ns)
	opts := s.opts
	opts.Namespaces = []string{ns}
	c := New(opts)
	c.Of(ns).On(CatchAll, func(e *Event) []any {
		s.mu.Lock()
		s.events = append(s.events, Received{Name: e.Name, Args: e.Args, Offset: e.Offset})
		s.mu.Unlock()
		s.wake()
		return nil
	})
	over := make(chan struct{})
	s.c, s.ns, s.over = c, ns, over
	s.mu.Unlock()
	if err := c.Connect(ctx, url); err != nil {
		s.mu.Lock()
		s.c = nil
		s.mu.Unlock()
		return err
	}
	go func() { // wake Receive callers when the session ends for good
		c.Wait() // returns after the queued handlers ran
		close(over)
		s.wake()
	}()
	return nil
}

func (s *SimpleClient) wake() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *SimpleClient) client() *Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// Emit sends an event without waiting; while reconnecting it is buffered
// (see Options.DisableBuffering).
func (s *SimpleClient) Emit(event string, args ...any) error {
	c := s.client()
	if c == nil {
		return ErrNotConnected
	}
	return c.Of(s.ns).Emit(event, args...)
}

// Call sends an event and waits up to timeout for the server's
// acknowledgement, returning its arguments or a *TimeoutError, like
// python-socketio's SimpleClient.call (Client.EmitWithAck takes a
// context instead).
func (s *SimpleClient) Call(timeout time.Duration, event string, args ...any) (socketio.Args, error) {
	c := s.client()
	if c == nil {
		return socketio.Args{}, ErrNotConnected
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Of(s.ns).EmitWithAck(ctx, event, args...)
}

// Receive returns the next event from the server, waiting up to timeout
// (forever when timeout <= 0). It returns a *TimeoutError when none
// arrived in time, and ErrNotConnected once the client is disconnected
// for good and every queued event has been received.
func (s *SimpleClient) Receive(timeout time.Duration) (Received, error) {
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	for {
		s.mu.Lock()
		if len(s.events) > 0 {
			r := s.events[0]
			s.events[0] = Received{}
			s.events = s.events[1:]
			more := len(s.events) > 0
			s.mu.Unlock()
			if more {
				s.wake()
			}
			return r, nil
		}
		c, over := s.c, s.over
		s.mu.Unlock()
		if c == nil || isClosed(over) {
			return Received{}, ErrNotConnected
		}
		select {
		case <-s.signal:
		case <-deadline:
			return Received{}, &TimeoutError{Op: "receive"}
		}
	}
}

// SID returns the namespace's session id, or "" when not connected.
func (s *SimpleClient) SID() string {
	c := s.client()
	if c == nil {
		return ""
	}
	return c.SID(s.ns)
}

// Transport returns "polling" or "websocket", or "" when not connected.
func (s *SimpleClient) Transport() string {
	c := s.client()
	if c == nil {
		return ""
	}
	return c.Transport()
}

// Disconnect disconnects from the server and stops reconnecting. Events
// already received can still be pulled with Receive. Connect may be
// called again afterwards.
func (s *SimpleClient) Disconnect() error {
	s.mu.Lock()
	c := s.c
	s.c = nil
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	c.Shutdown()
	c.Wait() // no user handlers run on c, so this cannot deadlock
	s.wake()
	return nil
}

// Close disconnects and makes the SimpleClient unusable. It is safe to
// call more than once.
func (s *SimpleClient) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.Disconnect()
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
