package redisadapter_test

// The Redis recovery store against the layout of Node's
// @socket.io/redis-streams-adapter: entries and sessions written as Node
// writes them are read, and siogate's decode as Node decodes them.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siogate/siogate/adapter"
	redisadapter "github.com/siogate/siogate/adapter-redis"
	"github.com/siogate/siogate/adapter-redis/redistest"
	"github.com/vmihailenco/msgpack/v5"
)

func TestRecoveryStoreReadsNodeLayout(t *testing.T) {
	c := redistest.Client(t)
	ctx := context.Background()
	s, name := redistest.Store(t, c, redisadapter.RecoveryStoreOptions{})
	// An entry of siogate's first, to learn the stream's key.
	first, err := s.Append(ctx, "/", adapter.StoredPacket{Data: []byte(`["siogate"]`)})
	if err != nil {
		t.Fatal(err)
	}
	stream := name + ":stream"
	nodeXAdd := func(typ, nsp, data string) string {
		t.Helper()
		id, err := c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"uid", "node-server", "nsp", nsp, "type", typ, "data", data}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	nodeXAdd("3", "/", `{"packet":{"type":2,"data":["text",{"a":1}],"nsp":"/"},"opts":{"rooms":["r"],"except":[],"flags":{}}}`)
	nodeXAdd("3", "/", `{"packet":{"type":2,"data":["volatile"],"nsp":"/"},"opts":{"rooms":[],"except":[],"flags":{"volatile":true}}}`)
	nodeXAdd("3", "/", `{"requestId":"42","packet":{"type":2,"data":["with ack"],"nsp":"/"},"opts":{"rooms":[],"except":[],"flags":{}}}`)
	nodeXAdd("3", "/other", `{"packet":{"type":2,"data":["other nsp"],"nsp":"/other"},"opts":{"rooms":[],"except":[],"flags":{}}}`)
	nodeXAdd("2", "/", `{"opts":{"rooms":[],"except":[]},"close":false}`) // not a broadcast
	bin, err := msgpack.Marshal(map[string]any{
		"packet": map[string]any{"type": 2, "data": []any{"bin", []byte{0, 1, 0xff}, map[string]any{"k": []byte("x")}}, "nsp": "/"},
		"opts":   map[string]any{"rooms": []string{}, "except": []string{"ex"}, "flags": map[string]any{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	binID := nodeXAdd("3", "/", base64.StdEncoding.EncodeToString(bin))

	got, err := s.Since(ctx, "/", first, []string{"sid", "r"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Since over Node's entries: %d packets %v, want the text one and the binary one", len(got), got)
	}
	if string(got[0].Data) != `["text",{"a":1}]` || !reflect.DeepEqual(got[0].Rooms, []string{"r"}) {
		t.Fatalf("Node's text entry read as %s rooms %q", got[0].Data, got[0].Rooms)
	}
	var data []any
	if err := json.Unmarshal(got[1].Data, &data); err != nil {
		t.Fatal(err)
	}
	want := []any{"bin", map[string]any{"_placeholder": true, "num": 0.0}, map[string]any{"k": map[string]any{"_placeholder": true, "num": 1.0}}}
	if got[1].Offset != binID || !reflect.DeepEqual(data, want) || len(got[1].Attachments) != 2 ||
		!bytes.Equal(got[1].Attachments[0], []byte{0, 1, 0xff}) || string(got[1].Attachments[1]) != "x" || !reflect.DeepEqual(got[1].Except, []string{"ex"}) {
		t.Fatalf("Node's binary entry read as %s %q except %q", got[1].Data, got[1].Attachments, got[1].Except)
	}
	// The socket in room "ex" does not get it.
	if got, err := s.Since(ctx, "/", first, []string{"sid", "ex"}, 100); err != nil || len(got) != 0 {
		t.Fatalf("excluded socket: %d packets, %v", len(got), err)
	}

	// A session as Node stores it: base64 of MessagePack, no owner.
	pid := "node-pid"
	nodeSession, err := msgpack.Marshal(map[string]any{"sid": "node-sid", "pid": pid, "rooms": []string{"node-sid", "room"}, "data": map[string]any{"n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	key := name + ":session:" + pid
	if err := c.Set(ctx, key, base64.StdEncoding.EncodeToString(nodeSession), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	// siogate's owned saves and deletes leave Node's live session alone.
	if err := s.Save(ctx, adapter.Session{PID: pid, SID: "other", Owner: "siogate-conn"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, pid, "siogate-conn"); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Take(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	if sess.PID != pid || sess.SID != "node-sid" || !reflect.DeepEqual(sess.Rooms, []string{"node-sid", "room"}) || string(sess.Data) != `{"n":1}` || sess.Owner != "" {
		t.Fatalf("Node's session read as %+v", sess)
	}
	if _, err := s.Take(ctx, pid); !errors.Is(err, adapter.ErrNoSession) {
		t.Fatalf("second Take: %v", err)
	}
}

// TestRecoveryStoreWritesNodeLayout decodes siogate's entries and
// sessions as Node's adapter does.
func TestRecoveryStoreWritesNodeLayout(t *testing.T) {
	c := redistest.Client(t)
	ctx := context.Background()
	s, name := redistest.Store(t, c, redisadapter.RecoveryStoreOptions{UID: "siogate-node-a"})
	textID, err := s.Append(ctx, "/chat", adapter.StoredPacket{Data: []byte(`["msg", "hi" ,1.50]`), Rooms: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	binID, err := s.Append(ctx, "/chat", adapter.StoredPacket{Data: []byte(`["bin",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{9, 8, 7}}, Except: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := c.XRange(ctx, name+":stream", "-", "+").Result()
	if err != nil || len(entries) != 2 {
		t.Fatalf("XRANGE: %d entries, %v", len(entries), err)
	}
	for i, id := range []string{textID, binID} {
		e := entries[i]
		if e.ID != id || e.Values["uid"] != "siogate-node-a" || e.Values["nsp"] != "/chat" || e.Values["type"] != "3" {
			t.Fatalf("entry %d: %v", i, e)
		}
	}
	// Node: data starting with "{" is JSON, else base64 MessagePack.
	text := entries[0].Values["data"].(string)
	if text != `{"packet":{"type":2,"data":["msg", "hi" ,1.50],"nsp":"/chat"},"opts":{"rooms":["r"],"except":[],"flags":{}}}` {
		t.Fatalf("text entry's data: %s", text)
	}
	raw, err := base64.StdEncoding.DecodeString(entries[1].Values["data"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Packet struct {
			Type int    `msgpack:"type"`
			Data []any  `msgpack:"data"`
			Nsp  string `msgpack:"nsp"`
		} `msgpack:"packet"`
		Opts struct {
			Rooms  []string       `msgpack:"rooms"`
			Except []string       `msgpack:"except"`
			Flags  map[string]any `msgpack:"flags"`
		} `msgpack:"opts"`
	}
	if err := msgpack.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Packet.Type != 2 || m.Packet.Nsp != "/chat" || len(m.Packet.Data) != 2 || m.Packet.Data[0] != "bin" ||
		!bytes.Equal(m.Packet.Data[1].([]byte), []byte{9, 8, 7}) || len(m.Opts.Rooms) != 0 || !reflect.DeepEqual(m.Opts.Except, []string{"x"}) || m.Opts.Flags == nil {
		t.Fatalf("binary entry decoded as %+v", m)
	}
	// The session: base64 MessagePack with Node's fields, PX ttl.
	if err := s.Save(ctx, adapter.Session{PID: "p1", SID: "s1", Namespace: "/chat", Rooms: []string{"s1", "r"}, Data: json.RawMessage(`{"user":"ann"}`), Owner: "o"}, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	key := name + ":session:p1"
	v, err := c.Get(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	raw, err = base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	var sess map[string]any
	if err := msgpack.Unmarshal(raw, &sess); err != nil {
		t.Fatal(err)
	}
	if sess["sid"] != "s1" || sess["pid"] != "p1" || !reflect.DeepEqual(sess["rooms"], []any{"s1", "r"}) || !reflect.DeepEqual(sess["data"], map[string]any{"user": "ann"}) {
		t.Fatalf("session as Node decodes it: %v", sess)
	}
	if ttl, err := c.PTTL(ctx, key).Result(); err != nil || ttl <= 80*time.Second || ttl > 90*time.Second {
		t.Fatalf("session PTTL %v, %v; want about 90s", ttl, err)
	}
}

// TestRecoveryStoreNodeInterop runs Node's side for real: a socket.io
// server with @socket.io/redis-streams-adapter restores a session and the
// events siogate stored, and siogate reads the session and events Node
// stored. It needs node and the npm packages of js/ (npm ci there), which
// include @socket.io/redis-streams-adapter.
func TestRecoveryStoreNodeInterop(t *testing.T) {
	// The repository's js/ (npm ci) holds the adapter, socket.io,
	// socket.io-client and redis; SIOGATE_NODE_STREAMS_ADAPTER may name
	// another such directory.
	dir := os.Getenv("SIOGATE_NODE_STREAMS_ADAPTER")
	if dir == "" {
		dir = filepath.Join("..", "js")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@socket.io", "redis-streams-adapter", "package.json")); err != nil {
		t.Fatalf("Node's @socket.io/redis-streams-adapter is not installed under %s (run npm ci in js/): %v", dir, err)
	}
	c := redistest.Client(t)
	ctx := context.Background()
	s, name := redistest.Store(t, c, redisadapter.RecoveryStoreOptions{})
	off0, err := s.Append(ctx, "/", adapter.StoredPacket{Data: []byte(`["before"]`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, adapter.Session{PID: "pidA", SID: "sidA", Namespace: "/", Rooms: []string{"sidA", "room1"}, Data: json.RawMessage(`{"user":"ann","n":1.5}`), Owner: "o"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	var offs []string
	for _, e := range []struct {
		nsp string
		p   adapter.StoredPacket
	}{
		{"/", adapter.StoredPacket{Data: []byte(`["ev1","hello"]`)}},
		{"/", adapter.StoredPacket{Data: []byte(`["bin",{"_placeholder":true,"num":0},{"k":2}]`), Attachments: [][]byte{{1, 2, 3}}}},
		{"/", adapter.StoredPacket{Data: []byte(`["room2 only"]`), Rooms: []string{"room2"}}},
		{"/", adapter.StoredPacket{Data: []byte(`["room1 only"]`), Rooms: []string{"room1"}}},
		{"/", adapter.StoredPacket{Data: []byte(`["not room1"]`), Except: []string{"room1"}}},
		{"/other", adapter.StoredPacket{Data: []byte(`["other namespace"]`)}},
	} {
		off, err := s.Append(ctx, e.nsp, e.p)
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
	}

	nctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(nctx, "node", "testdata/streams_interop.js", name+":stream", name+":session:", off0)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s%s", err, out, stderr.String())
	}
	var a struct {
		Recovered bool
		ID        string
		Rooms     []string
		Data      map[string]any
		Missed    []json.RawMessage
	}
	var b struct{ PID, Offset, ID string }
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m struct{ A, B json.RawMessage }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("node printed %q: %v", line, err)
		}
		if m.A != nil && json.Unmarshal(m.A, &a) != nil || m.B != nil && json.Unmarshal(m.B, &b) != nil {
			t.Fatalf("node printed %q", line)
		}
	}
	// Node restored siogate's session, with the events that reach it.
	if !a.Recovered || a.ID != "sidA" || !reflect.DeepEqual(a.Rooms, []string{"sidA", "room1"}) || !reflect.DeepEqual(a.Data, map[string]any{"user": "ann", "n": 1.5}) {
		t.Fatalf("Node's recovery of siogate's session: %+v", a)
	}
	want := []string{
		fmt.Sprintf(`["ev1","hello",%q]`, offs[0]),
		fmt.Sprintf(`["bin",{"buffer":[1,2,3]},{"k":2},%q]`, offs[1]),
		fmt.Sprintf(`["room1 only",%q]`, offs[3]),
	}
	if len(a.Missed) != len(want) {
		t.Fatalf("Node replayed %s, want %q", a.Missed, want)
	}
	for i := range want {
		if !jsonSame(a.Missed[i], []byte(want[i])) {
			t.Fatalf("Node replayed %s, want %s", a.Missed[i], want[i])
		}
	}

	// siogate reads the session and the events Node stored.
	sess, err := s.Take(ctx, b.PID)
	if err != nil {
		t.Fatalf("Take of Node's session %q: %v", b.PID, err)
	}
	if sess.SID != b.ID || !slices.Contains(sess.Rooms, "roomB") || string(sess.Data) != `{"user":"bob"}` {
		t.Fatalf("Node's session read as %+v (data %s)", sess, sess.Data)
	}
	missed, err := s.Since(ctx, "/", b.Offset, sess.Rooms, 100)
	if err != nil {
		t.Fatalf("Since(Node's offset %q): %v", b.Offset, err)
	}
	var names []string
	for _, p := range missed {
		var args []any
		if err := json.Unmarshal(p.Data, &args); err != nil {
			t.Fatal(err)
		}
		names = append(names, fmt.Sprint(args[0]))
		if args[0] == "missed bin" && (len(p.Attachments) != 1 || !bytes.Equal(p.Attachments[0], []byte{9, 8, 7})) {
			t.Fatalf("Node's binary event read as %s %v", p.Data, p.Attachments)
		}
	}
	if !reflect.DeepEqual(names, []string{"missed text", "missed bin", "last"}) {
		t.Fatalf("siogate read Node's events %q, want missed text, missed bin, last", names)
	}
}

func jsonSame(a, b []byte) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}
