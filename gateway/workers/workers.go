// Package workers forwards the client events no handler of the gateway
// takes to workers, through a work queue on the broker, and routes the
// workers' replies back to the clients' acknowledgements.
//
//	q, _ := redisadapter.NewWorkQueue(client, redisadapter.WorkQueueOptions{Stream: "siogate.work"})
//	f, err := workers.Attach(srv, workers.Config{Queue: q, Allow: []string{"chat", "order.*"}})
//
// Each event is pushed once, as a wire.WorkerEvent with a unique id; the
// queue's consumer group hands it to one worker at least once, and the
// worker answers with a wire.WorkerReply on the namespace's cluster request
// channel, which the cluster adapter gives back to this node.
//
// The client is told of every refusal with an error object
// {"message": ..., "data": {"code": ...}}: as the answer to its
// acknowledgement when it asked for one, otherwise as an "error" event
// (as the gateway's event middlewares refuse). The codes are the Code*
// constants. An event that gets no reply before Config.Timeout is answered
// with CodeTimeout; if the broker took it, it stays in the queue, so a
// worker may still handle it later (its reply is then dropped).
package workers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/gateway"
)

// The codes of the error objects the client receives.
const (
	// CodeNotAllowed: the event's name is not on the allow-list.
	CodeNotAllowed = "not_allowed"
	// CodeOverloaded: the node already waits for Config.MaxInFlight
	// replies (workers down or behind); the event was not queued.
	CodeOverloaded = "overloaded"
	// CodeUnavailable: the broker refused the event, or did not confirm
	// it in time (then it may still have been queued).
	CodeUnavailable = "unavailable"
	// CodeTimeout: no worker answered in time. The event may be queued
	// (a worker may still handle it) or not (the broker did not confirm
	// it in time).
	CodeTimeout = "timeout"
	// CodeWorkerError: the worker answered with an error.
	CodeWorkerError = "worker_error"
	// CodeBadEvent: the event's arguments could not be encoded.
	CodeBadEvent = "bad_event"
)

// Meter hears what the forwarder does (metrics); every method must be
// cheap and must not block. Package gateway/metrics implements it.
type Meter interface {
	// Forwarded: the broker accepted an event.
	Forwarded()
	// Refused: an event was refused with code (a Code* constant).
	Refused(code string)
	// Replied: a worker answered an event after d.
	Replied(d time.Duration)
}

// Config configures a Forwarder. Queue and Allow are required; the other
// fields have defaults.
type Config struct {
	// Queue receives the events.
	Queue adapter.WorkQueue
	// Allow lists the event names forwarded, each a name or a path.Match
	// pattern ("*" for every event, "order.*"). Other events are refused
	// with CodeNotAllowed.
	Allow []string
	// Namespaces whose unhandled events are forwarded (default "/").
	Namespaces []string
	// MaxInFlight bounds the events waiting for a worker's reply or for
	// the broker to take them (a push outlives a timed-out event until the
	// broker answers); beyond it events are refused with CodeOverloaded
	// (default 10,000). It bounds the node's push goroutines too.
	MaxInFlight int
	// Timeout bounds the wait for a worker's reply, push included
	// (default 10s).
	Timeout time.Duration
	// Logger receives the forwarder's logs.
	Logger *slog.Logger
	// Meter, when set, hears forwards, refusals and replies.
	Meter Meter
}

// Forwarder forwards a server's unhandled events to workers.
type Forwarder struct {
	cfg     Config
	srv     *gateway.Server
	node    string
	seq     atomic.Uint64
	slots   atomic.Int64
	mu      sync.Mutex
	pending map[string]*pending
	closed  bool
}

// pending is an event waiting for its reply.
type pending struct {
	sock  *gateway.Socket
	ev    *gateway.Event
	start time.Time
	timer *time.Timer
	// holds counts what keeps the event's in-flight slot: its place in
	// the pending map (until answered, refused or timed out) and its push
	// (until the broker answers). The slot is freed when both are gone,
	// so pushes to a slow broker never outnumber MaxInFlight.
	holds atomic.Int32
}

// drop gives up one hold on p's slot.
func (f *Forwarder) drop(p *pending) {
	if p.holds.Add(-1) == 0 {
		f.release()
	}
}

// Attach registers the forwarder as the catch-all event handler ("*") of
// cfg.Namespaces on srv and as the receiver of worker replies. Handlers
// set for an event name keep taking their events.
func Attach(srv *gateway.Server, cfg Config) (*Forwarder, error) {
	if cfg.Queue == nil {
		return nil, errors.New("workers: no Queue: give the work queue of a broker module (adapter-redis NewWorkQueue, ...)")
	}
	if len(cfg.Allow) == 0 {
		return nil, errors.New(`workers: empty Allow list: name the events to forward, or "*" for all`)
	}
	for _, p := range cfg.Allow {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("workers: bad pattern %q in Allow: %w", p, err)
		}
	}
	if len(cfg.Namespaces) == 0 {
		cfg.Namespaces = []string{"/"}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 10_000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	f := &Forwarder{cfg: cfg, srv: srv, node: hex.EncodeToString(id[:]), pending: make(map[string]*pending)}
	srv.OnWorkerReply(f.reply)
	for _, name := range cfg.Namespaces {
		srv.Of(name).On("*", f.handle)
	}
	return f, nil
}

// Node returns the id this node puts in its events.
func (f *Forwarder) Node() string { return f.node }

// InFlight returns the number of events waiting for a worker's reply.
func (f *Forwarder) InFlight() int { return int(f.slots.Load()) }

// Close stops forwarding: later events are refused with CodeUnavailable,
// and the events waiting are answered with CodeUnavailable.
func (f *Forwarder) Close() {
	f.mu.Lock()
	f.closed = true
	waiting := f.pending
	f.pending = make(map[string]*pending)
	f.mu.Unlock()
	for _, p := range waiting {
		p.timer.Stop()
		f.drop(p)
		f.refuse(p.sock, p.ev, CodeUnavailable, "the gateway is shutting down")
	}
}

func (f *Forwarder) allowed(event string) bool {
	for _, p := range f.cfg.Allow {
		if p == event {
			return true
		}
		if ok, _ := path.Match(p, event); ok {
			return true
		}
	}
	return false
}

func (f *Forwarder) release() { f.slots.Add(-1) }

// handle is the catch-all event handler.
func (f *Forwarder) handle(s *gateway.Socket, e *gateway.Event) []any {
	if !f.allowed(e.Name) {
		f.refuse(s, e, CodeNotAllowed, "event not allowed: "+e.Name)
		return nil
	}
	if f.slots.Add(1) > int64(f.cfg.MaxInFlight) {
		f.release()
		f.refuse(s, e, CodeOverloaded, "workers are busy or down: event not queued, try again later")
		return nil
	}
	args, err := e.Args.Generic()
	if err != nil {
		f.release()
		f.refuse(s, e, CodeBadEvent, "bad event arguments")
		return nil
	}
	e.AckLater()
	now := time.Now()
	id := f.node + "-" + strconv.FormatUint(f.seq.Add(1), 10)
	we := &wire.WorkerEvent{
		ID: id, Node: f.node, Nsp: s.Namespace().Name(), SID: s.ID(), Event: e.Name, Args: args,
		Data: s.Data(), HasAck: e.AckRequested(), Deadline: now.Add(f.cfg.Timeout).UnixMilli(),
	}
	data, err := wire.EncodeWorkerEvent(we)
	if err != nil {
		f.release()
		f.refuse(s, e, CodeBadEvent, "event arguments cannot be forwarded: "+err.Error())
		return nil
	}
	p := &pending{sock: s, ev: e, start: now}
	p.holds.Store(2)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		f.release()
		f.refuse(s, e, CodeUnavailable, "the gateway is shutting down")
		return nil
	}
	f.pending[id] = p
	p.timer = time.AfterFunc(f.cfg.Timeout, func() { f.expire(id) })
	f.mu.Unlock()
	// The push runs apart from the connection's reader: a slow broker
	// delays this event's answer, never the client's next packets. The
	// in-flight bound bounds these goroutines too.
	go f.push(p, id, data)
	return nil
}

func (f *Forwarder) push(p *pending, id string, data []byte) {
	defer f.drop(p)
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.Timeout)
	defer cancel()
	if err := f.cfg.Queue.Push(ctx, data); err != nil {
		if p := f.take(id); p != nil {
			f.cfg.Logger.Warn("workers: the broker refused an event", "event", p.ev.Name, "err", err)
			f.refuse(p.sock, p.ev, CodeUnavailable, "the work queue did not take the event in time: try again later")
		}
		return
	}
	if m := f.cfg.Meter; m != nil {
		m.Forwarded()
	}
}

// take removes the pending event id and frees its slot; nil when it is
// already answered.
func (f *Forwarder) take(id string) *pending {
	f.mu.Lock()
	p := f.pending[id]
	delete(f.pending, id)
	f.mu.Unlock()
	if p != nil {
		p.timer.Stop()
		f.drop(p)
	}
	return p
}

func (f *Forwarder) expire(id string) {
	if p := f.take(id); p != nil {
		f.refuse(p.sock, p.ev, CodeTimeout, "no worker answered in time")
	}
}

// reply receives a worker's reply from the cluster adapter.
func (f *Forwarder) reply(_ *gateway.Namespace, r *wire.WorkerReply) {
	if r.Node != f.node {
		return
	}
	p := f.take(r.EventID)
	if p == nil {
		return // late (timed out) or a duplicate
	}
	if m := f.cfg.Meter; m != nil {
		m.Replied(time.Since(p.start))
	}
	if r.Error != "" {
		f.refuse(p.sock, p.ev, CodeWorkerError, r.Error)
		return
	}
	_ = p.ev.Ack(r.Args...)
}

// refuse tells the client its event was refused: in its ack when it asked
// for one, otherwise with an "error" event.
func (f *Forwarder) refuse(s *gateway.Socket, e *gateway.Event, code, msg string) {
	if m := f.cfg.Meter; m != nil {
		m.Refused(code)
	}
	body := map[string]any{"message": msg, "data": map[string]any{"code": code, "event": e.Name}}
	if e.AckRequested() {
		_ = e.Ack(body)
		return
	}
	_ = s.Emit("error", body)
}
