package gateway_test

// Tests of the Admin UI support (admin.go) with raw Socket.IO clients: the
// admin namespace is spoken to exactly as @socket.io/admin-ui speaks.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/admin"
	"github.com/siogate/siogate/protocol/socketio"
	"golang.org/x/crypto/bcrypt"
)

// adminClient is a raw client logged in to the admin namespace.
type adminClient struct {
	c      *client
	nsp    string
	sid    string
	nextID int
}

// adminPacket reads the next Socket.IO packet of any namespace.
func adminPacket(t *testing.T, c *client) socketio.Packet {
	t.Helper()
	f := c.next(t)
	if f.binary || len(f.data) < 2 || f.data[0] != '4' {
		t.Fatalf("want a Socket.IO packet, got %s", f)
	}
	p, _, err := socketio.Parse(f.data[1:])
	if err != nil {
		t.Fatalf("bad packet %s: %v", f, err)
	}
	return p
}

// dialAdmin connects to the admin namespace with auth and returns the
// client once the CONNECT was answered.
func dialAdmin(t *testing.T, ts *testServer, nsp, auth string) *adminClient {
	t.Helper()
	c := ts.dial(t, "websocket")
	return &adminClient{c: c, nsp: nsp, sid: c.connect(t, nsp, auth)}
}

// refusedAdmin checks that a login with auth is refused with the message
// the UI looks for.
func refusedAdmin(t *testing.T, ts *testServer, auth string) {
	t.Helper()
	c := ts.dial(t, "websocket")
	c.send(t, connectPacket("/admin", auth))
	c.expect(t, `44/admin,{"message":"invalid credentials"}`)
}

// waitEvent reads until the event name arrives on the admin namespace and
// returns its arguments; other packets are skipped.
func (ac *adminClient) waitEvent(t *testing.T, name string) []json.RawMessage {
	t.Helper()
	return ac.waitMatch(t, name, func([]json.RawMessage) bool { return true })
}

// waitMatch reads until an event name whose arguments satisfy ok arrives.
func (ac *adminClient) waitMatch(t *testing.T, name string, ok func([]json.RawMessage) bool) []json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		p := adminPacket(t, ac.c)
		if p.Namespace != ac.nsp || p.Type != socketio.Event {
			continue
		}
		ev, args, err := socketio.EventName(&p)
		if err != nil {
			t.Fatalf("bad event: %v", err)
		}
		if ev != name {
			continue
		}
		raw := make([]json.RawMessage, args.Len())
		for i := range raw {
			raw[i] = args.Raw(i)
		}
		if ok(raw) {
			return raw
		}
	}
	t.Fatalf("no %q event on %s within %v", name, ac.nsp, waitFor)
	return nil
}

// command sends a command asking for an ack and returns the ack's JSON
// array payload: `[null]` on success, `["reason"]` on refusal.
func (ac *adminClient) command(t *testing.T, args ...any) string {
	t.Helper()
	data, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return ac.commandRaw(t, string(data))
}

func (ac *adminClient) commandRaw(t *testing.T, array string) string {
	t.Helper()
	ac.nextID++
	id := ac.nextID
	ac.c.send(t, fmt.Sprintf("42%s,%d%s", ac.nsp, id, array))
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		p := adminPacket(t, ac.c)
		if p.Type == socketio.Disconnect && p.Namespace == ac.nsp {
			t.Fatalf("admin socket disconnected after %s", array)
		}
		if p.Type == socketio.Ack && p.Namespace == ac.nsp && p.HasID && p.ID == uint64(id) {
			return string(p.Data)
		}
	}
	t.Fatalf("no ack for %s within %v", array, waitFor)
	return ""
}

func instrument(t *testing.T, srv *gateway.Server, o admin.Options) *admin.Admin {
	t.Helper()
	a, err := admin.Instrument(srv, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

type adminSocketJSON struct {
	ID        string         `json:"id"`
	ClientID  string         `json:"clientId"`
	Transport string         `json:"transport"`
	Nsp       string         `json:"nsp"`
	Data      any            `json:"data"`
	Handshake map[string]any `json:"handshake"`
	Rooms     []string       `json:"rooms"`
}

func TestAdminAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ts := newSIO(t, gateway.Config{})
	instrument(t, ts.srv, admin.Options{
		Auth: admin.Credentials{
			{Username: "admin", PasswordHash: string(hash)},
			{Username: "ops", Password: "plain"},
		},
		ServerID: "node-a",
	})

	t.Run("refused", func(t *testing.T) {
		for _, auth := range []string{
			"",
			`{"username":"admin","password":"wrong"}`,
			`{"username":"admin"}`,
			`{"username":"ops","password":"plainx"}`,
			`{"username":"nobody","password":"s3cret"}`,
			`{"username":1,"password":2}`,
			`{"sessionId":"0123456789abcdef"}`,
			`{"username":"admin","password":"s3cret","pad":"` + strings.Repeat("x", 5000) + `"}`, // oversized
		} {
			refusedAdmin(t, ts, auth)
		}
	})

	t.Run("bcrypt login then session", func(t *testing.T) {
		ac := dialAdmin(t, ts, "/admin", `{"username":"admin","password":"s3cret"}`)
		session := decode[string](t, ac.waitEvent(t, "session")[0])
		if len(session) < 16 {
			t.Fatalf("session id %q", session)
		}
		ac.waitEvent(t, "config")
		// The UI reconnects with the session id alone.
		again := dialAdmin(t, ts, "/admin", fmt.Sprintf(`{"sessionId":%q}`, session))
		p := adminPacket(t, again.c)
		if ev, _, _ := socketio.EventName(&p); ev != "config" {
			t.Fatalf("after a session login the first event is %q, want config (no new session)", ev)
		}
	})

	t.Run("plain password", func(t *testing.T) {
		ac := dialAdmin(t, ts, "/admin", `{"username":"ops","password":"plain"}`)
		ac.waitEvent(t, "session")
	})

	t.Run("function", func(t *testing.T) {
		ts := newSIO(t, gateway.Config{AlwaysConnect: true})
		instrument(t, ts.srv, admin.Options{Auth: admin.AuthFunc(func(auth json.RawMessage) bool {
			var a struct{ Token string }
			return json.Unmarshal(auth, &a) == nil && a.Token == "letmein"
		})})
		// With AlwaysConnect the socket is admitted first, then refused.
		c := ts.dial(t, "websocket")
		c.send(t, `40/admin,{"token":"nope"}`)
		c.expectConnect(t, "/admin")
		c.expect(t, `41/admin,`)
		ac := dialAdmin(t, ts, "/admin", `{"token":"letmein"}`)
		ac.waitEvent(t, "config")
		if got := ac.command(t, "join", "/", "r", "no-such-sid"); got != `[null]` {
			t.Fatalf("command after function login: %s", got)
		}
	})

	t.Run("bad options", func(t *testing.T) {
		srv := gateway.NewServer(gateway.Config{})
		for _, o := range []admin.Options{
			{Auth: admin.Credential{Username: "a", PasswordHash: "not-a-hash"}},
			{Auth: admin.Credential{Username: "a"}},
			{Auth: admin.Credentials{}},
			{Mode: "staging"},
			{Namespace: "/"},
			{ServerStatsInterval: -time.Second},
		} {
			if a, err := admin.Instrument(srv, o); err == nil {
				a.Close()
				t.Errorf("Instrument(%+v) accepted", o)
			}
		}
		if n := srv.ObserverCount(); n != 0 {
			t.Errorf("refused Instrument calls left %d observers", n)
		}
	})
}

func TestAdminPayloads(t *testing.T) {
	rs := newRoomSetup(t, gateway.Config{})
	srv := rs.ts.srv
	rs.client(t, "websocket", "alice", "blue")
	rs.client(t, "polling", "bob")
	instrument(t, srv, admin.Options{ServerID: "node-a", ServerStatsInterval: 100 * time.Millisecond})
	ac := dialAdmin(t, rs.ts, "/admin", "")

	cfg := decode[struct{ SupportedFeatures []string }](t, ac.waitEvent(t, "config")[0])
	want := []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"}
	if !slices.Equal(cfg.SupportedFeatures, want) {
		t.Errorf("supportedFeatures %v, want %v", cfg.SupportedFeatures, want)
	}

	all := decode[[]adminSocketJSON](t, ac.waitEvent(t, "all_sockets")[0])
	byData := map[string]adminSocketJSON{}
	for _, s := range all {
		byData[fmt.Sprint(s.Data)] = s
	}
	alice, bob := byData["alice"], byData["bob"]
	if alice.ID != rs.sock("alice").ID() || bob.ID != rs.sock("bob").ID() {
		t.Fatalf("all_sockets %+v: alice and bob missing", all)
	}
	if !slices.Contains(alice.Rooms, "blue") || !slices.Contains(alice.Rooms, alice.ID) || alice.Nsp != "/" {
		t.Errorf("alice %+v", alice)
	}
	if alice.Transport != "websocket" || bob.Transport != "polling" {
		t.Errorf("transports %q %q", alice.Transport, bob.Transport)
	}
	if len(alice.ClientID) == 0 || len(alice.ClientID) > 12 || alice.ClientID == bob.ClientID {
		t.Errorf("client ids %q %q", alice.ClientID, bob.ClientID)
	}
	hs := alice.Handshake
	if hs["address"] != "127.0.0.1" || hs["headers"] == nil || hs["query"].(map[string]any)["EIO"] != "4" ||
		hs["issued"].(float64) <= 0 || !strings.HasPrefix(hs["url"].(string), "/socket.io/") || hs["secure"] != false {
		t.Errorf("handshake %v", hs)
	}
	if _, ok := hs["auth"]; ok {
		t.Error("the handshake shows the CONNECT payload")
	}
	var admin adminSocketJSON
	for _, s := range all {
		if s.Nsp == "/admin" {
			admin = s
		}
	}
	if admin.ID != ac.sid {
		t.Errorf("all_sockets lacks the admin socket itself: %+v", all)
	}

	st := decode[struct {
		ServerID, Hostname  string
		Pid                 int
		Uptime              float64
		ClientsCount        int
		PollingClientsCount int
		AggregatedEvents    []map[string]any
		Namespaces          []struct {
			Name         string
			SocketsCount int
		}
	}](t, ac.waitEvent(t, "server_stats")[0])
	if st.ServerID != "node-a" || st.Hostname == "" || st.Pid <= 0 || st.ClientsCount != 3 || st.PollingClientsCount != 1 || st.AggregatedEvents == nil {
		t.Errorf("server_stats %+v", st)
	}
	counts := map[string]int{}
	for _, n := range st.Namespaces {
		counts[n.Name] = n.SocketsCount
	}
	if counts["/"] != 2 || counts["/admin"] != 1 {
		t.Errorf("namespaces %+v", st.Namespaces)
	}
	// Connections counted since instrumenting: the admin's own.
	sawRaw := ac.waitMatch(t, "server_stats", func(a []json.RawMessage) bool { return strings.Contains(string(a[0]), `"rawConnection"`) })
	_ = sawRaw

	// Live reports.
	carol := rs.client(t, "websocket", "carol")
	connected := decode[adminSocketJSON](t, ac.waitEvent(t, "socket_connected")[0])
	carolSock := rs.sock("carol")
	if connected.ID != carolSock.ID() || connected.Data != "carol" {
		t.Fatalf("socket_connected %+v", connected)
	}
	carol.send(t, `42["hello",1,{"a":[true,null]}]`)
	got := ac.waitEvent(t, "event_received")
	if decode[string](t, got[0]) != "/" || decode[string](t, got[1]) != carolSock.ID() {
		t.Errorf("event_received %s", got)
	}
	sameJSON(t, string(got[2]), `["hello",1,{"a":[true,null]}]`)
	if ts := decode[string](t, got[3]); !strings.HasSuffix(ts, "Z") {
		t.Errorf("timestamp %q", ts)
	}
	// Binary arguments are shown as base64.
	carol.send(t, `451-["bin",{"_placeholder":true,"num":0}]`)
	carol.sendBin(t, []byte{1, 2, 3})
	got = ac.waitEvent(t, "event_received")
	sameJSON(t, string(got[2]), `["bin","AQID"]`)

	carolSock.Join("green")
	got = ac.waitMatch(t, "room_joined", func(a []json.RawMessage) bool { return string(a[1]) == `"green"` })
	if decode[string](t, got[0]) != "/" || decode[string](t, got[2]) != carolSock.ID() {
		t.Errorf("room_joined %s", got)
	}
	carolSock.Leave("green")
	ac.waitMatch(t, "room_left", func(a []json.RawMessage) bool { return string(a[1]) == `"green"` })
	carol.send(t, "41")
	got = ac.waitEvent(t, "socket_disconnected")
	if decode[string](t, got[1]) != carolSock.ID() || decode[string](t, got[2]) != "client namespace disconnect" {
		t.Errorf("socket_disconnected %s", got)
	}
}

func TestAdminTransportUpgradeReported(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	instrument(t, ts.srv, admin.Options{ServerStatsInterval: 100 * time.Millisecond})
	ac := dialAdmin(t, ts, "/admin", "")
	ac.waitEvent(t, "config")

	// A polling client upgrades to WebSocket (probe, then upgrade).
	c := ts.dial(t, "polling")
	sid := c.connect(t, "/", "")
	ac.waitMatch(t, "socket_connected", func(a []json.RawMessage) bool { return strings.Contains(string(a[0]), sid) })
	ws := dialUpgrade(t, ts, c.sid)
	defer ws.close()
	got := ac.waitEvent(t, "socket_updated")
	sameJSON(t, string(got[0]), fmt.Sprintf(`{"id":%q,"nsp":"/","transport":"websocket"}`, sid))
}

// dialUpgrade upgrades the polling session sid to WebSocket.
func dialUpgrade(t *testing.T, ts *testServer, sid string) *client {
	t.Helper()
	c := &client{transport: "websocket", sid: sid, msgs: make(chan frame, 64), done: make(chan struct{})}
	addr := "ws" + strings.TrimPrefix(ts.base(), "http") + "&transport=websocket&sid=" + sid
	conn, _, err := gws.NewClient(clientEvents{c}, &gws.ClientOption{Addr: addr, HandshakeTimeout: waitFor})
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	c.ws = conn
	go conn.ReadLoop()
	c.send(t, "2probe") // its answer, 3probe, is swallowed by client.deliver
	c.send(t, "5")
	return c
}

func TestAdminProductionMode(t *testing.T) {
	rs := newRoomSetup(t, gateway.Config{})
	instrument(t, rs.ts.srv, admin.Options{Mode: admin.Production, ServerStatsInterval: 100 * time.Millisecond})
	ac := dialAdmin(t, rs.ts, "/admin", "")
	p := adminPacket(t, ac.c)
	ev, args, _ := socketio.EventName(&p)
	if ev != "config" {
		t.Fatalf("first event %q", ev)
	}
	sameJSON(t, string(args.Raw(0)), `{"supportedFeatures":["EMIT","JOIN","LEAVE","DISCONNECT","MJOIN","MLEAVE","MDISCONNECT","AGGREGATED_EVENTS"]}`)
	p = adminPacket(t, ac.c)
	if ev, _, _ := socketio.EventName(&p); ev != "server_stats" {
		t.Fatalf("production mode sent %q after config, want server_stats (no all_sockets)", ev)
	}
	c := rs.client(t, "websocket", "dave")
	c.send(t, `42["x"]`)
	// Only statistics arrive: the connection is counted, not reported.
	ac.waitMatch(t, "server_stats", func(a []json.RawMessage) bool { return strings.Contains(string(a[0]), `"rawConnection"`) })
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		f, err := ac.c.nextErr(100 * time.Millisecond)
		if err != nil {
			continue
		}
		if !strings.HasPrefix(string(f.data), `42/admin,["server_stats"`) {
			t.Fatalf("production mode sent %s", f)
		}
	}
}

func TestAdminCommands(t *testing.T) {
	rs := newRoomSetup(t, gateway.Config{})
	srv := rs.ts.srv
	alice := rs.client(t, "websocket", "alice", "blue")
	bob := rs.client(t, "polling", "bob")
	instrument(t, srv, admin.Options{})
	ac := dialAdmin(t, rs.ts, "/admin", "")
	ac.waitEvent(t, "config")
	as, bs := rs.sock("alice"), rs.sock("bob")
	root := srv.Of("/")

	// join / leave one socket (the UI's filter is its id).
	if got := ac.command(t, "join", "/", "green", bs.ID()); got != `[null]` {
		t.Fatalf("join: %s", got)
	}
	if !slices.Contains(root.Rooms(bs.ID()), "green") || slices.Contains(root.Rooms(as.ID()), "green") {
		t.Fatalf("after join: alice %v bob %v", root.Rooms(as.ID()), root.Rooms(bs.ID()))
	}
	// emit to a room, then to one socket, with the arguments intact.
	if got := ac.command(t, "emit", "/", "green", "notice", map[string]any{"n": 1}, "two"); got != `[null]` {
		t.Fatalf("emit: %s", got)
	}
	bob.expect(t, `42["notice",{"n":1},"two"]`)
	if got := ac.command(t, "emit", "/", as.ID(), "hi"); got != `[null]` {
		t.Fatalf("emit: %s", got)
	}
	alice.expect(t, `42["hi"]`)
	mark(t, srv, 1, alice, bob) // nothing else reached either
	if got := ac.command(t, "leave", "/", "green", bs.ID()); got != `[null]` {
		t.Fatalf("leave: %s", got)
	}
	if slices.Contains(root.Rooms(bs.ID()), "green") {
		t.Fatalf("bob still in green: %v", root.Rooms(bs.ID()))
	}
	// Whole-namespace forms (MJOIN, MLEAVE): filter null.
	if got := ac.commandRaw(t, `["join","/","all",null]`); got != `[null]` {
		t.Fatalf("join all: %s", got)
	}
	if !slices.Contains(root.Rooms(as.ID()), "all") || !slices.Contains(root.Rooms(bs.ID()), "all") {
		t.Fatal("join without filter did not reach every socket")
	}
	if got := ac.commandRaw(t, `["leave","/","all"]`); got != `[null]` {
		t.Fatalf("leave all: %s", got)
	}
	if len(root.Adapter().Sockets([]string{"all"})) != 0 {
		t.Fatal("leave without filter left sockets in the room")
	}

	// Unknown sids are no-ops.
	for _, cmd := range [][]any{
		{"join", "/", "ghost-room", "no-such-sid"},
		{"leave", "/", "blue", "no-such-sid"},
		{"emit", "/", "no-such-sid", "x"},
		{"_disconnect", "/", false, "no-such-sid"},
	} {
		if got := ac.command(t, cmd...); got != `[null]` {
			t.Fatalf("%v: %s", cmd, got)
		}
	}
	if len(root.Adapter().Sockets([]string{"ghost-room"})) != 0 || root.Count() != 2 {
		t.Fatal("a command for an unknown sid changed something")
	}
	mark(t, srv, 2, alice, bob)

	// _disconnect: leave the namespace, then close a whole connection.
	if got := ac.command(t, "_disconnect", "/", false, bs.ID()); got != `[null]` {
		t.Fatalf("_disconnect: %s", got)
	}
	bob.expect(t, "41")
	if r := recv(t, rs.disc, "bob's disconnect"); r != "bob server namespace disconnect" {
		t.Fatalf("bob: %s", r)
	}
	if got := ac.command(t, "_disconnect", "/", true, as.ID()); got != `[null]` {
		t.Fatalf("_disconnect close: %s", got)
	}
	alice.expect(t, "41")
	alice.expectClosed(t)
	if r := recv(t, rs.disc, "alice's disconnect"); r != "alice server namespace disconnect" {
		t.Fatalf("alice: %s", r)
	}
}

func TestAdminRejectsBadInput(t *testing.T) {
	rs := newRoomSetup(t, gateway.Config{})
	srv := rs.ts.srv
	alice := rs.client(t, "websocket", "alice", "blue")
	instrument(t, srv, admin.Options{})
	ac := dialAdmin(t, rs.ts, "/admin", "")
	ac.waitEvent(t, "config")
	long := strings.Repeat("r", 300)
	for _, tc := range []struct{ cmd, want string }{
		{`["join"]`, "namespace must be a string"},
		{`["join",123,"x"]`, "namespace must be a string"},
		{`["join","/nope","x"]`, `no namespace \"/nope\"`},
		{`["join","/",""]`, "room is empty"},
		{`["join","/",{"a":1}]`, "room must be a string"},
		{`["join","/","` + long + `"]`, "room too long"},
		{`["join","/","x",42]`, "filter must be a string"},
		{`["leave","/",null]`, "room must be a string"},
		{`["emit","/",null]`, "event name must be a string"},
		{`["emit","/",null,"connect"]`, "reserved event name"},
		{`["emit","/",null,"` + long + `"]`, "event name too long"},
		{`["_disconnect","/","yes"]`, "close must be a boolean"},
		{`["emit","` + strings.Repeat("/", 5000) + `",null,"x"]`, "namespace too long"},
	} {
		got := ac.commandRaw(t, tc.cmd)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%.60s: ack %.200s, want an error containing %q", tc.cmd, got, tc.want)
		}
	}
	// An oversized packet is the transport's business: the connection
	// goes, the server stays.
	bigC := rs.ts.dial(t, "websocket")
	bigC.connect(t, "/admin", "")
	// The server may reset the connection before the write completes.
	_ = bigC.sendRaw(frame{data: []byte(`42/admin,["emit","/",null,"x","` + strings.Repeat("y", 2_000_000) + `"]`)})
	bigC.expectClosed(t)
	// Nothing reached alice, the admin is still connected and working.
	mark(t, srv, 1, alice)
	if got := ac.command(t, "join", "/", "ok", rs.sock("alice").ID()); got != `[null]` {
		t.Fatalf("valid command after bad ones: %s", got)
	}
	if !slices.Contains(srv.Of("/").Rooms(rs.sock("alice").ID()), "ok") {
		t.Fatal("valid command had no effect")
	}
	if slices.Contains(srv.Of("/").Adapter().AllRooms(), long) {
		t.Fatal("an over-long room was created")
	}
}

func TestAdminReadOnly(t *testing.T) {
	rs := newRoomSetup(t, gateway.Config{})
	srv := rs.ts.srv
	alice := rs.client(t, "websocket", "alice", "blue")
	instrument(t, srv, admin.Options{ReadOnly: true})
	ac := dialAdmin(t, rs.ts, "/admin", "")
	cfg := decode[struct{ SupportedFeatures []string }](t, ac.waitEvent(t, "config")[0])
	if !slices.Equal(cfg.SupportedFeatures, []string{"AGGREGATED_EVENTS", "ALL_EVENTS"}) {
		t.Errorf("read-only features %v", cfg.SupportedFeatures)
	}
	sid := rs.sock("alice").ID()
	for _, cmd := range [][]any{
		{"join", "/", "green", sid},
		{"leave", "/", "blue", sid},
		{"emit", "/", sid, "x"},
		{"_disconnect", "/", true, sid},
	} {
		if got := ac.command(t, cmd...); got != `["the admin UI is read-only"]` {
			t.Errorf("%v: ack %s", cmd, got)
		}
	}
	if rooms := srv.Of("/").Rooms(sid); !slices.Equal(rooms, []string{sid, "blue"}) && !slices.Equal(rooms, []string{"blue", sid}) {
		t.Errorf("alice's rooms changed: %v", rooms)
	}
	mark(t, srv, 1, alice) // alice got nothing and is still connected
}

func TestAdminClose(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	a := instrument(t, ts.srv, admin.Options{})
	ac := dialAdmin(t, ts, "/admin", "")
	ac.waitEvent(t, "config")
	a.Close()
	// The admin socket is told it was disconnected.
	for {
		p := adminPacket(t, ac.c)
		if p.Type == socketio.Disconnect && p.Namespace == "/admin" {
			break
		}
	}
	c := ts.dial(t, "websocket")
	c.send(t, connectPacket("/admin", ""))
	c.expect(t, `44/admin,{"message":"admin UI support is closed"}`)
}

func TestAdminNotInstrumentedObservesNothing(t *testing.T) {
	ts := newSIO(t, gateway.Config{})
	c := ts.dial(t, "websocket")
	c.connect(t, "/", "")
	if n := ts.srv.ObserverCount(); n != 0 {
		t.Fatalf("a server never instrumented has %d observers", n)
	}
	if len(ts.srv.Namespaces()) != 1 {
		t.Fatalf("a server never instrumented has namespaces %v", ts.srv.Namespaces())
	}
	a, err := admin.Instrument(ts.srv, admin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := ts.srv.ObserverCount(); n != 1 {
		t.Fatalf("instrumented: %d observers, want 1", n)
	}
	a.Close()
	if n := ts.srv.ObserverCount(); n != 0 {
		t.Fatalf("after Close: %d observers, want 0", n)
	}
	if _, err := admin.Instrument(ts.srv, admin.Options{}); err == nil {
		t.Fatal("the closed admin namespace was instrumented again")
	}
}
