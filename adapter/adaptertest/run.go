package adaptertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/protocol/socketio"
)

// NodeFactory returns the adapter factory for one node. It is called once
// per node; nodes of one subtest must reach each other (same broker, same
// prefix: use Prefix(t) to keep subtests apart).
type NodeFactory func(t *testing.T) adapter.Factory

// Prefix returns a channel prefix unique to t, so that runs on a shared
// broker do not see each other.
func Prefix(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "siotest-" + hex.EncodeToString(b[:])
}

// Wait bounds every wait of the kit.
const Wait = 10 * time.Second

// cluster is three nodes with sockets a1, a2 on A, b1 on B, c1 on C.
type cluster struct {
	A, B, C *Node
	all     []*Node
}

const nsp = "/conformance"

func newCluster(t *testing.T, newNode NodeFactory) *cluster {
	t.Helper()
	c := &cluster{}
	// One factory per node, created inside the subtest so that a prefix
	// chosen by the caller's factory is shared by the three nodes only
	// when the caller makes it so: the kit calls newNode(t) once and
	// reuses it when it returns the same Factory.
	f := newNode(t)
	c.A = NewNode("A", nsp, f)
	c.B = NewNode("B", nsp, f)
	c.C = NewNode("C", nsp, f)
	c.all = []*Node{c.A, c.B, c.C}
	t.Cleanup(func() {
		for _, n := range c.all {
			_ = n.Adapter.Close()
		}
	})
	c.A.Connect("a1", false)
	c.A.Connect("a2", false)
	c.B.Connect("b1", false)
	c.C.Connect("c1", false)
	// Wait until every node sees the others (subscriptions and heartbeats
	// take a moment on real brokers).
	eventually(t, "all three nodes see each other", func() error {
		for _, n := range c.all {
			k, err := n.Adapter.ServerCount(context.Background())
			if err != nil {
				return err
			}
			if k != 3 {
				return fmt.Errorf("%s counts %d nodes", n, k)
			}
		}
		return nil
	})
	// Make sure broadcasts flow before measuring anything.
	eventually(t, "a warm-up broadcast reaches every node", func() error {
		_ = c.A.Adapter.Broadcast(context.Background(), event(t, "warmup"), adapter.BroadcastOptions{Rooms: []string{"c1"}})
		if len(c.C.Received("c1")) == 0 {
			return errors.New("c1 got nothing yet")
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // let duplicate warm-ups land
	for _, n := range c.all {
		n.mu.Lock()
		for _, s := range n.socs {
			s.received = nil
		}
		n.mu.Unlock()
	}
	return c
}

func event(t *testing.T, name string, args ...any) *socketio.Packet {
	t.Helper()
	p, err := socketio.NewEvent(nsp, name, args)
	if err != nil {
		t.Fatal(err)
	}
	return &p
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s: %v", what, err)
}

// settle waits a little so that a duplicate or a wrong delivery, if the
// adapter makes one, has time to show.
func settle() { time.Sleep(300 * time.Millisecond) }

// expect checks that each listed socket received exactly want (in order)
// and that every other socket received nothing.
func (c *cluster) expect(t *testing.T, want []string, sids ...string) {
	t.Helper()
	owner := map[string]*Node{"a1": c.A, "a2": c.A, "b1": c.B, "c1": c.C}
	// A warm-up broadcast of newCluster late beyond its pause (a loaded
	// machine) is not the subtest's.
	received := func(n *Node, sid string) []string {
		return slices.DeleteFunc(n.Received(sid), func(e string) bool { return e == "warmup[]" })
	}
	eventually(t, fmt.Sprintf("%v receive %v", sids, want), func() error {
		for _, sid := range sids {
			if got := received(owner[sid], sid); len(got) < len(want) {
				return fmt.Errorf("%s got %v", sid, got)
			}
		}
		return nil
	})
	settle()
	for sid, n := range owner {
		got := received(n, sid)
		if slices.Contains(sids, sid) {
			if !slices.Equal(got, want) {
				t.Errorf("%s received %v, want exactly %v", sid, got, want)
			}
		} else if len(got) != 0 {
			t.Errorf("%s received %v, want nothing", sid, got)
		}
	}
}

// Run runs the conformance suite. newNode is called once per subtest; the
// Factory it returns creates the three nodes of that subtest.
func Run(t *testing.T, newNode NodeFactory) {
	ctx := context.Background()
	t.Run("BroadcastToAll", func(t *testing.T) {
		c := newCluster(t, newNode)
		if err := c.B.Adapter.Broadcast(ctx, event(t, "hello", "world", 1), adapter.BroadcastOptions{}); err != nil {
			t.Fatal(err)
		}
		c.expect(t, []string{`hello["world",1]`}, "a1", "a2", "b1", "c1")
	})
	t.Run("BroadcastBinary", func(t *testing.T) {
		c := newCluster(t, newNode)
		if err := c.A.Adapter.Broadcast(ctx, event(t, "bin", []byte{1, 2, 3}, map[string]any{"x": []byte{4}}), adapter.BroadcastOptions{Rooms: []string{"c1"}}); err != nil {
			t.Fatal(err)
		}
		c.expect(t, []string{`bin["AQID",{"x":"BA=="}]`}, "c1")
	})
	t.Run("RoomsOncePerSocket", func(t *testing.T) {
		c := newCluster(t, newNode)
		c.A.Adapter.AddAll("a1", "r1", "r2")
		c.B.Adapter.AddAll("b1", "r1", "r2")
		c.C.Adapter.AddAll("c1", "r2")
		if err := c.A.Adapter.Broadcast(ctx, event(t, "room"), adapter.BroadcastOptions{Rooms: []string{"r1", "r2"}}); err != nil {
			t.Fatal(err)
		}
		c.expect(t, []string{`room[]`}, "a1", "b1", "c1")
	})
	t.Run("ExceptRoomsAndSids", func(t *testing.T) {
		c := newCluster(t, newNode)
		c.B.Adapter.AddAll("b1", "muted")
		if err := c.C.Adapter.Broadcast(ctx, event(t, "skip"), adapter.BroadcastOptions{Except: []string{"muted", "a2"}}); err != nil {
			t.Fatal(err)
		}
		c.expect(t, []string{`skip[]`}, "a1", "c1")
	})
	t.Run("LocalFlag", func(t *testing.T) {
		c := newCluster(t, newNode)
		if err := c.A.Adapter.Broadcast(ctx, event(t, "local"), adapter.BroadcastOptions{Flags: adapter.Flags{Local: true}}); err != nil {
			t.Fatal(err)
		}
		c.expect(t, []string{`local[]`}, "a1", "a2")
	})
	t.Run("RemoteJoinLeave", func(t *testing.T) {
		c := newCluster(t, newNode)
		if err := c.A.Adapter.AddSockets(ctx, adapter.BroadcastOptions{Rooms: []string{"c1", "b1"}}, []string{"vip"}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "c1 and b1 join vip", func() error {
			if !slices.Contains(c.C.Adapter.Rooms("c1"), "vip") || !slices.Contains(c.B.Adapter.Rooms("b1"), "vip") {
				return errors.New("not yet")
			}
			return nil
		})
		if err := c.B.Adapter.Broadcast(ctx, event(t, "vip"), adapter.BroadcastOptions{Rooms: []string{"vip"}}); err != nil {
			t.Fatal(err)
		}
		c.expect(t, []string{`vip[]`}, "b1", "c1")
		if err := c.C.Adapter.DelSockets(ctx, adapter.BroadcastOptions{Rooms: []string{"vip"}, Except: []string{"c1"}}, []string{"vip"}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "b1 leaves vip, c1 stays", func() error {
			if slices.Contains(c.B.Adapter.Rooms("b1"), "vip") {
				return errors.New("b1 still in vip")
			}
			return nil
		})
		if !slices.Contains(c.C.Adapter.Rooms("c1"), "vip") {
			t.Error("c1 left vip although excepted")
		}
	})
	t.Run("RemoteDisconnect", func(t *testing.T) {
		c := newCluster(t, newNode)
		if err := c.A.Adapter.DisconnectSockets(ctx, adapter.BroadcastOptions{Rooms: []string{"b1", "c1"}}, true); err != nil {
			t.Fatal(err)
		}
		eventually(t, "b1 and c1 disconnected with close", func() error {
			for _, x := range []struct {
				n   *Node
				sid string
			}{{c.B, "b1"}, {c.C, "c1"}} {
				if gone, closed := x.n.Gone(x.sid); !gone || !closed {
					return fmt.Errorf("%s: gone=%v closed=%v", x.sid, gone, closed)
				}
			}
			return nil
		})
		if gone, _ := c.A.Gone("a1"); gone {
			t.Error("a1 was disconnected but not selected")
		}
	})
	t.Run("FetchSockets", func(t *testing.T) {
		c := newCluster(t, newNode)
		c.B.Adapter.AddAll("b1", "team")
		c.C.Adapter.AddAll("c1", "team")
		socks, err := c.A.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{Rooms: []string{"team"}})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range socks {
			ids = append(ids, s.ID)
			if !slices.Contains(s.Rooms, "team") || !slices.Contains(s.Rooms, s.ID) {
				t.Errorf("%s rooms = %v, want team and its own id", s.ID, s.Rooms)
			}
			if m, ok := s.Data.(map[string]any); !ok || m["node"] == nil {
				t.Errorf("%s data = %#v, want the node's data", s.ID, s.Data)
			}
		}
		sort.Strings(ids)
		if !slices.Equal(ids, []string{"b1", "c1"}) {
			t.Errorf("fetched %v, want [b1 c1]", ids)
		}
		all, err := c.B.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{Except: []string{"a2"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 {
			t.Errorf("fetched %d sockets, want 3 (a1, b1, c1)", len(all))
		}
	})
	t.Run("FetchSocketsAtScale", func(t *testing.T) {
		c := newCluster(t, newNode)
		const perNode = 5000
		for _, n := range c.all {
			for i := range perNode {
				n.Connect(fmt.Sprintf("%s-%d", n.Label, i), false)
			}
		}
		// A minute to answer: the answers, in parts, must all arrive.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		socks, err := c.A.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen := make(map[string]bool, len(socks))
		for _, s := range socks {
			if seen[s.ID] {
				t.Fatalf("%s fetched twice", s.ID)
			}
			seen[s.ID] = true
			if m, _ := s.Data.(map[string]any); len(s.ID) > 2 && s.ID[1] == '-' && m["node"] != s.ID[:1] {
				t.Fatalf("%s has the data of node %v", s.ID, m["node"])
			}
		}
		if want := 3*perNode + 4; len(seen) != want {
			t.Errorf("fetched %d sockets, want %d", len(seen), want)
		}
		// A room on one node only.
		c.C.Adapter.AddAll("C-7", "seven")
		socks, err = c.B.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{Rooms: []string{"seven"}})
		if err != nil || len(socks) != 1 || socks[0].ID != "C-7" {
			t.Errorf("fetched %v, %v; want C-7", socks, err)
		}
	})
	t.Run("ServerSideEmit", func(t *testing.T) {
		c := newCluster(t, newNode)
		if _, err := c.A.Adapter.ServerSideEmit(ctx, "sync", []any{"x", 2}, false); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B and C get the server-side event", func() error {
			if len(c.B.ServerEvents()) == 0 || len(c.C.ServerEvents()) == 0 {
				return errors.New("not yet")
			}
			return nil
		})
		settle()
		if got := c.A.ServerEvents(); len(got) != 0 {
			t.Errorf("the sender received its own server-side event: %v", got)
		}
		if got := c.B.ServerEvents(); !slices.Equal(got, []string{`sync["x",2]`}) {
			t.Errorf("B got %v", got)
		}
		answers, err := c.A.Adapter.ServerSideEmit(ctx, "ping", nil, true)
		if err != nil {
			t.Fatal(err)
		}
		var from []string
		for _, a := range answers {
			from = append(from, a.String(0))
		}
		sort.Strings(from)
		if !slices.Equal(from, []string{"from:B", "from:C"}) {
			t.Errorf("answers %v, want from:B and from:C", from)
		}
	})
	t.Run("SlowServerSideHandler", func(t *testing.T) {
		c := newCluster(t, newNode)
		release := make(chan struct{})
		var once sync.Once
		free := func() { once.Do(func() { close(release) }) }
		defer free()
		entered := c.B.HoldServerEvent("slow", release)
		if _, err := c.A.Adapter.ServerSideEmit(ctx, "slow", nil, false); err != nil {
			t.Fatal(err)
		}
		if _, err := c.A.Adapter.ServerSideEmit(ctx, "next", nil, false); err != nil {
			t.Fatal(err)
		}
		select {
		case <-entered:
		case <-time.After(Wait):
			t.Fatal("B's server-side handler never ran")
		}
		// B's handler is blocked until release: everything else still
		// reaches B's sockets and B still answers requests.
		if err := c.A.Adapter.Broadcast(ctx, event(t, "meanwhile"), adapter.BroadcastOptions{Rooms: []string{"b1"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "b1 gets a broadcast while B's handler is blocked", func() error {
			if got := c.B.Received("b1"); !slices.Contains(got, "meanwhile[]") {
				return fmt.Errorf("b1 got %v", got)
			}
			return nil
		})
		socks, err := c.A.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{Rooms: []string{"b1"}})
		if err != nil || len(socks) != 1 || socks[0].ID != "b1" {
			t.Errorf("FetchSockets while B's handler is blocked: %v, %v; want b1", socks, err)
		}
		acks, _, err := collectAcks(c.A, adapter.BroadcastOptions{Rooms: []string{"b1"}}, Wait)
		if err != nil || !slices.Equal(acks, []string{"ack:b1"}) {
			t.Errorf("broadcast with ack while B's handler is blocked: %v, %v; want b1's ack", acks, err)
		}
		if got := c.B.ServerEvents(); len(got) != 0 {
			t.Errorf("B handled %v while its first handler was blocked", got)
		}
		free()
		eventually(t, "B handles both events, in order, once released", func() error {
			if got := c.B.ServerEvents(); !slices.Equal(got, []string{"slow[]", "next[]"}) {
				return fmt.Errorf("B handled %v", got)
			}
			return nil
		})
	})
	t.Run("BroadcastWithAck", func(t *testing.T) {
		c := newCluster(t, newNode)
		acks, counts, err := collectAcks(c.B, adapter.BroadcastOptions{}, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if counts != 4 {
			t.Errorf("sockets asked = %d, want 4", counts)
		}
		sort.Strings(acks)
		if !slices.Equal(acks, []string{"ack:a1", "ack:a2", "ack:b1", "ack:c1"}) {
			t.Errorf("acks = %v", acks)
		}
	})
	t.Run("BroadcastWithAckTimeout", func(t *testing.T) {
		c := newCluster(t, newNode)
		c.C.Connect("c2", true) // never answers
		start := time.Now()
		acks, counts, err := collectAcks(c.A, adapter.BroadcastOptions{Rooms: []string{"b1", "c2"}}, time.Second)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the deadline (c2 never acks)", err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("took %v past a 1s timeout", el)
		}
		if counts != 2 || !slices.Equal(acks, []string{"ack:b1"}) {
			t.Errorf("counts=%d acks=%v, want 2 asked and b1's answer", counts, acks)
		}
	})
	t.Run("SingleSocketAckOnAnotherNode", func(t *testing.T) {
		c := newCluster(t, newNode)
		acks, counts, err := collectAcks(c.A, adapter.BroadcastOptions{Rooms: []string{"c1"}}, 3*time.Second)
		if err != nil || counts != 1 || !slices.Equal(acks, []string{"ack:c1"}) {
			t.Errorf("err=%v counts=%d acks=%v, want c1's single answer", err, counts, acks)
		}
	})
	t.Run("NodeGoneRequestsTimeOut", func(t *testing.T) {
		c := newCluster(t, newNode)
		_ = c.C.Adapter.Close()
		// C said goodbye or stops being counted; either way a request must
		// end within its deadline, never hang.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		start := time.Now()
		socks, err := c.A.Adapter.FetchSockets(ctx, adapter.BroadcastOptions{})
		if el := time.Since(start); el > 4*time.Second {
			t.Fatalf("FetchSockets took %v with a node gone", el)
		}
		if err == nil && len(socks) != 3 {
			t.Errorf("fetched %d sockets without error, want a1, a2, b1", len(socks))
		}
		// The remaining nodes still broadcast to each other.
		if err := c.A.Adapter.Broadcast(context.Background(), event(t, "still"), adapter.BroadcastOptions{Rooms: []string{"b1"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "b1 still gets broadcasts", func() error {
			if got := c.B.Received("b1"); !slices.Contains(got, "still[]") {
				return fmt.Errorf("b1 got %v", got)
			}
			return nil
		})
	})
}

// collectAcks runs a broadcast with acks from n and gathers the answers.
func collectAcks(n *Node, opts adapter.BroadcastOptions, timeout time.Duration) (acks []string, asked int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	type msg struct {
		count int
		ack   string
		isAck bool
	}
	ch := make(chan msg, 64)
	p, _ := socketio.NewEvent(nsp, "question", nil)
	nodes, err := n.Adapter.BroadcastWithAck(ctx, &p, opts,
		func(k int) { ch <- msg{count: k} },
		func(_ string, a socketio.Args) { ch <- msg{ack: a.String(0), isAck: true} })
	if err != nil {
		return nil, 0, err
	}
	counted := 0
	for {
		if counted >= nodes && len(acks) >= asked {
			return acks, asked, nil
		}
		select {
		case m := <-ch:
			if m.isAck {
				acks = append(acks, m.ack)
			} else {
				counted++
				asked += m.count
			}
		case <-ctx.Done():
			return acks, asked, ctx.Err()
		}
	}
}
