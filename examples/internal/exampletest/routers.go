package exampletest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/siogate/siogate/client"
)

// CheckRouter drives an app that mounts a Socket.IO server on a router
// next to GET /api/hello: a client over each transport (polling only,
// WebSocket only, polling upgraded to WebSocket) gets want from the
// "hello" event, and the normal route counts the three clients.
func CheckRouter(t *testing.T, app http.Handler, want string) {
	t.Helper()
	base := Serve(t, app, nil)
	for _, transports := range [][]string{{"polling"}, {"websocket"}, {"polling", "websocket"}} {
		c := Dial(t, base, client.Options{Transports: transports})
		if got := Call(t, c, "/", "hello").String(0); got != want {
			t.Fatalf("%v: hello = %q, want %q", transports, got, want)
		}
		// The last transport is the one in use, once upgraded.
		final := transports[len(transports)-1]
		for deadline := time.Now().Add(Timeout); c.Transport() != final; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%v: transport = %s, want %s", transports, c.Transport(), final)
			}
		}
	}

	status, ctype, body := Get(t, base+"/api/hello")
	var got struct {
		Hello   string `json:"hello"`
		Clients int    `json:"clients"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Hello != "world" || got.Clients != 3 {
		t.Fatalf("GET /api/hello: %d %s %s", status, ctype, body)
	}
	if status, _, _ := Get(t, base+"/api/nowhere"); status != http.StatusNotFound {
		t.Fatalf("GET /api/nowhere: %d, want 404", status)
	}
}
