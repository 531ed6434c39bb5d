package main

// Redis Cluster with sharded pub/sub: siogate nodes and a Node server on
// @socket.io/redis-adapter's sharded adapter
// (js/interop/redis-sharded-node-server.mjs) in one cluster on a private
// Redis Cluster (redistest.StartCluster), official socket.io-client
// sockets on both (js/interop/redis-clients.mjs); and a master killed in
// the middle of a stream.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter-redis/redistest"
	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/emitter"
	"github.com/siogate/siogate/gateway"
)

// startShardedGoNode starts a siogate node on url (a sharded Redis URL)
// whose sockets join rooms with the "join" event, as the other interop
// nodes do.
func startShardedGoNode(t *testing.T, name, url, prefix string, warns *obsLog) *goNode {
	t.Helper()
	logger := slog.New(&warnHandler{node: name, log: warns})
	factory, closer, err := redisadapter.New(redisadapter.Options{
		URL:     url,
		Cluster: adapter.ClusterConfig{Prefix: prefix, RequestTimeout: redisInteropRequest, Logger: logger},
		Logger:  logger,
	})
	if err != nil {
		t.Fatalf("siogate node %s: %v", name, err)
	}
	srv := gateway.NewServer(gateway.Config{Adapter: factory})
	ns := srv.Of("/")
	ns.OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		s.SetData(map[string]any{"origin": name})
		return nil
	})
	ns.On("join", func(s *gateway.Socket, e *gateway.Event) []any {
		room := e.Args.String(0)
		s.Join(room)
		return []any{"joined", room}
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
		_ = closer.Close()
	})
	return &goNode{name: name, srv: srv, url: ts.URL}
}

// TestShardedNodeInterop: two siogate nodes and a Node server on the
// sharded adapter (subscriptionMode "dynamic", Node's default) broadcast
// to each other's clients, to rooms (on their own shard channels), to
// socket ids, with acks, and count each other with PUBSUB SHARDNUMSUB; a
// siogate emitter on a sharded broker reaches all of them.
func TestShardedNodeInterop(t *testing.T) {
	node, jsDir := redisInteropPrereqs(t)
	rc := redistest.StartCluster(t)
	url := rc.URL("sharded=dynamic")
	c := &cluster{
		t: t, node: node, jsDir: jsDir,
		prefix: "siogate-sharded-" + randomHex(6),
		goObs:  newObsLog(), warns: newObsLog(),
		sids: map[string]string{},
	}
	c.a = startShardedGoNode(t, "go-a", url, c.prefix, c.warns)
	c.b = startShardedGoNode(t, "go-b", url, c.prefix, c.warns)
	c.startNodeServer("redis-sharded-node-server.mjs", strings.Join(rc.Addrs, ","), c.prefix, "dynamic")
	urls := map[string]string{"a": c.a.url, "b": c.b.url, "n": c.nodeURL}
	for _, n := range []string{"a1", "a2", "b1", "n1", "n2"} {
		c.connect(n, urls[n[:1]], "/")
		c.root = append(c.root, n)
	}
	for name, room := range map[string]string{"a1": "r1", "b1": "r1", "n1": "r1", "a2": "r2", "n2": "r2"} {
		if got := c.clientCall(name, "join", room); !reflect.DeepEqual(got, []any{"joined", room}) {
			t.Fatalf("%s join %s: ack %v", name, room, got)
		}
	}
	ctx := t.Context()

	clusterEventually(t, "every server counts three (PUBSUB SHARDNUMSUB)", func() error {
		if n := c.nodeSrv.call(t, map[string]any{"cmd": "serverCount"})["count"]; n != float64(3) {
			return fmt.Errorf("Node counts %v", n)
		}
		for _, g := range []*goNode{c.a, c.b} {
			if n, err := g.srv.Of("/").Adapter().ServerCount(ctx); err != nil || n != 3 {
				return fmt.Errorf("%s counts %d, %v", g.name, n, err)
			}
		}
		return nil
	})
	// Room subscriptions are made as sockets join; wait until each
	// server's broadcast to r1 arrives everywhere before checking.
	clusterEventually(t, "room channels subscribed", func() error {
		for _, room := range []string{"r1", "r2"} {
			c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": room, "ev": "warm-node-" + room})
			_ = c.b.srv.To(room).Emit(ctx, "warm-go-"+room)
		}
		for n, room := range map[string]string{"a1": "r1", "b1": "r1", "n1": "r1", "a2": "r2", "n2": "r2"} {
			if len(c.received(n, "warm-node-"+room)) == 0 || len(c.received(n, "warm-go-"+room)) == 0 {
				return fmt.Errorf("%s not warm yet", n)
			}
		}
		return nil
	})

	t.Run("broadcast", func(t *testing.T) {
		c.t = t
		if err := c.a.srv.Emit(ctx, "bc-go", "x", 1.5, map[string]any{"n": 42}); err != nil {
			t.Fatal(err)
		}
		got := c.expectDelivery("bc-go", c.root, c.root)
		if want := []any{"x", 1.5, map[string]any{"n": float64(42)}}; !reflect.DeepEqual(got["n1"], want) {
			t.Errorf("Node client got %v, want %v", got["n1"], want)
		}
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "ev": "bc-node", "args": []any{"y", map[string]any{"deep": []any{1, nil, true}}}})
		got = c.expectDelivery("bc-node", c.root, c.root)
		if want := []any{"y", map[string]any{"deep": []any{float64(1), nil, true}}}; !reflect.DeepEqual(got["a1"], want) {
			t.Errorf("siogate client got %v, want %v", got["a1"], want)
		}
		_ = c.a.srv.Emit(ctx, "bin-go", []byte{1, 2, 3})
		got = c.expectDelivery("bin-go", c.root, c.root)
		if want := []any{bin("010203")}; !reflect.DeepEqual(got["n2"], want) {
			t.Errorf("Node client got %v, want %v (msgpack envelope)", got["n2"], want)
		}
	})
	t.Run("rooms", func(t *testing.T) {
		c.t = t
		// One public room: both sides publish on prefix#/#r1#.
		_ = c.a.srv.To("r1").Emit(ctx, "room-go")
		c.expectDelivery("room-go", c.root, []string{"a1", "b1", "n1"})
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": "r2", "ev": "room-node"})
		c.expectDelivery("room-node", c.root, []string{"a2", "n2"})
		_ = c.b.srv.To("r1").Except(c.sids["n1"]).Emit(ctx, "room-go-except")
		c.expectDelivery("room-go-except", c.root, []string{"a1", "b1"})
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": []string{"r1", "r2"}, "ev": "rooms-node"})
		c.expectDelivery("rooms-node", c.root, []string{"a1", "a2", "b1", "n1", "n2"})
		// Socket ids (20 characters) go on the namespace's channel.
		c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": c.sids["b1"], "ev": "sid-node"})
		c.expectDelivery("sid-node", c.root, []string{"b1"})
		_ = c.a.srv.To(c.sids["n2"]).Emit(ctx, "sid-go")
		c.expectDelivery("sid-go", c.root, []string{"n2"})
	})
	t.Run("acks", func(t *testing.T) {
		c.t = t
		res := c.nodeSrv.call(t, map[string]any{"cmd": "emitWithAck", "ev": "ack-node"})
		if res["timedOut"] == true || len(asSlice(res["responses"])) != 5 {
			t.Errorf("Node emitWithAck: %v, want 5 answers", res)
		}
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		answers, err := c.a.srv.To("r1").EmitWithAck(actx, "ack-go")
		if err != nil || len(answers) != 3 {
			t.Errorf("siogate EmitWithAck to r1: %d answers, %v; want 3", len(answers), err)
		}
		res = c.nodeSrv.call(t, map[string]any{"cmd": "fetchSockets"})
		var ids []string
		for _, s := range asSlice(res["sockets"]) {
			ids = append(ids, fmt.Sprint(s.(map[string]any)["id"]))
		}
		sort.Strings(ids)
		if want := c.sidsOf(c.root...); !slices.Equal(ids, want) {
			t.Errorf("Node fetchSockets: %v, want %v", ids, want)
		}
		socks, err := c.b.srv.Of("/").FetchSockets(ctx)
		if err != nil || len(socks) != 5 {
			t.Errorf("siogate FetchSockets: %d sockets, %v; want 5", len(socks), err)
		}
	})
	t.Run("cluster rooms", func(t *testing.T) {
		c.t = t
		// Node's sharded adapter ignores siogate's rooms request: the
		// siogate nodes' rooms come back with ErrPartial naming the one
		// Node node, without waiting for it (no ErrTimeout).
		for _, g := range []*goNode{c.a, c.b} {
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			rooms, err := g.srv.Of("/").Adapter().(*adapter.Cluster).ClusterRooms(rctx)
			cancel()
			if !errors.Is(err, adapter.ErrPartial) || errors.Is(err, adapter.ErrTimeout) || !strings.Contains(fmt.Sprint(err), "1 Node.js node") {
				t.Errorf("%s ClusterRooms: err = %v, want ErrPartial for 1 Node node and no timeout", g.name, err)
			}
			for _, want := range append([]string{"r1", "r2"}, c.sidsOf("a1", "a2", "b1")...) {
				if !slices.Contains(rooms, want) {
					t.Errorf("%s ClusterRooms: %v lacks %s", g.name, rooms, want)
				}
			}
			for _, not := range c.sidsOf("n1", "n2") {
				if slices.Contains(rooms, not) {
					t.Errorf("%s ClusterRooms: %v has the Node socket %s", g.name, rooms, not)
				}
			}
		}
	})
	t.Run("emitter", func(t *testing.T) {
		c.t = t
		b, err := redisadapter.NewBroker(redisadapter.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		e := emitter.New(b, emitter.Options{Prefix: c.prefix})
		if err := e.To("r1").Emit(ctx, "emitter-room", "z"); err != nil {
			t.Fatal(err)
		}
		c.expectDelivery("emitter-room", c.root, []string{"a1", "b1", "n1"})
		if err := e.Except("r1").Emit(ctx, "emitter-except"); err != nil {
			t.Fatal(err)
		}
		c.expectDelivery("emitter-except", c.root, []string{"a2", "n2"})
		if err := e.To(c.sids["n2"]).SocketsJoin(ctx, "r3"); err != nil {
			t.Fatal(err)
		}
		clusterEventually(t, "n2 joined r3 through the emitter", func() error {
			c.nodeSrv.call(t, map[string]any{"cmd": "emit", "to": "r3", "ev": "r3-probe"})
			if len(c.received("n2", "r3-probe")) == 0 {
				return fmt.Errorf("n2 not in r3 yet")
			}
			return nil
		})
	})
}

// TestShardedFailover streams numbered events from siogate node A to a
// client of node B on a private Redis Cluster, kills (SIGKILL) the master
// serving the namespace's shard channel in the middle, and checks that
// every event reaches the client exactly once and in order once the
// replica is promoted, on both nodes' connections (A publishes, B
// subscribes). Sharded pub/sub keeps nothing: A's outbox holds what it
// could not publish (or published to fewer subscribers than before) until
// SHARDNUMSUB at the new master shows B subscribed again, then sends it
// again; B drops what it already had by the envelope's sequence number
// (wire.StampSharded). The figures are logged.
func TestShardedFailover(t *testing.T) {
	node, jsDir := redisInteropPrereqs(t)
	rc := redistest.StartCluster(t)
	url := rc.URL("sharded=static")
	prefix := "siogate-failover-" + randomHex(6)
	warns := newObsLog()
	a := startShardedGoNode(t, "go-a", url, prefix, warns)
	b := startShardedGoNode(t, "go-b", url, prefix, warns)
	clients := startJS(t, node, jsDir, "redis-clients.mjs")
	clients.log.wait(t, "the client driver ready", fields("ev", "ready"))
	c := &cluster{t: t, node: node, jsDir: jsDir, prefix: prefix, clients: clients, sids: map[string]string{}}
	c.connect("b1", b.url, "/")
	ctx := t.Context()
	clusterEventually(t, "A counts two nodes", func() error {
		if n, err := a.srv.Of("/").Adapter().ServerCount(ctx); err != nil || n != 2 {
			return fmt.Errorf("A counts %d, %v", n, err)
		}
		return nil
	})

	const total = 400
	seqs := func() []int {
		var out []int
		for _, args := range c.received("b1", "tick") {
			if len(args) == 1 {
				out = append(out, int(args[0].(float64)))
			}
		}
		return out
	}
	victim := rc.MasterFor(t, wire.ShardedChannel(prefix, "/"))
	start := time.Now()
	var killedAt time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i++ {
			if i == total/4 {
				// Kill only once the stream is seen flowing.
				deadline := time.Now().Add(10 * time.Second)
				for len(seqs()) < total/8 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				rc.Kill(t, victim)
				killedAt = time.Since(start)
			}
			_ = a.srv.Emit(context.Background(), "tick", i)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the stream did not end in a minute")
	}
	rc.WaitOK(t, 30*time.Second)
	// The last events must arrive: the stream resumed on the new master.
	clusterEventually(t, "the end of the stream reaches b1", func() error {
		got := seqs()
		if len(got) == 0 || got[len(got)-1] != total-1 {
			return fmt.Errorf("b1 has %d events, last %v", len(got), got[max(len(got)-1, 0):])
		}
		return nil
	})
	got := seqs()
	seen := map[int]int{}
	for _, s := range got {
		seen[s]++
	}
	var lost, dup []int
	for i := 0; i < total; i++ {
		switch {
		case seen[i] == 0:
			lost = append(lost, i)
		case seen[i] > 1:
			dup = append(dup, i)
		}
	}
	after := 0
	for _, s := range got {
		if s > total/4 {
			after++
		}
	}
	t.Logf("master %s killed at %v; %d of %d events arrived, %d after the kill; lost %d %v; duplicated %d %v",
		victim, killedAt.Round(time.Millisecond), len(got), total, after, len(lost), lost, len(dup), dup)
	if after < total/2 {
		t.Errorf("only %d events after the kill reached b1: the stream did not resume", after)
	}
	if len(lost) > 0 {
		t.Errorf("events lost across the failover: %v", lost)
	}
	if len(dup) > 0 {
		t.Errorf("events delivered twice: %v", dup)
	}
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Errorf("events out of order: %d after %d", got[i], got[i-1])
			break
		}
	}
}
