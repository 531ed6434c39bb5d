//go:build unix

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/siogate/siogate/client"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, string(b)
}

// TestHealthAndDrainOnSIGTERM: /healthz, /readyz and /status answer; on
// SIGTERM the node reports not ready at once, refuses new connections,
// closes its clients as a dropped transport (socket.io-client would
// reconnect elsewhere) over --drain-window, and exits.
func TestHealthAndDrainOnSIGTERM(t *testing.T) {
	bin := buildGateway(t)
	proc := startGateway(t, "gateway", bin, false, "--drain-window", "3s", "--log-level", "info")
	base := "http://" + proc.addr
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz before the drain: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reasons := make(chan client.DisconnectReason, 4)
	var cs []*client.Client
	for range 3 {
		c := client.New(client.Options{Transports: []string{"websocket"}, DisableReconnection: true})
		c.OnDisconnect(func(r client.DisconnectReason) { reasons <- r })
		if err := c.Connect(ctx, base); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	defer func() {
		for _, c := range cs {
			c.Shutdown()
		}
	}()
	_, body := httpGet(t, base+"/status")
	var st struct {
		Connections int
		Namespaces  map[string]int
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Connections != 3 || st.Namespaces["/"] != 3 {
		t.Fatalf("/status = %s (%v)", body, err)
	}

	if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := httpGet(t, base+"/readyz"); code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz still ready after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := httpGet(t, base+"/socket.io/?EIO=4&transport=polling"); code != http.StatusServiceUnavailable {
		t.Errorf("handshake while draining: %d %s", code, body)
	}
	for range cs {
		select {
		case r := <-reasons:
			if r != "transport close" {
				t.Errorf("client saw %q, want a dropped transport (it would reconnect)", r)
			}
		case <-ctx.Done():
			t.Fatal("clients not closed by the drain")
		}
	}
	select {
	case <-proc.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the process did not exit after draining")
	}
}
