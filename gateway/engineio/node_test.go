package engineio_test

// The well-behaved client is the official one here: engine.io-client from
// npm (../../js/node_modules), run by node, on each transport, while raw
// abusive clients of the test's own hit the same server.

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siogate/siogate/gateway/engineio"
)

// nodeClientJS connects engine.io-client to argv[1] on the transport
// argv[2], prints what happens as JSON lines, and sends each line of its
// standard input as a message.
const nodeClientJS = `
import { Socket } from "engine.io-client";
import readline from "node:readline";
const [url, transport] = process.argv.slice(1);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const socket = new Socket(url, { transports: [transport], upgrade: false });
socket.on("open", () => out({ open: socket.id }));
socket.on("message", (d) => out({ len: d.length, head: d.slice(0, 32) }));
socket.on("close", (reason) => { out({ close: reason }); process.exit(0); });
readline.createInterface({ input: process.stdin }).on("line", (l) => socket.send(l));
`

// nodeEvent is one line the node client printed.
type nodeEvent struct {
	Open  string `json:"open"`
	Len   int    `json:"len"`
	Head  string `json:"head"`
	Close string `json:"close"`
}

type nodeClient struct {
	stdin  io.WriteCloser
	events chan nodeEvent
}

// startNodeClient runs engine.io-client against s on transport.
func startNodeClient(t *testing.T, s *testServer, transport string) *nodeClient {
	t.Helper()
	jsDir, err := filepath.Abs(filepath.Join("..", "..", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("this test needs Node.js on PATH: %v", err)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "engine.io-client", "package.json")); err != nil {
		t.Fatalf("this test needs engine.io-client: run npm ci in %s (%v)", jsDir, err)
	}
	cmd := exec.Command(node, "--input-type=module", "-e", nodeClientJS, s.ts.URL, transport)
	cmd.Dir = jsDir // where node_modules is found
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &nodeClient{stdin: stdin, events: make(chan nodeEvent, 1024)}
	go func() {
		defer close(c.events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e nodeEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				c.events <- e
			}
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return c
}

// next returns the client's next event.
func (c *nodeClient) next(t *testing.T) nodeEvent {
	t.Helper()
	select {
	case e, ok := <-c.events:
		if !ok {
			t.Fatal("the node client exited")
		}
		return e
	case <-time.After(waitFor):
		t.Fatalf("the node client printed nothing within %v", waitFor)
	}
	return nodeEvent{}
}

// echo has the client send text and checks that the echo comes back.
func (c *nodeClient) echo(t *testing.T, text string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, text+"\n"); err != nil {
		t.Fatal(err)
	}
	if e := c.next(t); e.Head != text {
		t.Fatalf("node client: got %+v, want the echo of %q", e, text)
	}
}

func TestHostileBesideNodeClient(t *testing.T) {
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			// A short ping timeout bounds POST bodies; the long ping
			// interval keeps the heartbeat out of the way.
			s := newServer(t, engineio.Config{PingTimeout: 500 * time.Millisecond, PingInterval: time.Minute})
			node := startNodeClient(t, s, transport)
			open := node.next(t)
			if open.Open == "" {
				t.Fatalf("node client: %+v, want open", open)
			}
			good := s.rec.session(t, open.Open)
			node.echo(t, "hello €")

			// Text that is not UTF-8 on a WebSocket: closed with 1007.
			bad := dialRaw(t, s, "")
			badSID := bad.open(t)
			bad.write(t, 1, false, []byte("4\xff\xfe"))
			if code := bad.closeCode(t); code != 1007 {
				t.Fatalf("close status %d, want 1007", code)
			}
			s.rec.closeReason(t, badSID)
			node.echo(t, "after bad UTF-8")

			// A polling POST whose body never ends: cut.
			postSID, _ := s.handshake(t)
			conn, br := endlessPost(t, s, postSID)
			node.echo(t, "during the endless POST")
			if resp := cutResponse(t, conn, br); resp.StatusCode != 400 {
				t.Fatalf("endless POST: HTTP %d, want 400", resp.StatusCode)
			}
			node.echo(t, "after the endless POST")

			// A client that stops reading while 64 KiB messages flow to
			// everyone: cut at the byte budget; the node client gets them
			// all.
			stalled := dialRaw(t, s, "")
			stalledSS := s.rec.session(t, stalled.open(t))
			budget := s.srv.Config().QueueBytes
			for i := 0; i < 2000 && !s.rec.isClosed(stalledSS.ID()); i++ {
				f := engineio.MessageFrame(bigMessage).Shared(true)
				if err := good.Send(f); err != nil {
					t.Fatalf("broadcast %d to the node client: %v", i, err)
				}
				if err := stalledSS.Send(f); err != nil && !errors.Is(err, engineio.ErrQueueFull) && !errors.Is(err, engineio.ErrSessionClosed) {
					t.Fatal(err)
				}
				if q := stalledSS.QueuedBytes(); q > budget {
					t.Fatalf("the stalled client holds %d bytes, over %d", q, budget)
				}
				if e := node.next(t); e.Len != len(bigMessage) || !strings.HasPrefix(string(bigMessage), e.Head) {
					t.Fatalf("broadcast %d: the node client got %+v", i, e)
				}
			}
			if r := s.rec.closeReason(t, stalledSS.ID()); r != engineio.ReasonTransportError {
				t.Fatalf("stalled client closed with %q", r)
			}
			node.echo(t, "after the stalled client")
			if s.rec.isClosed(good.ID()) {
				t.Fatal("the node client's session was closed")
			}
		})
	}
}
