package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/protocol/socketio"
)

// Operator selects sockets of a namespace for a broadcast or a bulk
// operation. Each narrowing method returns a new Operator, so partial
// chains can be kept and reused. Operations that may cross nodes take a
// context first.
type Operator struct {
	ns   *Namespace
	opts adapter.BroadcastOptions
}

// To adds rooms (or sids) to select from.
func (o Operator) To(rooms ...string) Operator {
	o.opts.Rooms = append(slices.Clip(o.opts.Rooms), rooms...)
	return o
}

// In is To.
func (o Operator) In(rooms ...string) Operator { return o.To(rooms...) }

// Except excludes sockets in rooms (or with these sids).
func (o Operator) Except(rooms ...string) Operator {
	o.opts.Except = append(slices.Clip(o.opts.Except), rooms...)
	return o
}

// Local restricts the operation to this node.
func (o Operator) Local() Operator {
	o.opts.Flags.Local = true
	return o
}

// Volatile drops the event for clients not ready to receive it now.
func (o Operator) Volatile() Operator {
	o.opts.Flags.Volatile = true
	return o
}

// Compress sets whether the event may be compressed, on connections that
// negotiated compression (default true).
func (o Operator) Compress(on bool) Operator {
	o.opts.Flags.Compress = on
	return o
}

// Options returns the selection as adapter options.
func (o Operator) Options() adapter.BroadcastOptions { return o.opts }

// targets returns the namespaces an operation applies to: the namespace,
// or every child of a parent namespace.
func (ns *Namespace) targets() []*Namespace {
	if ns.match == nil {
		return []*Namespace{ns}
	}
	ns.hmu.RLock()
	defer ns.hmu.RUnlock()
	out := make([]*Namespace, 0, len(ns.children))
	for c := range ns.children {
		out = append(out, c)
	}
	return out
}

// each runs fn for every target namespace and joins the errors.
func (o Operator) each(fn func(ns *Namespace) error) error {
	var errs []error
	for _, ns := range o.ns.targets() {
		if err := fn(ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Emit sends an event to the selected sockets. The packet is encoded once.
func (o Operator) Emit(ctx context.Context, event string, args ...any) error {
	return o.each(func(ns *Namespace) error {
		p, err := ns.srv.newEvent(ns.name, event, args)
		if err != nil {
			return err
		}
		ns.store(ctx, &p, o.opts.Rooms, o.opts.Except, o.opts.Flags)
		return ns.adapter.Broadcast(ctx, &p, o.opts)
	})
}

// Send emits the "message" event to the selected sockets.
func (o Operator) Send(ctx context.Context, args ...any) error {
	return o.Emit(ctx, "message", args...)
}

// EmitWithAck sends an event asking every selected socket, on every node,
// for an ack and collects the answers until all have come or ctx is done.
// When ctx ends first it returns the answers so far with an error wrapping
// ErrAckTimeout and ctx.Err().
func (o Operator) EmitWithAck(ctx context.Context, event string, args ...any) ([]socketio.Args, error) {
	if o.ns.adapter == nil {
		return nil, ErrParentNamespace
	}
	p, err := o.ns.srv.newEvent(o.ns.name, event, args)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      []socketio.Args
		counted  int // nodes that reported their count
		expected int // sockets asked, over the nodes that reported
	)
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	nodes, err := o.ns.adapter.BroadcastWithAck(ctx, &p, o.opts,
		func(n int) {
			mu.Lock()
			counted++
			expected += n
			mu.Unlock()
			poke()
		},
		func(_ string, a socketio.Args) {
			mu.Lock()
			out = append(out, a)
			mu.Unlock()
			poke()
		})
	if err != nil {
		return nil, err
	}
	for {
		mu.Lock()
		done := counted >= nodes && len(out) >= expected
		res := slices.Clone(out)
		mu.Unlock()
		if done {
			return res, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			mu.Lock()
			res = slices.Clone(out)
			mu.Unlock()
			return res, fmt.Errorf("%w: %w", ErrAckTimeout, ctx.Err())
		}
	}
}

// SocketsJoin puts the selected sockets, on every node, into rooms.
func (o Operator) SocketsJoin(ctx context.Context, rooms ...string) error {
	return o.each(func(ns *Namespace) error { return ns.adapter.AddSockets(ctx, o.opts, rooms) })
}

// SocketsLeave takes the selected sockets, on every node, out of rooms.
func (o Operator) SocketsLeave(ctx context.Context, rooms ...string) error {
	return o.each(func(ns *Namespace) error { return ns.adapter.DelSockets(ctx, o.opts, rooms) })
}

// DisconnectSockets disconnects the selected sockets, on every node; close
// also closes their connections. Their clients see "io server disconnect"
// and do not reconnect by themselves.
func (o Operator) DisconnectSockets(ctx context.Context, close bool) error {
	return o.each(func(ns *Namespace) error { return ns.adapter.DisconnectSockets(ctx, o.opts, close) })
}

// FetchSockets describes the selected sockets, on every node.
func (o Operator) FetchSockets(ctx context.Context) ([]adapter.SocketInfo, error) {
	var out []adapter.SocketInfo
	err := o.each(func(ns *Namespace) error {
		got, err := ns.adapter.FetchSockets(ctx, o.opts)
		out = append(out, got...)
		return err
	})
	return out, err
}
