package main

// A node that dies while another waits for its answer, on Redis: the
// requester stops waiting for it as soon as Redis drops its subscriptions.

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter/wire"
)

// startFixtureNode starts the clusternode fixture on the Redis at url.
func startFixtureNode(t *testing.T, bin, name, prefix, url string, reqTimeout time.Duration) *clusterNode {
	t.Helper()
	stdout, stderr := &clusterLines{}, &clusterLines{}
	cmd := exec.Command(bin, "--addr", "127.0.0.1:0", "--redis-url", url, "--prefix", prefix, "--name", name,
		"--request-timeout", reqTimeout.String(), "--log-level", "info")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	n := &clusterNode{name: name, stderr: stderr}
	t.Cleanup(func() {
		n.checkHealthy(t)
		if t.Failed() {
			t.Logf("node %s log:\n%s", name, stderr)
		}
	})
	n.proc = startClusterProc(t, "node "+name, cmd)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, addr, ok := strings.Cut(stdout.String(), "clusternode listening on "); ok {
			if addr, _, ok = strings.Cut(addr, "\n"); ok {
				n.url = "http://" + strings.TrimSpace(addr)
				return n
			}
		}
		if n.proc.exited() {
			t.Fatalf("node %s exited (%v) before listening; stderr:\n%s", name, n.proc.err, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node %s did not print its address within 15s; stderr:\n%s", name, stderr)
	return nil
}

// TestRedisRequestDeadNode runs three nodes on a private redis-server.
// Node C is stopped (it cannot answer), node A starts a FetchSockets or a
// ServerSideEmit with acks with a 10s timeout, and once the request is on
// the wire C is SIGKILLed: the request ends about peerPoll (250ms) after
// Redis dropped C's subscriptions, with B's answer and without an error,
// instead of waiting its 10s.
func TestRedisRequestDeadNode(t *testing.T) {
	bin := clusterNodeBinary(t)
	for _, op := range []struct {
		name  string
		event string
		typ   int
		args  []any
		check func(t *testing.T, res map[string]any, a, b *goPeer)
	}{
		{"fetch", "fetch", wire.TypeRemoteFetch, []any{"", 10_000}, func(t *testing.T, res map[string]any, a, b *goPeer) {
			var ids []string
			for _, s := range clusterMaps(res["sockets"]) {
				ids = append(ids, s["id"].(string))
			}
			slices.Sort(ids)
			want := []string{a.SID(), b.SID()}
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				t.Errorf("fetched %v, want A's and B's sockets %v", ids, want)
			}
		}},
		{"serverSideEmit", "ssemit", wire.TypeServerSideEmit, []any{"who", "hello", 10_000}, func(t *testing.T, res map[string]any, _, _ *goPeer) {
			b, _ := json.Marshal(res["answers"])
			if string(b) != `[{"got":"hello","node":"B"}]` {
				t.Errorf("answers %s, want B's only", b)
			}
		}},
	} {
		t.Run(op.name, func(t *testing.T) {
			broker := startOutageBroker(t, "redis")
			prefix := clusterPrefix(t)
			const reqTimeout = 10 * time.Second
			nA := startFixtureNode(t, bin, "A", prefix, broker.url(), reqTimeout)
			nB := startFixtureNode(t, bin, "B", prefix, broker.url(), reqTimeout)
			nC := startFixtureNode(t, bin, "C", prefix, broker.url(), reqTimeout)
			a, b := newGoPeer(t, "a", nA.url, "websocket"), newGoPeer(t, "b", nB.url, "websocket")
			newGoPeer(t, "c", nC.url, "websocket")
			// A minute at most: a loaded machine starts slowly.
			for start := time.Now(); ; {
				res, err := a.call("fetch", "", 2000)
				if err == nil && len(clusterMaps(res["sockets"])) == 3 {
					break
				}
				if time.Since(start) > time.Minute {
					t.Fatalf("A does not see the three nodes' sockets: %v, %v", res, err)
				}
				time.Sleep(20 * time.Millisecond)
			}

			// Requests on the wire, seen by a pattern subscription (which
			// PUBSUB CHANNELS and NUMSUB do not count).
			rc := redis.NewClient(&redis.Options{Addr: broker.addr})
			defer rc.Close()
			ps := rc.PSubscribe(t.Context(), wire.ChannelsFor(prefix, "/").Request+"*")
			defer ps.Close()
			if _, err := ps.Receive(t.Context()); err != nil {
				t.Fatal(err)
			}
			wireMsgs := ps.Channel()

			nC.proc.stop(t)
			type result struct {
				res map[string]any
				err error
				at  time.Time
			}
			done := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*reqTimeout)
				defer cancel()
				args, err := a.c.EmitWithAck(ctx, op.event, op.args...)
				var m map[string]any
				if err == nil {
					err = args.Decode(0, &m)
				}
				done <- result{m, err, time.Now()}
			}()
			seen := time.After(time.Minute)
		wait:
			for {
				select {
				case m := <-wireMsgs:
					if r, err := wire.DecodeRequest([]byte(m.Payload)); err == nil && r.Type == op.typ && r.RequestID != "" {
						break wait
					}
				case <-seen:
					t.Fatal("the request never reached Redis")
				}
			}
			killed := time.Now()
			nC.proc.kill(t)
			var r result
			select {
			case r = <-done:
			case <-time.After(2 * reqTimeout):
				t.Fatal("no answer")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			took := r.at.Sub(killed)
			t.Logf("%s ended %v after C was killed: %v", op.name, took.Round(time.Millisecond), r.res)
			if r.res["error"] != nil || r.res["timeout"] != false {
				t.Errorf("%s failed: %v", op.name, r.res)
			}
			if took > 3*time.Second {
				t.Errorf("%s ended %v after the kill: it waited for the dead node", op.name, took)
			}
			op.check(t, r.res, a, b)
		})
	}
}
