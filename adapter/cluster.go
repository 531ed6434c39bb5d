package adapter

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/protocol/socketio"
)

// ClusterConfig configures the cluster adapter. The zero value gives the
// defaults.
type ClusterConfig struct {
	// Prefix starts every channel name (default "socket.io", as Node's
	// adapter).
	Prefix string
	// RequestTimeout bounds requests to other nodes whose context has no
	// deadline (default 5s).
	RequestTimeout time.Duration
	// HeartbeatInterval is how often a node announces itself when the
	// broker cannot count subscribers (default 5s).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout forgets a node not heard of for this long
	// (default 3 × HeartbeatInterval). Nodes check every HeartbeatInterval,
	// so a node that stops (crash, lost network) is forgotten between
	// HeartbeatTimeout and HeartbeatTimeout + HeartbeatInterval after its
	// last heartbeat (15 to 20s with the defaults), and requests in flight
	// stop waiting for it then; a node that closes (Adapter.Close) says so
	// and is forgotten as soon as the others receive it. On brokers that
	// count subscribers and list channels (Redis) there are no heartbeats:
	// requests in flight stop waiting for a node whose own response
	// channel is gone, checked every 250ms while they wait.
	HeartbeatTimeout time.Duration
	// OutboxLimit and OutboxBytes bound the node's queue of messages to
	// the broker (defaults 10,000 messages and 32 MiB). Publishing only
	// queues, so it never blocks the caller; when the broker is away, the
	// queue holds the messages until it answers again. A message that does
	// not fit is dropped and counted (ClusterStats.Dropped), and the
	// overflow is logged once per outage. A publish that may have reached
	// nobody because the broker restarted (see PublishCounter, Epocher) is
	// held the same way, and sent again once the other nodes are back.
	OutboxLimit int
	OutboxBytes int
	// PublishOnSpecificResponseChannel answers each request on the
	// requester's own response channel instead of the shared one.
	PublishOnSpecificResponseChannel bool
	// Logger receives the adapter's logs (broker outages, bad messages).
	Logger *slog.Logger
	// Observer, when set, hears the adapter's requests, publishes,
	// deliveries, drops and broker state (metrics); nil costs nothing.
	Observer ClusterObserver
}

func (c ClusterConfig) withDefaults() ClusterConfig {
	if c.Prefix == "" {
		c.Prefix = "socket.io"
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = 3 * c.HeartbeatInterval
	}
	if c.OutboxLimit <= 0 {
		c.OutboxLimit = 10_000
	}
	if c.OutboxBytes <= 0 {
		c.OutboxBytes = 32 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// NewCluster returns a Factory of cluster adapters that reach the other
// nodes through b. Every namespace gets its own adapter with its own uid.
// When the broker does not answer the subscription, the namespace serves
// its own sockets and subscribes again in the background (backing off from
// 100ms to 2s) until the broker answers; it then joins the cluster.
func NewCluster(b Broker, cfg ClusterConfig) Factory {
	cfg = cfg.withDefaults()
	return func(local Local) Adapter { return newCluster(b, cfg, local) }
}

// Cluster is the cluster adapter: local state in a Memory adapter, every
// operation also carried to the other nodes through a Broker.
type Cluster struct {
	*Memory
	broker Broker
	cfg    ClusterConfig
	uid    string
	ch     wire.Channels
	// layout is the broker's (wire.LayoutOf): classic, or Node's sharded
	// one, where ch.Request, ch.Response and ch.Broadcast are all the
	// namespace's channel "prefix#nsp#".
	layout wire.Layout
	rooms  *roomChannels   // sharded dynamic modes: the room channels
	ctx    context.Context // done once Close starts
	cancel context.CancelFunc
	wg     sync.WaitGroup
	out    *outbox
	meter  *clusterMeter
	outEnd context.CancelFunc // stops the outbox's sender
	outWG  sync.WaitGroup
	// events runs the namespace's server-side handlers for events from
	// other nodes, in arrival order, off the broker's delivery goroutine.
	events        chan func()
	eventsDropped atomic.Uint64
	eventsWarned  atomic.Bool // a full queue was logged since it last emptied
	// replied receives the uid of each node that answers this node's
	// initial heartbeat (it receives this node's messages and sends its
	// own).
	replied chan string
	// lastSeq holds the last number received from each other node (see
	// fresh).
	seqMu   sync.Mutex
	lastSeq map[seqKey]uint64

	mu       sync.Mutex
	sub      io.Closer // nil until the broker accepts the subscription
	requests map[string]*request
	nodes    map[string]time.Time // uid → last heartbeat (when counting by heartbeat)
	watching bool                 // watchPeers runs
	closed   bool
}

var _ Adapter = (*Cluster)(nil)

// request is an outstanding request to the other nodes.
type request struct {
	typ  int
	want int // answers expected, this node excluded
	got  int // answers counted (without a responder uid when missing is set)
	// missing, when nodes count each other by heartbeat, holds the uids of
	// the nodes that have not answered yet; a node that leaves or stops
	// sending heartbeats is taken out, so nobody waits for it.
	missing  map[string]bool
	done     chan struct{}
	sockets  []SocketInfo
	parts    map[string]int // fetch answer parts received, by responder uid
	rooms    []string
	answers  []socketio.Args
	onCount  func(int)
	onAck    AckFunc
	finished bool
}

func newCluster(b Broker, cfg ClusterConfig, local Local) *Cluster {
	c := &Cluster{
		Memory:   newMemory(local),
		broker:   b,
		cfg:      cfg,
		uid:      newUID(),
		ch:       wire.ChannelsFor(cfg.Prefix, local.Name()),
		layout:   wire.LayoutOf(b),
		requests: make(map[string]*request),
		nodes:    make(map[string]time.Time),
	}
	if c.layout.Sharded {
		main := wire.ShardedChannel(cfg.Prefix, local.Name())
		c.ch = wire.Channels{Broadcast: main, Request: main, Response: main}
		c.broker = shardedView(b)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.replied = make(chan string, 64)
	c.lastSeq = make(map[seqKey]uint64)
	c.events = make(chan func(), serverEventQueue)
	go c.runServerEvents() // not waited for by Close: a handler may hang
	// One publish may take a while (a broker confirming a large message
	// under load); giving up early would send it again.
	c.out = newOutbox(c.broker, cfg.Logger.With("nsp", local.Name()), cfg.OutboxLimit, cfg.OutboxBytes, max(cfg.RequestTimeout, 10*time.Second), c.awaitBroker)
	c.out.stamp = c.stampFor()
	if cfg.Observer != nil {
		c.meter = &clusterMeter{obs: cfg.Observer}
		c.out.meter = c.meter
	}
	var octx context.Context
	octx, c.outEnd = context.WithCancel(context.Background())
	c.outWG.Add(1)
	go func() {
		defer c.outWG.Done()
		c.out.run(octx)
	}()
	channels := []string{c.ch.Request, c.ch.Response, c.ch.Broadcast}
	if c.counts() || cfg.PublishOnSpecificResponseChannel {
		// Node peers (on Redis) may answer on this node's own response
		// channel; other brokers carry only siogate nodes, which answer on
		// the shared one unless told otherwise, so they skip it (a Kafka
		// topic per node would pile up).
		channels = append(channels, c.ch.ResponseFor(c.uid))
	}
	sub := Subscription{Channels: channels, Prefixes: []string{c.ch.Broadcast}, Deliver: c.deliver}
	if c.layout.Sharded {
		// No patterns with SSUBSCRIBE: the namespace's channel, this
		// node's response channel, and a channel per room as rooms come
		// and go (dynamic modes).
		sub = Subscription{Channels: []string{c.ch.Request, c.ch.ResponseFor(c.uid), wire.ShardedNodesChannel(cfg.Prefix, local.Name())}, Deliver: c.deliver}
		if c.layout.Mode != wire.ModeStatic {
			c.rooms = newRoomChannels(c)
			c.Memory.roomHook = c.rooms.touch
			c.wg.Add(1)
			go c.rooms.run()
		}
	}
	closer, err := b.Subscribe(context.Background(), sub)
	if err != nil {
		cfg.Logger.Error("adapter: cluster subscription failed; this namespace stays local until the broker answers (retrying)", "nsp", local.Name(), "err", err)
		c.meter.brokerUp(false)
		c.wg.Add(1)
		go c.subscribeLater(sub)
		return c
	}
	c.joined(closer)
	return c
}

// serverEventQueue bounds the server-side events from other nodes waiting
// for the namespace's handlers.
const serverEventQueue = 256

// serverEvent queues a call of the namespace's server-side handlers, so
// that a slow handler delays neither deliveries, acks nor the answers to
// other nodes' requests. When serverEventQueue events already wait, the
// event is dropped (a requester waiting for its answer times out for this
// node), counted in ClusterStats.ServerEventsDropped, and logged once until
// the queue empties.
func (c *Cluster) serverEvent(call func()) {
	select {
	case c.events <- call:
		return
	default:
	}
	c.eventsDropped.Add(1)
	if !c.eventsWarned.Swap(true) {
		c.cfg.Logger.Warn("adapter: server-side handlers are too slow; dropping events from other nodes until they catch up",
			"nsp", c.Memory.local.Name(), "queued", serverEventQueue)
	}
}

func (c *Cluster) runServerEvents() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case call := <-c.events:
			call()
			if len(c.events) == 0 {
				c.eventsWarned.Store(false)
			}
		}
	}
}

// counts reports whether the broker counts subscribers; otherwise nodes
// count each other by heartbeat.
func (c *Cluster) counts() bool {
	_, ok := c.broker.(SubscriberCounter)
	return ok
}

// subscribeLater retries a failed subscription until the broker accepts
// it or the adapter closes.
func (c *Cluster) subscribeLater(sub Subscription) {
	defer c.wg.Done()
	delay := 100 * time.Millisecond
	for attempt := 2; ; attempt++ {
		t := time.NewTimer(delay)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
		closer, err := c.broker.Subscribe(ctx, sub)
		cancel()
		if err == nil {
			c.cfg.Logger.Info("adapter: cluster subscription made; this namespace joined the cluster", "nsp", c.Memory.local.Name(), "attempts", attempt)
			c.joined(closer)
			return
		}
		c.cfg.Logger.Debug("adapter: cluster subscription failed again", "nsp", c.Memory.local.Name(), "err", err)
		delay = min(2*delay, 2*time.Second)
	}
}

// joined adopts the subscription and, when nodes count each other by
// heartbeat, starts the heartbeat.
func (c *Cluster) joined(closer io.Closer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = closer.Close()
		return
	}
	c.sub = closer
	c.meter.brokerUp(true)
	if !c.counts() {
		c.wg.Add(1)
		go c.heartbeat()
	}
}

// UID returns this node's id for the namespace.
func (c *Cluster) UID() string { return c.uid }

// Channels returns the namespace's channel names.
func (c *Cluster) Channels() wire.Channels { return c.ch }

func newUID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// publish queues a message for the broker. A message for a request that
// waits for answers is skipped if the request ended before it could be
// sent (ctx's deadline); others are sent however late.
func (c *Cluster) publish(ctx context.Context, channel string, data []byte, expires bool) error {
	var until time.Time
	if expires {
		until, _ = ctx.Deadline()
	}
	return c.out.push(channel, data, until)
}

// encodeRequest encodes a request in the broker's layout.
func (c *Cluster) encodeRequest(r *wire.Request) ([]byte, error) {
	if c.layout.Sharded {
		return wire.EncodeShardedRequest(c.Memory.local.Name(), r)
	}
	return wire.EncodeRequest(r)
}

func (c *Cluster) publishRequest(ctx context.Context, r *wire.Request, expires bool) error {
	data, err := c.encodeRequest(r)
	if err != nil {
		return err
	}
	if c.meter != nil {
		c.meter.obs.RequestSent(RequestTypeName(r.Type))
	}
	return c.publish(ctx, c.ch.Request, data, expires)
}

// awaitBroker is the outbox's wait after a failed or doubtful publish: it
// probes the broker (backing off from 20ms to 1s) until a probe is
// accepted, then waits, at most RequestTimeout, until the other nodes
// have subscribed again (brokers without persistence drop what nobody
// receives). On a broker that counts receivers, the probe is an empty
// message to a room nobody is in (every node's pattern subscription
// counts it and drops it unread, Node's too) and the wait ends when it
// reaches target subscribers. Elsewhere the probe is an initial heartbeat
// and the wait ends when every node known by heartbeat answered it (any
// one node when none is known). A node alone, or among Node peers that do
// not answer heartbeats, waits the whole RequestTimeout.
//
// In the sharded layout, where there are no patterns, the probe counts the
// subscribers of channel, the held message's (PUBSUB SHARDNUMSUB at the
// channel's master): it answers once the shard has a master again, and
// the wait ends when target nodes subscribed there again.
func (c *Cluster) awaitBroker(ctx context.Context, channel string, target int) bool {
	counter, counting := c.broker.(PublishCounter)
	subs, subCounting := c.broker.(SubscriberCounter)
	probeChannel := c.ch.Broadcast + probeRoom + "#"
	probe := func() (int, error) {
		pctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
		if c.layout.Sharded && subCounting {
			return subs.NumSub(pctx, channel)
		}
		if counting {
			return counter.PublishCount(pctx, probeChannel, nil)
		}
		return 0, c.broker.Publish(pctx, c.ch.Request, c.heartbeatBytes(`"init"`))
	}
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	var n int
	for delay := 20 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		if !sleep(delay) {
			return false
		}
		for drained := false; !drained; { // answers from before are stale
			select {
			case <-c.replied:
			default:
				drained = true
			}
		}
		var err error
		if n, err = probe(); err == nil {
			break
		}
	}
	c.mu.Lock()
	missing := c.peersLocked()
	c.mu.Unlock()
	bound := time.NewTimer(c.cfg.RequestTimeout)
	defer bound.Stop()
	every := 250 * time.Millisecond
	if counting {
		every = 25 * time.Millisecond
	}
	again := time.NewTicker(every)
	defer again.Stop()
	for {
		if counting && n >= target {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case uid := <-c.replied:
			delete(missing, uid)
			if !counting && len(missing) == 0 {
				return true
			}
		case <-bound.C:
			return true
		case <-again.C:
			if m, err := probe(); err == nil {
				n = m
			}
		}
	}
}

// probeRoom is the room of awaitBroker's probes: no socket is ever in it.
const probeRoom = "siogate\x00probe"

// shardedView shows the cluster what it uses of a broker in Node's
// sharded layout: publishing, subscribing and, where the broker has them,
// subscriber counts (SHARDNUMSUB), receiver counts (SPUBLISH) and epochs,
// for the outbox to hold and send again across a master's failover (the
// envelopes carry a sequence number Node ignores: wire.StampSharded).
// Channel listing (ChannelLister) stays hidden: PUBSUB SHARDCHANNELS
// answers for one shard only.
func shardedView(b Broker) Broker {
	sc, counts := b.(SubscriberCounter)
	pc, publishCounts := b.(PublishCounter)
	ep, epochs := b.(Epocher)
	if counts && publishCounts && epochs {
		return struct {
			Broker
			SubscriberCounter
			PublishCounter
			Epocher
		}{b, sc, pc, ep}
	}
	if counts {
		return struct {
			Broker
			SubscriberCounter
		}{b, sc}
	}
	return struct{ Broker }{b}
}

// stampFor numbers the broadcasts and requests of a node whose broker may
// make it send them twice (see outbox); others go as they are.
func (c *Cluster) stampFor() func(channel string, data []byte, seq uint64) []byte {
	_, counts := c.broker.(PublishCounter)
	_, epochs := c.broker.(Epocher)
	if !counts && !epochs {
		return nil
	}
	if c.layout.Sharded {
		// One envelope on every channel: broadcasts, requests, answers.
		return func(_ string, data []byte, seq uint64) []byte { return wire.StampSharded(data, seq) }
	}
	return func(channel string, data []byte, seq uint64) []byte {
		switch channel {
		case c.ch.Broadcast:
			return wire.StampBroadcast(data, seq)
		case c.ch.Request:
			return wire.StampRequest(data, seq)
		}
		return data
	}
}

// fresh reports whether a numbered message from another node was not
// received before: after a broker outage a node may send the last
// messages again (see outbox), and each is applied once. Numbers count
// per sender and stream, each in publish order: in the classic layout
// the streams are the broadcasts and the requests ("b", "r"); in the
// sharded layout each channel is one (its messages arrive in order, but
// two channels may live on two shards and interleave).
func (c *Cluster) fresh(uid string, seq uint64, stream string) bool {
	if seq == 0 || uid == "" {
		return true
	}
	c.seqMu.Lock()
	defer c.seqMu.Unlock()
	key := seqKey{uid, stream}
	last, ok := c.lastSeq[key]
	if ok && seq <= last {
		return false
	}
	if !ok && len(c.lastSeq) >= 4096 {
		clear(c.lastSeq) // senders long gone; a copy may pass once
	}
	c.lastSeq[key] = seq
	return true
}

type seqKey struct {
	uid    string
	stream string
}

// named returns this node's uid for an answer to r when the requester
// asked responders to name themselves, "" otherwise.
func (c *Cluster) named(r *wire.Request) string {
	if r.Named {
		return c.uid
	}
	return ""
}

// publishResponse queues an answer, dropped if still queued at until
// (see answerBy); r.UID, when set, is kept.
func (c *Cluster) publishResponse(requester string, r *wire.Response, until time.Time) {
	// The responder's uid serves counting by heartbeat and answers in
	// parts; elsewhere (Redis, with Node peers) responses keep Node's shape.
	if !c.counts() || r.Parts > 0 {
		r.UID = c.uid
	}
	var data []byte
	var err error
	if c.layout.Sharded {
		data, err = wire.EncodeShardedResponse(c.uid, c.Memory.local.Name(), r)
	} else {
		data, err = wire.EncodeResponse(r)
	}
	if err != nil {
		c.cfg.Logger.Warn("adapter: cannot encode response", "err", err)
		return
	}
	ch := c.ch.Response
	if c.cfg.PublishOnSpecificResponseChannel && requester != "" && r.Type != wire.TypeServerSideEmit {
		ch = c.ch.ResponseFor(requester)
	}
	if c.layout.Sharded {
		ch = c.ch.ResponseFor(requester) // Node's sharded adapter always does
	}
	_ = c.out.push(ch, data, until)
}

// maxAnswerWait bounds how long an answer waits in the queue, whatever
// the requester says.
const maxAnswerWait = time.Hour

// answerBy returns when the requester of r, received now, stops waiting
// for answers: it says so (Request.Wait) or, a Node requester, waits this
// node's request timeout. Nobody waits for an answer past that.
func (c *Cluster) answerBy(r *wire.Request) time.Time {
	wait := c.cfg.RequestTimeout
	if r.Wait > 0 {
		wait = min(time.Duration(r.Wait)*time.Millisecond, maxAnswerWait)
	}
	return time.Now().Add(wait)
}

// Broadcast delivers locally, then to the other nodes unless Local.
func (c *Cluster) Broadcast(ctx context.Context, p *socketio.Packet, opts BroadcastOptions) error {
	_ = c.Memory.Broadcast(ctx, p, opts)
	if opts.Flags.Local {
		return nil
	}
	wp, err := wire.PacketFrom(p)
	if err != nil {
		return err
	}
	if c.layout.Sharded {
		data, err := wire.EncodeShardedBroadcast(c.uid, c.Memory.local.Name(), wp, toWireOpts(opts))
		if err != nil {
			return err
		}
		ch := c.ch.Broadcast
		if wire.RoomChannelFor(c.layout.Mode, opts.Rooms) {
			ch += opts.Rooms[0] + "#"
		}
		return c.publish(ctx, ch, data, false)
	}
	data, err := wire.EncodeBroadcast(c.uid, wp, toWireOpts(opts))
	if err != nil {
		return err
	}
	return c.publish(ctx, c.ch.Broadcast, data, false)
}

// BroadcastWithAck asks the selected sockets on every node for an ack.
func (c *Cluster) BroadcastWithAck(ctx context.Context, p *socketio.Packet, opts BroadcastOptions, onCount func(int), onAck AckFunc) (int, error) {
	if opts.Flags.Local {
		return c.Memory.BroadcastWithAck(ctx, p, opts, onCount, onAck)
	}
	others, err := c.otherNodes(ctx)
	if err != nil || others == 0 {
		return c.Memory.BroadcastWithAck(ctx, p, opts, onCount, onAck)
	}
	wp, err := wire.PacketFrom(p)
	if err != nil {
		return 0, err
	}
	wo := toWireOpts(opts)
	if dl, ok := ctx.Deadline(); ok {
		wo.Flags["timeout"] = time.Until(dl).Milliseconds()
	}
	id := newUID()
	req := &request{typ: wire.TypeBroadcast, done: make(chan struct{}), onCount: onCount, onAck: onAck}
	c.mu.Lock()
	if req.missing = c.peersLocked(); req.missing != nil {
		others = len(req.missing) // each answers or is counted gone
	}
	c.mu.Unlock()
	if others == 0 {
		return c.Memory.BroadcastWithAck(ctx, p, opts, onCount, onAck)
	}
	c.track(ctx, id, req)
	if err := c.publishRequest(ctx, &wire.Request{UID: c.uid, RequestID: id, Type: wire.TypeBroadcast, Packet: &wp, Opts: &wo}, true); err != nil {
		c.untrack(id)
		return c.Memory.BroadcastWithAck(ctx, p, opts, onCount, onAck)
	}
	if _, err := c.Memory.BroadcastWithAck(ctx, p, opts, onCount, onAck); err != nil {
		return 0, err
	}
	return 1 + others, nil
}

// AddAll puts a local socket into rooms. In the sharded layout's dynamic
// modes, a room new to this node has its channel subscribed before AddAll
// returns (for at most a couple of seconds when the broker is away).
func (c *Cluster) AddAll(sid string, rooms ...string) {
	c.Memory.AddAll(sid, rooms...)
	if c.rooms != nil {
		c.rooms.ensure(rooms)
	}
}

// AddSockets puts the selected sockets, on every node, into rooms.
func (c *Cluster) AddSockets(ctx context.Context, opts BroadcastOptions, rooms []string) error {
	_ = c.Memory.AddSockets(ctx, opts, rooms)
	if c.rooms != nil {
		c.rooms.ensure(rooms)
	}
	return c.remoteOp(ctx, wire.TypeRemoteJoin, opts, &wire.Request{Rooms: wire.NonNil(rooms)})
}

// DelSockets removes the selected sockets, on every node, from rooms.
func (c *Cluster) DelSockets(ctx context.Context, opts BroadcastOptions, rooms []string) error {
	_ = c.Memory.DelSockets(ctx, opts, rooms)
	return c.remoteOp(ctx, wire.TypeRemoteLeave, opts, &wire.Request{Rooms: wire.NonNil(rooms)})
}

// DisconnectSockets disconnects the selected sockets on every node.
func (c *Cluster) DisconnectSockets(ctx context.Context, opts BroadcastOptions, close bool) error {
	_ = c.Memory.DisconnectSockets(ctx, opts, close)
	return c.remoteOp(ctx, wire.TypeRemoteDisconnect, opts, &wire.Request{Close: &close})
}

func (c *Cluster) remoteOp(ctx context.Context, typ int, opts BroadcastOptions, r *wire.Request) error {
	if opts.Flags.Local {
		return nil
	}
	wo := wire.Opts{Rooms: wire.NonNil(opts.Rooms), Except: wire.NonNil(opts.Except)}
	r.UID, r.Type, r.Opts = c.uid, typ, &wo
	return c.publishRequest(ctx, r, false)
}

// FetchSockets describes the selected sockets of every node.
func (c *Cluster) FetchSockets(ctx context.Context, opts BroadcastOptions) ([]SocketInfo, error) {
	local, _ := c.Memory.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return local, nil
	}
	wo := wire.Opts{Rooms: wire.NonNil(opts.Rooms), Except: wire.NonNil(opts.Except)}
	req, err := c.ask(ctx, &wire.Request{Type: wire.TypeRemoteFetch, Opts: &wo, Parts: true})
	if req == nil {
		return local, err
	}
	// On a timeout, the sockets of the nodes that answered come with err.
	return append(local, req.sockets...), err
}

// ClusterRooms returns every room with a socket on any node.
//
// In a sharded cluster with Node nodes (@socket.io/redis-adapter's sharded
// adapter, whose ClusterAdapter has no such request and ignores it), the
// siogate nodes are counted apart (wire.ShardedNodesChannel) and only they
// are waited for: the rooms of every siogate node come back at once with
// an error wrapping ErrPartial that says how many Node nodes were left out.
func (c *Cluster) ClusterRooms(ctx context.Context) ([]string, error) {
	rooms := c.Memory.AllRooms()
	foreign, err := c.foreignNodes(ctx)
	if err != nil {
		return rooms, fmt.Errorf("adapter: cannot count nodes: %w", err)
	}
	var partial error
	if foreign > 0 {
		partial = fmt.Errorf("adapter: %w: %d Node.js node(s) of the sharded cluster do not answer ClusterRooms; their rooms are missing", ErrPartial, foreign)
	}
	req, err := c.askSome(ctx, &wire.Request{Type: wire.TypeAllRooms}, foreign)
	err = errors.Join(err, partial)
	if req == nil {
		return rooms, err
	}
	// On a timeout, the rooms of the nodes that answered come with err.
	seen := make(map[string]struct{}, len(rooms))
	for _, r := range rooms {
		seen[r] = struct{}{}
	}
	for _, r := range req.rooms {
		if _, ok := seen[r]; !ok {
			seen[r] = struct{}{}
			rooms = append(rooms, r)
		}
	}
	return rooms, err
}

// ServerSideEmit sends an event to the other nodes' server-side handlers.
func (c *Cluster) ServerSideEmit(ctx context.Context, event string, args []any, want bool) ([]socketio.Args, error) {
	data, _, err := socketio.AppendEvent(nil, event, args)
	if err != nil {
		return nil, err
	}
	r := &wire.Request{Type: wire.TypeServerSideEmit, Data: data}
	if !want {
		r.UID = c.uid
		return nil, c.publishRequest(ctx, r, false)
	}
	req, err := c.ask(ctx, r)
	if req == nil {
		return nil, err
	}
	return req.answers, err
}

// ServerCount returns the number of nodes serving the namespace.
func (c *Cluster) ServerCount(ctx context.Context) (int, error) {
	n, err := c.otherNodes(ctx)
	return n + 1, err
}

// otherNodes counts the other nodes of the namespace.
func (c *Cluster) otherNodes(ctx context.Context) (int, error) {
	if sc, ok := c.broker.(SubscriberCounter); ok {
		n, err := sc.NumSub(ctx, c.ch.Request)
		if err != nil {
			return 0, err
		}
		return max(n-1, 0), nil
	}
	c.expireNodes()
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes), nil
}

// livePeers lists the other nodes of the namespace by their own response
// channels, when the broker counts subscribers and lists channels (Redis);
// listed is false otherwise.
func (c *Cluster) livePeers(ctx context.Context) (live map[string]bool, listed bool, err error) {
	lister, ok := c.broker.(ChannelLister)
	if !ok || !c.counts() {
		return nil, false, nil
	}
	chans, err := lister.Channels(ctx, c.ch.Response)
	if err != nil {
		return nil, true, err
	}
	live = make(map[string]bool, len(chans))
	for _, ch := range chans {
		uid, ok := strings.CutPrefix(ch, c.ch.Response)
		uid, ok2 := strings.CutSuffix(uid, "#")
		if ok && ok2 && uid != "" && uid != c.uid && !strings.Contains(uid, "#") {
			live[uid] = true
		}
	}
	return live, true, nil
}

// peerPoll is how often, while requests wait for answers, a node on a
// broker that lists channels checks that the nodes they wait for are
// still subscribed.
const peerPoll = 250 * time.Millisecond

// watchPeers makes sure a goroutine checks, every peerPoll while requests
// wait, that the nodes they wait for are alive, and stops waiting for
// those whose response channel is gone (a process that dies loses its
// connection, and Redis its subscriptions, at once).
func (c *Cluster) watchPeers() {
	c.mu.Lock()
	if c.watching || c.closed {
		c.mu.Unlock()
		return
	}
	c.watching = true
	c.mu.Unlock()
	go func() {
		t := time.NewTicker(peerPoll)
		defer t.Stop()
		for {
			select {
			case <-c.ctx.Done():
				c.mu.Lock()
				c.watching = false
				c.mu.Unlock()
				return
			case <-t.C:
			}
			c.mu.Lock()
			waited := make(map[string]bool)
			for _, req := range c.requests {
				if !req.finished {
					for uid := range req.missing {
						waited[uid] = true
					}
				}
			}
			if len(waited) == 0 {
				c.watching = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			ctx, cancel := context.WithTimeout(c.ctx, 4*peerPoll)
			live, _, err := c.livePeers(ctx)
			cancel()
			if err != nil {
				continue // the broker is away: requests end by their timeout
			}
			for uid := range waited {
				if !live[uid] {
					c.cfg.Logger.Info("adapter: node left the cluster (its subscription is gone); requests stop waiting for it", "nsp", c.Memory.local.Name(), "node", uid)
					c.removeNode(uid)
				}
			}
		}
	}()
}

// seen notes that a known node is alive: any message from it counts as a
// heartbeat (as in Node's cluster adapter), so that a node busy streaming
// a large answer is not taken for gone. Unknown uids are not added: only
// heartbeats make a node known, so a late message from a node that left
// does not bring it back.
func (c *Cluster) seen(uid string) {
	if uid == "" || uid == c.uid || c.counts() {
		return
	}
	c.mu.Lock()
	if _, ok := c.nodes[uid]; ok {
		c.nodes[uid] = time.Now()
	}
	c.mu.Unlock()
}

// peersLocked returns the uids of the nodes known by heartbeat, or nil
// when the broker counts subscribers.
func (c *Cluster) peersLocked() map[string]bool {
	if c.counts() {
		return nil
	}
	m := make(map[string]bool, len(c.nodes))
	for uid := range c.nodes {
		m[uid] = true
	}
	return m
}

// expireNodes forgets the nodes not heard of for HeartbeatTimeout.
func (c *Cluster) expireNodes() {
	now := time.Now()
	var gone []string
	c.mu.Lock()
	for uid, seen := range c.nodes {
		if now.Sub(seen) > c.cfg.HeartbeatTimeout {
			gone = append(gone, uid)
		}
	}
	c.mu.Unlock()
	for _, uid := range gone {
		c.cfg.Logger.Info("adapter: node stopped sending heartbeats; no longer counted", "nsp", c.Memory.local.Name(), "node", uid)
		c.removeNode(uid)
	}
}

// removeNode forgets a node and stops every request waiting for it: a
// request it was the last answer of ends, and a broadcast with acks hears
// that the node asked no socket.
func (c *Cluster) removeNode(uid string) {
	var counts []func(int)
	c.mu.Lock()
	delete(c.nodes, uid)
	for _, req := range c.requests {
		if req.finished || !req.missing[uid] {
			continue
		}
		delete(req.missing, uid)
		if req.typ == wire.TypeBroadcast {
			counts = append(counts, req.onCount)
			continue
		}
		c.finishIfDoneLocked(req)
	}
	c.mu.Unlock()
	for _, onCount := range counts {
		onCount(0)
	}
}

// finishIfDoneLocked ends a request once every node answered.
func (c *Cluster) finishIfDoneLocked(req *request) {
	done := req.got >= req.want
	if req.missing != nil {
		done = req.got >= len(req.missing)
	}
	if done && !req.finished {
		req.finished = true
		close(req.done)
	}
}

// ask publishes a request and waits for every other node's answer. It
// returns nil when there is no other node.
func (c *Cluster) ask(ctx context.Context, r *wire.Request) (*request, error) {
	return c.askSome(ctx, r, 0)
}

// askSome is ask when foreign of the other nodes (Node nodes, which ignore
// the request) will not answer.
func (c *Cluster) askSome(ctx context.Context, r *wire.Request, foreign int) (*request, error) {
	live, listed, err := c.livePeers(ctx)
	others := len(live)
	if !listed {
		others, err = c.otherNodes(ctx)
		others -= foreign
	}
	if err != nil {
		return nil, fmt.Errorf("adapter: cannot count nodes: %w", err)
	}
	if others <= 0 {
		return nil, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	id := newUID()
	r.UID, r.RequestID = c.uid, id
	req := &request{typ: r.Type, want: others, done: make(chan struct{})}
	c.mu.Lock()
	if listed {
		req.missing, r.Named = live, true
	} else if req.missing = c.peersLocked(); req.missing != nil {
		others = len(req.missing)
	}
	c.mu.Unlock()
	if others == 0 {
		return nil, nil
	}
	c.track(ctx, id, req)
	defer c.untrack(id)
	if listed {
		c.watchPeers()
	}
	if dl, ok := ctx.Deadline(); ok {
		// Responders keep their answers queued as long as this node waits
		// for them, not only for their own request timeout.
		r.Wait = max(time.Until(dl).Milliseconds(), 1)
	}
	if err := c.publishRequest(ctx, r, true); err != nil {
		return nil, err
	}
	select {
	case <-req.done:
		return req, nil
	case <-ctx.Done():
		c.mu.Lock()
		got := req.got
		c.mu.Unlock()
		if c.meter != nil {
			c.meter.obs.RequestTimedOut(RequestTypeName(r.Type))
		}
		return req, fmt.Errorf("adapter: %w: %d of %d nodes answered", ErrTimeout, got, others)
	}
}

// ErrTimeout is returned when other nodes did not all answer in time.
var ErrTimeout = errors.New("request timed out")

// ErrPartial is returned with a partial answer that is complete for every
// node able to answer: in a sharded cluster, Node nodes cannot answer
// siogate's ClusterRooms.
var ErrPartial = errors.New("partial answer")

// foreignNodes counts the other nodes of a sharded cluster that are not
// siogate's: subscribers of the namespace's channel less those of the
// siogate nodes' channel (wire.ShardedNodesChannel). Other layouts: 0.
func (c *Cluster) foreignNodes(ctx context.Context) (int, error) {
	sc, ok := c.broker.(SubscriberCounter)
	if !c.layout.Sharded || !ok {
		return 0, nil
	}
	all, err := sc.NumSub(ctx, c.ch.Request)
	if err != nil {
		return 0, err
	}
	ours, err := sc.NumSub(ctx, wire.ShardedNodesChannel(c.cfg.Prefix, c.Memory.local.Name()))
	if err != nil {
		return 0, err
	}
	return max(all-ours, 0), nil
}

func (c *Cluster) track(ctx context.Context, id string, req *request) {
	c.mu.Lock()
	c.requests[id] = req
	c.mu.Unlock()
	if req.typ == wire.TypeBroadcast {
		context.AfterFunc(ctx, func() { c.untrack(id) })
	}
}

func (c *Cluster) untrack(id string) {
	c.mu.Lock()
	delete(c.requests, id)
	c.mu.Unlock()
}

// deliver dispatches one message from the broker.
func (c *Cluster) deliver(channel string, data []byte) {
	if c.meter != nil {
		c.meter.obs.Received()
	}
	if c.layout.Sharded {
		c.deliverSharded(channel, data)
		return
	}
	switch {
	case channel == c.ch.Request:
		c.onRequest(data)
	case strings.HasPrefix(channel, c.ch.Response):
		c.onResponse(data)
	case strings.HasPrefix(channel, c.ch.Broadcast):
		room := strings.TrimSuffix(channel[len(c.ch.Broadcast):], "#")
		if room != "" && len(c.Memory.Sockets([]string{room})) == 0 {
			return // a single-room broadcast for a room with no socket here
		}
		c.onBroadcast(data)
	}
}

// deliverSharded dispatches one message of the sharded layout.
func (c *Cluster) deliverSharded(channel string, data []byte) {
	if channel != c.ch.Broadcast && channel != c.ch.ResponseFor(c.uid) && strings.HasPrefix(channel, c.ch.Broadcast) {
		room := strings.TrimSuffix(channel[len(c.ch.Broadcast):], "#")
		if len(c.Memory.Sockets([]string{room})) == 0 {
			return // a room this node has just left
		}
	}
	m, err := wire.DecodeSharded(data)
	if err != nil {
		c.cfg.Logger.Warn("adapter: dropping bad message", "err", err)
		return
	}
	if m.UID == c.uid || m.Nsp != c.Memory.local.Name() {
		return
	}
	if !c.fresh(m.UID, m.Seq, channel) {
		return // sent again after an outage; this node had it
	}
	switch {
	case m.Broadcast:
		c.applyBroadcast(m.Packet, m.Opts)
	case m.Request != nil:
		c.handleRequest(m.Request)
	case m.Response != nil:
		c.handleResponse(m.Response)
	}
}

func (c *Cluster) onBroadcast(data []byte) {
	// Every node receives every broadcast (its own included) and in
	// room-heavy clusters most are for rooms with one or two sockets here,
	// or none: the packet is decoded only once the message is known to be
	// another node's, new, and for some socket here, and then written
	// straight to the packet's JSON.
	h, err := wire.DecodeBroadcastHead(data)
	if err != nil {
		c.cfg.Logger.Warn("adapter: dropping bad broadcast", "err", err)
		return
	}
	if h.UID == c.uid {
		return
	}
	if !c.fresh(h.UID, h.Seq, "b") {
		return // sent again after an outage; this node had it
	}
	opts := fromWireOpts(h.Opts)
	sids := c.Memory.Select(opts)
	if len(sids) == 0 {
		return
	}
	nsp, p, err := h.Event()
	if err != nil {
		c.cfg.Logger.Warn("adapter: dropping bad broadcast packet", "err", err)
		return
	}
	if nsp != "" && nsp != nspOf(c.ch) {
		return
	}
	p.Namespace = c.Memory.local.Name()
	c.Memory.local.Deliver(&p, sids, opts.Flags)
}

// applyBroadcast delivers another node's broadcast to the local sockets.
func (c *Cluster) applyBroadcast(wp wire.Packet, wo wire.Opts) {
	if p, ok := c.localPacket(wp); ok {
		_ = c.Memory.Broadcast(context.Background(), &p, fromWireOpts(wo))
	}
}

// localPacket converts another node's broadcast packet for this
// namespace; false when it is for another namespace or bad.
func (c *Cluster) localPacket(wp wire.Packet) (socketio.Packet, bool) {
	if wp.Nsp != "" && wp.Nsp != nspOf(c.ch) {
		return socketio.Packet{}, false
	}
	p, err := wp.Decode()
	if err != nil {
		c.cfg.Logger.Warn("adapter: dropping bad broadcast packet", "err", err)
		return socketio.Packet{}, false
	}
	p.Namespace = c.Memory.local.Name()
	return p, true
}

func nspOf(ch wire.Channels) string {
	s := strings.TrimSuffix(ch.Broadcast, "#")
	if i := strings.Index(s, "#"); i >= 0 {
		return s[i+1:]
	}
	return s
}

func (c *Cluster) onRequest(data []byte) {
	r, err := wire.DecodeRequest(data)
	if err != nil {
		c.cfg.Logger.Warn("adapter: dropping bad request", "err", err)
		return
	}
	if r.Type == wire.TypeWorkerReply {
		// A worker's answer to a client's event (classic layout only).
		if rr, ok := c.Memory.local.(WorkerReplyReceiver); ok {
			if reply, err := wire.DecodeWorkerReply(data); err == nil {
				rr.WorkerReply(reply)
			}
		}
		return
	}
	c.handleRequest(r)
}

// handleRequest carries out another node's request.
func (c *Cluster) handleRequest(r *wire.Request) {
	if r.UID == c.uid && r.Type != wire.TypeHeartbeat {
		return // our own request: already applied or awaited here
	}
	if !c.fresh(r.UID, r.Seq, "r") {
		return // sent again after an outage; this node had it
	}
	if r.Type != wire.TypeHeartbeat && r.Type != wire.TypeNodeClose {
		c.seen(r.UID)
	}
	ctx := context.Background()
	opts := BroadcastOptions{}
	if r.Opts != nil {
		opts = fromWireOpts(*r.Opts)
	}
	switch r.Type {
	case wire.TypeRemoteJoin:
		if r.Opts == nil && r.SID != "" {
			opts.Rooms, r.Rooms = []string{r.SID}, []string{r.Room}
		}
		if c.rooms != nil && len(c.Memory.Select(opts)) > 0 {
			// Subscribe the room channels first: once the sockets are
			// seen in the rooms, broadcasts to them must reach this node.
			c.rooms.ensure(r.Rooms)
		}
		_ = c.Memory.AddSockets(ctx, opts, r.Rooms)
	case wire.TypeRemoteLeave:
		if r.Opts == nil && r.SID != "" {
			opts.Rooms, r.Rooms = []string{r.SID}, []string{r.Room}
		}
		_ = c.Memory.DelSockets(ctx, opts, r.Rooms)
	case wire.TypeRemoteDisconnect:
		if r.Opts == nil && r.SID != "" {
			opts.Rooms = []string{r.SID}
		}
		_ = c.Memory.DisconnectSockets(ctx, opts, r.Close != nil && *r.Close)
	case wire.TypeRemoteFetch:
		c.answerFetch(ctx, r, opts, c.answerBy(r))
	case wire.TypeAllRooms:
		c.publishResponse(r.UID, &wire.Response{RequestID: r.RequestID, Rooms: wire.NonNil(c.Memory.AllRooms()), UID: c.named(r)}, c.answerBy(r))
	case wire.TypeSockets:
		c.publishResponse(r.UID, &wire.Response{RequestID: r.RequestID, Rooms: nil, Sockets: mustJSON(wire.NonNil(c.Memory.Sockets(r.Rooms))), UID: c.named(r)}, c.answerBy(r))
	case wire.TypeServerSideEmit:
		event, args, err := wire.SplitEvent(r.Data)
		if err != nil {
			return
		}
		var reply func([]any)
		if r.RequestID != "" {
			id, requester, named, until := r.RequestID, r.UID, c.named(r), c.answerBy(r)
			reply = func(res []any) {
				var first any
				if len(res) > 0 {
					first = res[0]
				}
				raw, err := json.Marshal(first)
				if err != nil {
					return
				}
				c.publishResponse(requester, &wire.Response{Type: wire.TypeServerSideEmit, RequestID: id, Data: raw, UID: named}, until)
			}
		}
		c.serverEvent(func() { c.Memory.local.OnServerSideEmit(event, args, reply) })
	case wire.TypeBroadcast:
		if r.Packet == nil {
			return
		}
		p, err := r.Packet.Decode()
		if err != nil {
			return
		}
		p.Namespace = c.Memory.local.Name()
		timeout := c.cfg.RequestTimeout
		if r.Opts != nil && r.Opts.Timeout() > 0 {
			timeout = r.Opts.Timeout()
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		// The requester waits for acks as long as their timeout.
		id, requester, until := r.RequestID, r.UID, time.Now().Add(max(timeout, c.cfg.RequestTimeout))
		n := c.Memory.local.DeliverWithAck(actx, &p, c.Memory.Select(opts), opts.Flags, func(_ string, a socketio.Args) {
			vals, err := a.Generic()
			if err != nil {
				return
			}
			var first any
			if len(vals) > 0 {
				first = vals[0]
			}
			c.publishResponse(requester, &wire.Response{Type: wire.TypeBroadcastAck, RequestID: id, Packet: first}, until)
		})
		if n == 0 {
			cancel()
		} else {
			context.AfterFunc(actx, cancel)
		}
		c.publishResponse(requester, &wire.Response{Type: wire.TypeClientCount, RequestID: id, ClientCount: &n}, until)
	case wire.TypeHeartbeat:
		if r.UID == c.uid || r.UID == "" {
			return
		}
		known := true
		if !c.counts() {
			c.mu.Lock()
			_, known = c.nodes[r.UID]
			c.nodes[r.UID] = time.Now()
			c.mu.Unlock()
		}
		switch string(r.Data) {
		case `"init"`: // a node starts or comes back: it waits for an answer
			c.sendHeartbeat(`"reply"`)
		case `"reply"`:
			select {
			case c.replied <- r.UID:
			default:
			}
		default:
			if !known {
				c.sendHeartbeat("")
			}
		}
	case wire.TypeNodeClose:
		c.removeNode(r.UID)
	}
}

// A fetch answer to a siogate requester travels in parts of at most
// fetchPartSockets sockets and about fetchPartBytes bytes, so that no
// message outgrows a broker's limit (NATS takes 1 MiB by default) and the
// requester decodes each part as it arrives.
const (
	fetchPartSockets = 500
	fetchPartBytes   = 256 << 10
)

// answerFetch describes the selected local sockets to the requester: in
// parts when it asked for them, in one message (as Node's requesters
// expect) otherwise. Every part is queued until the requester stops
// waiting (until): one part lost loses the node's whole answer.
func (c *Cluster) answerFetch(ctx context.Context, r *wire.Request, opts BroadcastOptions, until time.Time) {
	local, _ := c.Memory.FetchSockets(ctx, opts)
	var parts []json.RawMessage
	buf, n := []byte{'['}, 0
	flush := func() {
		parts = append(parts, append(buf, ']'))
		buf, n = []byte{'['}, 0
	}
	for _, s := range local {
		raw, err := json.Marshal(toWireSocket(s))
		if err != nil {
			c.cfg.Logger.Warn("adapter: cannot encode a socket for another node", "sid", s.ID, "err", err)
			continue
		}
		if r.Parts && n > 0 && (n >= fetchPartSockets || len(buf)+len(raw)+2 > fetchPartBytes) {
			flush()
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, raw...)
		n++
	}
	flush()
	for i, part := range parts {
		resp := &wire.Response{RequestID: r.RequestID, Sockets: part, UID: c.named(r)}
		if len(parts) > 1 {
			resp.Part, resp.Parts = i+1, len(parts)
		}
		c.publishResponse(r.UID, resp, until)
	}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (c *Cluster) onResponse(data []byte) {
	r, err := wire.DecodeResponse(data)
	if err != nil {
		c.cfg.Logger.Warn("adapter: dropping bad response", "err", err)
		return
	}
	c.handleResponse(r)
}

// handleResponse counts another node's answer to one of this node's
// requests.
func (c *Cluster) handleResponse(r *wire.Response) {
	// Sockets (fetch answers) are decoded before taking the lock.
	var infos []SocketInfo
	if len(r.Sockets) > 0 && r.Type == 0 {
		var socks []wireSocket
		if json.Unmarshal(r.Sockets, &socks) == nil {
			infos = make([]SocketInfo, len(socks))
			for i, s := range socks {
				infos[i] = s.info(nspOf(c.ch))
			}
		}
	}
	c.seen(r.UID)
	c.mu.Lock()
	req := c.requests[r.RequestID]
	if req == nil || req.finished {
		c.mu.Unlock()
		return
	}
	switch {
	case req.typ == wire.TypeBroadcast && r.Type == wire.TypeClientCount:
		if req.missing != nil && r.UID != "" {
			if !req.missing[r.UID] {
				c.mu.Unlock()
				return // counted as gone already, or not asked
			}
			delete(req.missing, r.UID)
		}
		onCount, n := req.onCount, 0
		if r.ClientCount != nil {
			n = *r.ClientCount
		}
		c.mu.Unlock()
		onCount(n)
		return
	case req.typ == wire.TypeBroadcast && r.Type == wire.TypeBroadcastAck:
		onAck := req.onAck
		c.mu.Unlock()
		args, err := ackArgs(r.Packet)
		if err == nil {
			onAck("", args)
		}
		return
	case req.typ == wire.TypeRemoteFetch:
		req.sockets = append(req.sockets, infos...)
		if r.Parts > 1 {
			// A node has answered once its last part is in.
			if req.parts == nil {
				req.parts = make(map[string]int)
			}
			req.parts[r.UID]++
			if req.parts[r.UID] < r.Parts {
				c.mu.Unlock()
				return
			}
		}
	case req.typ == wire.TypeAllRooms:
		req.rooms = append(req.rooms, r.Rooms...)
	case req.typ == wire.TypeServerSideEmit:
		raw := r.Data
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		args, err := socketio.ParseArgs(append(append([]byte{'['}, raw...), ']'), nil)
		if err == nil {
			req.answers = append(req.answers, args)
		}
	default:
		c.mu.Unlock()
		return
	}
	if req.missing != nil && r.UID != "" {
		delete(req.missing, r.UID)
	} else {
		req.got++
	}
	c.finishIfDoneLocked(req)
	c.mu.Unlock()
}

func (c *Cluster) heartbeat() {
	defer c.wg.Done()
	c.sendHeartbeat(`"init"`)
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.sendHeartbeat("")
			c.expireNodes()
		}
	}
}

// heartbeatBytes encodes a heartbeat with data ("" for none, `"init"`
// to ask the other nodes to answer, `"reply"` to answer).
func (c *Cluster) heartbeatBytes(data string) []byte {
	r := &wire.Request{UID: c.uid, Type: wire.TypeHeartbeat}
	if data != "" {
		r.Data = json.RawMessage(data)
	}
	b, _ := c.encodeRequest(r)
	return b
}

// sendHeartbeat publishes a heartbeat at once, not through the outbox: a
// backlog there must not make the other nodes think this one is gone.
func (c *Cluster) sendHeartbeat(data string) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.HeartbeatInterval)
	defer cancel()
	if err := c.broker.Publish(ctx, c.ch.Request, c.heartbeatBytes(data)); err != nil {
		c.cfg.Logger.Debug("adapter: heartbeat not published", "err", err)
	}
}

// Close leaves the cluster: it tells the other nodes, stops the heartbeat
// and the subscription.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	sub := c.sub
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if !c.counts() && sub != nil {
		data, _ := c.encodeRequest(&wire.Request{UID: c.uid, Type: wire.TypeNodeClose})
		_ = c.out.push(c.ch.Request, data, time.Time{})
	}
	// Send what is queued (the close announcement last), for a bounded
	// time: a broker that is away gets no more waiting.
	ctx, cancel := context.WithTimeout(context.Background(), min(c.cfg.RequestTimeout, 2*time.Second))
	c.out.waitIdle(ctx)
	cancel()
	if left := c.out.close(); left > 0 {
		c.cfg.Logger.Warn("adapter: closing with messages for the other nodes unsent", "nsp", c.Memory.local.Name(), "unsent", left)
	}
	c.outEnd()
	c.outWG.Wait()
	c.meter.brokerUp(true) // a closed adapter no longer counts as down
	if c.rooms != nil {
		c.rooms.closeAll()
	}
	if sub != nil {
		return sub.Close()
	}
	return nil
}

// ClusterStats describe a cluster adapter's outbound queue.
type ClusterStats struct {
	// Queued and QueuedBytes are the messages waiting to be published.
	Queued, QueuedBytes int
	// Dropped counts the messages dropped because the queue was full.
	Dropped uint64
	// Expired counts the request and answer messages not sent because the
	// node waiting for them had stopped waiting (the broker was away for
	// longer than the request's timeout): nobody would read them.
	Expired uint64
	// ServerEventsDropped counts the server-side events from other nodes
	// dropped because the namespace's handlers were too slow.
	ServerEventsDropped uint64
}

// Stats returns the adapter's current queue figures.
func (c *Cluster) Stats() ClusterStats {
	q, b, d, e := c.out.stats()
	return ClusterStats{Queued: q, QueuedBytes: b, Dropped: d, Expired: e, ServerEventsDropped: c.eventsDropped.Load()}
}
