// Package worker runs the handlers of the client events a siogate gateway
// forwards to workers (gateway/workers, the binary's --workers flag), and
// sends each handler's answer back to the client's acknowledgement. A
// Worker is also an emitter.Emitter, to push events to any client.
//
//	b, _ := redisadapter.NewBroker(redisadapter.Options{URL: url})  // replies and emits
//	q := redisadapter.NewWorkQueue(b.Client(), redisadapter.WorkQueueOptions{})
//	w := worker.New(q, b, worker.Options{})
//	w.On("order", func(ctx context.Context, ev *worker.Event) error {
//		ev.Ack("accepted", ev.Arg(0))
//		return w.To("staff").Emit(ctx, "new-order", ev.Arg(0))
//	})
//	err := w.Run(ctx)
//
// The worker imports no broker: the program passes a queue and a
// publisher from the adapter-* module of its broker (each offers
// NewWorkQueue and NewBroker), so it builds only that broker's client.
//
// Delivery is at least once: an event whose worker dies before answering
// is handled again by another one. Event.ID is unique per event, for
// handlers that must drop duplicates.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/emitter"
)

// Source is the worker's side of a work queue; the WorkQueue of every
// adapter-* module implements it. Consume calls handle for each message,
// several at a time, until ctx is done; a message whose handle returns
// nil is acknowledged, others are delivered again.
type Source interface {
	Consume(ctx context.Context, handle func(ctx context.Context, data []byte) error) error
}

// Flusher is implemented by the publishers whose Publish returns before
// the broker has the message (adapter-nats's Broker buffers it, and a
// goroutine of its own writes it later). The worker flushes each reply
// before the queue acknowledges its event: otherwise the acknowledgement,
// sent on the queue's connection, may reach the broker while the reply
// dies with a killed worker, and the event is never answered.
type Flusher interface {
	// Flush returns once the broker has every message published before.
	Flush(ctx context.Context) error
}

// Handler handles one event. An error answers the client's
// acknowledgement with an error object (code "worker_error"); the event
// is not handled again.
type Handler func(ctx context.Context, ev *Event) error

// Options configure a Worker. The zero value gives the defaults.
type Options struct {
	// Prefix is the gateway nodes' cluster channel prefix (default
	// "socket.io"); replies travel on its request channels.
	Prefix string
	// Logger receives the worker's logs.
	Logger *slog.Logger
}

// Worker consumes forwarded events and runs their handlers. It embeds an
// emitter on the same publisher, so w.To(room).Emit(...) reaches clients.
type Worker struct {
	emitter.Emitter
	src  Source
	pub  emitter.Publisher
	opts Options

	mu       sync.RWMutex
	handlers map[string]Handler
}

// New returns a worker taking events from src and publishing replies and
// emits with pub (the broker the gateway nodes' cluster adapter uses).
func New(src Source, pub emitter.Publisher, opts Options) *Worker {
	if opts.Prefix == "" {
		opts.Prefix = "socket.io"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{
		Emitter:  emitter.New(pub, emitter.Options{Prefix: opts.Prefix}),
		src:      src,
		pub:      pub,
		opts:     opts,
		handlers: make(map[string]Handler),
	}
}

// On sets the handler of event; "*" handles the events with no handler
// of their own (ev.Name tells which). Events with no handler at all are
// answered with an error.
func (w *Worker) On(event string, h Handler) {
	w.mu.Lock()
	w.handlers[event] = h
	w.mu.Unlock()
}

func (w *Worker) handler(event string) Handler {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if h := w.handlers[event]; h != nil {
		return h
	}
	return w.handlers["*"]
}

// Run consumes events until ctx is done, then waits for the handlers
// running and returns ctx's error (or the queue's, if it fails first).
func (w *Worker) Run(ctx context.Context) error {
	return w.src.Consume(ctx, w.handle)
}

// ErrBadEvent reports a queue message that is not a forwarded event; it
// is dropped (acknowledged) after being logged.
var ErrBadEvent = errors.New("worker: bad event message")

// handle runs one message's handler and publishes its reply, flushed
// when the publisher is a Flusher. It fails (so the queue delivers the
// event again) only when the reply cannot be published or flushed.
func (w *Worker) handle(ctx context.Context, data []byte) error {
	we, err := wire.DecodeWorkerEvent(data)
	if err != nil {
		w.opts.Logger.Warn("worker: dropping a message that is not an event", "err", fmt.Errorf("%w: %w", ErrBadEvent, err))
		return nil
	}
	ev := &Event{
		ID: we.ID, Node: we.Node, Namespace: we.Nsp, SID: we.SID, Name: we.Event, Args: we.Args,
		Data: we.Data, AckRequested: we.HasAck, w: w,
	}
	if we.Deadline > 0 {
		ev.Deadline = time.UnixMilli(we.Deadline)
	}
	reply := &wire.WorkerReply{Node: we.Node, EventID: we.ID}
	if h := w.handler(we.Event); h == nil {
		reply.Error = "no worker handles event " + we.Event
	} else if err := w.run(ctx, h, ev); err != nil {
		reply.Error = err.Error()
	} else {
		reply.Args = ev.ackArgs()
	}
	msg, err := wire.EncodeWorkerReply(reply)
	if err != nil {
		reply.Args, reply.Error = nil, "the worker's answer cannot be encoded: "+err.Error()
		if msg, err = wire.EncodeWorkerReply(reply); err != nil {
			return nil
		}
	}
	ch := wire.ChannelsFor(w.opts.Prefix, we.Nsp).Request
	if err := w.pub.Publish(ctx, ch, msg); err != nil {
		w.opts.Logger.Warn("worker: the reply could not be published; the event will be handled again", "event", we.Event, "id", we.ID, "err", err)
		return fmt.Errorf("worker: publishing the reply on %s: %w", ch, err)
	}
	if f, ok := w.pub.(Flusher); ok {
		// Not cancelled with ctx: on shutdown the running handlers
		// finish, and their replies are already published.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := f.Flush(fctx); err != nil {
			w.opts.Logger.Warn("worker: the reply may not have reached the broker; the event will be handled again", "event", we.Event, "id", we.ID, "err", err)
			return fmt.Errorf("worker: flushing the reply on %s: %w", ch, err)
		}
	}
	return nil
}

// flushTimeout bounds the wait for the broker to confirm a reply.
const flushTimeout = 10 * time.Second

func (w *Worker) run(ctx context.Context, h Handler, ev *Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			w.opts.Logger.Error("worker: handler panicked", "event", ev.Name, "panic", r)
			err = errors.New("internal error in the worker")
		}
	}()
	return h(ctx, ev)
}

// Event is one client event handed to a worker.
type Event struct {
	// ID is unique per event; the same event delivered twice (at least
	// once delivery) has the same ID.
	ID string
	// Node is the id of the gateway node holding the socket.
	Node string
	// Namespace and SID identify the socket; Name is the event's name.
	Namespace string
	SID       string
	Name      string
	// Args are the event's arguments as decoded from msgpack: nil, bool,
	// int64, float64, string, []byte (binary attachments), []any and
	// map[string]any.
	Args []any
	// Data is the socket's data on the gateway (set at connect, by the
	// connect authentication for instance).
	Data any
	// AckRequested reports whether the client waits for an answer.
	AckRequested bool
	// Deadline is when the gateway stops waiting for the answer (zero if
	// unknown); answers after it are dropped by the node.
	Deadline time.Time

	w     *Worker
	mu    sync.Mutex
	acked bool
	ack   []any
}

// Ack sets the answer to the client's acknowledgement; it is sent when the
// handler returns nil. Only the first call counts.
func (e *Event) Ack(args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.acked {
		e.acked, e.ack = true, args
	}
}

func (e *Event) ackArgs() []any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ack
}

// Arg returns argument i, or nil.
func (e *Event) Arg(i int) any {
	if i < 0 || i >= len(e.Args) {
		return nil
	}
	return e.Args[i]
}

// String returns argument i if it is a string, "" otherwise.
func (e *Event) String(i int) string {
	s, _ := e.Arg(i).(string)
	return s
}

// Expired reports whether the gateway no longer waits for the answer.
func (e *Event) Expired() bool { return !e.Deadline.IsZero() && time.Now().After(e.Deadline) }

// Socket returns an emitter targeting the event's socket (through the
// cluster, wherever it is connected): Emit, SocketsJoin, SocketsLeave,
// DisconnectSockets.
func (e *Event) Socket() emitter.Emitter { return e.w.Of(e.Namespace).To(e.SID) }
