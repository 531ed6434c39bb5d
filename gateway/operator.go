package gateway

import (
	"context"
	"slices"
	"sync"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/protocol/socketio"
)

// Operator selects sockets of a namespace for a broadcast or a bulk
// operation. Each narrowing method returns a new Operator, so partial
// chains can be kept and reused.
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

// Compress sets the compression flag, on by default as in Node:
// Compress(false) sends the event uncompressed.
func (o Operator) Compress(on bool) Operator {
	o.opts.Flags.Compress = on
	return o
}

// Options returns the selection as adapter options.
func (o Operator) Options() adapter.BroadcastOptions { return o.opts }

// Emit sends an event to the selected sockets. The packet is encoded once.
func (o Operator) Emit(event string, args ...any) error {
	p, err := o.ns.srv.newEvent(o.ns.name, event, args)
	if err != nil {
		return err
	}
	return o.ns.adapter.Broadcast(context.Background(), &p, o.opts)
}

// Send emits the "message" event to the selected sockets.
func (o Operator) Send(args ...any) error { return o.Emit("message", args...) }

// EmitWithAck sends an event asking every selected socket, on every node,
// for an ack and collects the answers until all have come or ctx is done.
// When ctx ends first it returns the answers so far with ErrAckTimeout.
func (o Operator) EmitWithAck(ctx context.Context, event string, args ...any) ([]socketio.Args, error) {
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
			return res, ErrAckTimeout
		}
	}
}

// SocketsJoin puts the selected sockets into rooms.
func (o Operator) SocketsJoin(rooms ...string) error {
	return o.ns.adapter.AddSockets(context.Background(), o.opts, rooms)
}

// SocketsLeave takes the selected sockets out of rooms.
func (o Operator) SocketsLeave(rooms ...string) error {
	return o.ns.adapter.DelSockets(context.Background(), o.opts, rooms)
}

// DisconnectSockets disconnects the selected sockets; close also closes
// their connections.
func (o Operator) DisconnectSockets(close bool) error {
	return o.ns.adapter.DisconnectSockets(context.Background(), o.opts, close)
}

// FetchSockets describes the selected sockets.
func (o Operator) FetchSockets(ctx context.Context) ([]adapter.SocketInfo, error) {
	return o.ns.adapter.FetchSockets(ctx, o.opts)
}
