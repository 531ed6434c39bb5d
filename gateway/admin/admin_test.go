package admin_test

// Login throttling of the admin namespace, with raw Socket.IO clients
// over WebSocket on 127.0.0.1 (and 127.0.0.2 for a second remote
// address): a guesser is refused while logged-in admins and clients from
// elsewhere keep working.

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/admin"
)

const waitFor = 5 * time.Second

// rawClient is a Socket.IO client over a raw WebSocket.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

// dial opens an Engine.IO WebSocket session from local address from.
func dial(t *testing.T, addr, from string) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: waitFor, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var key [16]byte
	_, _ = rand.Read(key[:])
	fmt.Fprintf(conn, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", addr, base64.StdEncoding.EncodeToString(key[:]))
	c := &rawClient{conn: conn, br: bufio.NewReader(conn)}
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("websocket handshake: %v %v", resp, err)
	}
	if open := c.read(t); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	return c
}

// send writes one masked text frame.
func (c *rawClient) send(t *testing.T, text string) {
	t.Helper()
	b := []byte{0x81}
	switch n := len(text); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	default:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i := range len(text) {
		b = append(b, text[i]^mask[i%4])
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := c.conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

// read returns the next text frame, answering Engine.IO pings.
func (c *rawClient) read(t *testing.T) string {
	t.Helper()
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(waitFor))
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			t.Fatalf("reading a frame: %v", err)
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			_, _ = io.ReadFull(c.br, b[:])
			n = int(b[0])<<8 | int(b[1])
		case 127:
			var b [8]byte
			_, _ = io.ReadFull(c.br, b[:])
			n = 0
			for _, x := range b {
				n = n<<8 | int(x)
			}
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			t.Fatalf("reading a frame: %v", err)
		}
		if h[0]&0x0f == 8 {
			t.Fatalf("the server closed the connection")
		}
		if string(p) == "2" {
			c.send(t, "3")
			continue
		}
		return string(p)
	}
}

// login sends a CONNECT to /admin with auth and returns the answer: ""
// when accepted, else the CONNECT_ERROR message.
func (c *rawClient) login(t *testing.T, auth string) string {
	t.Helper()
	c.send(t, "40/admin,"+auth)
	for {
		p := c.read(t)
		switch {
		case strings.HasPrefix(p, "40/admin,"):
			return ""
		case strings.HasPrefix(p, "44/admin,"):
			var e struct{ Message string }
			if err := json.Unmarshal([]byte(p[len("44/admin,"):]), &e); err != nil || e.Message == "" {
				t.Fatalf("CONNECT_ERROR %q", p)
			}
			return e.Message
		}
	}
}

// event waits for the admin event name and returns its arguments.
func (c *rawClient) event(t *testing.T, name string) []json.RawMessage {
	t.Helper()
	prefix := `42/admin,["` + name + `"`
	for {
		p := c.read(t)
		if strings.HasPrefix(p, prefix) {
			var args []json.RawMessage
			if err := json.Unmarshal([]byte(p[len("42/admin,"):]), &args); err != nil {
				t.Fatalf("event %q: %v", p, err)
			}
			return args[1:]
		}
	}
}

const (
	goodAuth = `{"username":"admin","password":"s3cret"}`
	badAuth  = `{"username":"admin","password":"guess"}`
	refused  = "invalid credentials"
)

func TestLoginThrottle(t *testing.T) {
	srv := gateway.NewServer(gateway.Config{})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	a, err := admin.Instrument(srv, admin.Options{
		Auth:                 admin.Credential{Username: "admin", Password: "s3cret"},
		LoginFailures:        3,
		AddressLoginFailures: 6,
		LoginLockout:         time.Hour,
		ServerStatsInterval:  100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	addr := ts.Listener.Addr().String()

	// A well-behaved admin, logged in before the guessing starts.
	good := dial(t, addr, "127.0.0.1")
	if msg := good.login(t, goodAuth); msg != "" {
		t.Fatalf("well-behaved login refused: %q", msg)
	}
	var session string
	if err := json.Unmarshal(good.event(t, "session")[0], &session); err != nil {
		t.Fatal(err)
	}

	// Per connection: three failures, then even the right password is
	// refused on that connection without being checked.
	guesser := dial(t, addr, "127.0.0.1")
	for i := range 3 {
		if msg := guesser.login(t, badAuth); msg != refused {
			t.Fatalf("failure %d: %q, want %q", i+1, msg, refused)
		}
	}
	msg := guesser.login(t, goodAuth)
	if !strings.HasPrefix(msg, "too many failed logins, try again in ") {
		t.Fatalf("login after 3 failures on one connection: %q, want the throttle message", msg)
	}
	good.event(t, "server_stats") // still served

	// Per address: three more failures, one per new connection, and the
	// address is refused, whatever the connection.
	for i := range 3 {
		if msg := dial(t, addr, "127.0.0.1").login(t, badAuth); msg != refused {
			t.Fatalf("address failure %d: %q, want %q", i+4, msg, refused)
		}
	}
	if msg := dial(t, addr, "127.0.0.1").login(t, goodAuth); !strings.HasPrefix(msg, "too many failed logins") {
		t.Fatalf("login from the throttled address: %q, want the throttle message", msg)
	}

	// The others keep working: the logged-in admin gets its statistics,
	// its session id still logs in from the throttled address, and a
	// client from another address logs in with the password.
	good.event(t, "server_stats")
	again := dial(t, addr, "127.0.0.1")
	if msg := again.login(t, fmt.Sprintf(`{"sessionId":%q}`, session)); msg != "" {
		t.Fatalf("session login from the throttled address: %q", msg)
	}
	again.event(t, "config")
	other := dial(t, addr, "127.0.0.2")
	if msg := other.login(t, goodAuth); msg != "" {
		t.Fatalf("login from another address: %q", msg)
	}
	other.event(t, "config")
}

func TestLoginThrottleExpires(t *testing.T) {
	srv := gateway.NewServer(gateway.Config{})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	a, err := admin.Instrument(srv, admin.Options{
		Auth:          admin.Credential{Username: "admin", Password: "s3cret"},
		LoginFailures: 2,
		LoginLockout:  200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	c := dial(t, ts.Listener.Addr().String(), "127.0.0.1")
	for range 2 {
		if msg := c.login(t, badAuth); msg != refused {
			t.Fatalf("failure: %q", msg)
		}
	}
	if msg := c.login(t, goodAuth); !strings.HasPrefix(msg, "too many failed logins") {
		t.Fatalf("throttled login: %q", msg)
	}
	// Refused attempts are not checked, nor counted: once the lockout
	// is over, the right password gets in.
	deadline := time.Now().Add(waitFor)
	for {
		msg := c.login(t, goodAuth)
		if msg == "" {
			break
		}
		if !strings.HasPrefix(msg, "too many failed logins") || time.Now().After(deadline) {
			t.Fatalf("login after the lockout: %q", msg)
		}
		time.Sleep(20 * time.Millisecond) // retry pacing, not a wait for an outcome
	}
}

func TestLoginThrottleOptions(t *testing.T) {
	srv := gateway.NewServer(gateway.Config{})
	for _, o := range []admin.Options{{LoginFailures: -1}, {AddressLoginFailures: -1}, {LoginLockout: -time.Second}} {
		if a, err := admin.Instrument(srv, o); err == nil {
			a.Close()
			t.Errorf("Instrument(%+v) accepted", o)
		}
	}
}
