package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siogate/siogate/protocol/msgpackparser"
	"github.com/siogate/siogate/protocol/socketio"
)

// Tests of the msgpack parser against the gateway's msgpack example (a
// child process, built once): see ../gateway/examples/msgpack.

var (
	msgpackBinOnce sync.Once
	msgpackBin     string
	msgpackBinErr  error
)

func startMsgpackGateway(t *testing.T) *server {
	t.Helper()
	msgpackBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "siogate-msgpack-")
		if err != nil {
			msgpackBinErr = err
			return
		}
		msgpackBin = filepath.Join(dir, "msgpack")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", msgpackBin, "./examples/msgpack")
		cmd.Dir = filepath.Join("..", "gateway")
		if out, err := cmd.CombinedOutput(); err != nil {
			msgpackBinErr = fmt.Errorf("building ../gateway/examples/msgpack: %v\n%s", err, out)
		}
	})
	if msgpackBinErr != nil {
		t.Fatal(msgpackBinErr)
	}
	port := freePort(t)
	s := &server{t: t, name: "gateway msgpack example", port: port,
		argv: []string{msgpackBin}, env: []string{"PORT=" + strconv.Itoa(port)}}
	s.start()
	return s
}

// countingJSON is a JSONCodec counting its calls.
type countingJSON struct{ marshal, unmarshal atomic.Int64 }

func (c *countingJSON) Marshal(v any) ([]byte, error) {
	c.marshal.Add(1)
	return socketio.StdJSON{}.Marshal(v)
}

func (c *countingJSON) Unmarshal(data []byte, v any) error {
	c.unmarshal.Add(1)
	return socketio.StdJSON{}.Unmarshal(data, v)
}

type point struct {
	X, Y int
	Tag  []byte
}

func TestGatewayMsgpack(t *testing.T) {
	srv := startMsgpackGateway(t)
	for _, m := range transportModes {
		t.Run(m.name, func(t *testing.T) {
			codec := &countingJSON{}
			c := New(Options{Transports: m.transports, Parser: msgpackparser.Parser{}, JSON: codec,
				Auth: map[string]any{"token": "abc", "n": 7}, Namespaces: []string{"/", "/chat"}, Logger: testLogger()})
			shutdown(t, c)
			rec := newRecorder()
			c.On("welcome", rec.handler())
			c.On("news", rec.handler())
			c.On("question", func(e *Event) []any {
				vals, _ := e.Args.Values()
				return append([]any{"answer"}, vals...)
			})
			if err := c.Connect(ctxTimeout(t, 10*time.Second), srv.url()); err != nil {
				t.Fatal(err)
			}

			e := rec.next(t, "welcome")
			if string(e.Args.Raw(0)) != `{"n":7,"token":"abc"}` || e.Args.String(1) != c.SID("/") {
				t.Errorf("welcome %s %s (sid %s)", e.Args.Raw(0), e.Args.Raw(1), c.SID("/"))
			}

			// Events and acks with many args, nested binary, ints and
			// floats, and a struct through the custom JSON codec.
			blob := []byte{0, 1, 0xfe, 0xff}
			p := point{X: 3, Y: -4, Tag: []byte("t")}
			args, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "echo", "s", 42, 1.5, nil, true, blob,
				map[string]any{"nested": []any{blob, int64(1) << 40}}, p)
			if err != nil {
				t.Fatal(err)
			}
			if args.String(0) != "echoed" || args.String(1) != "s" || string(args.Raw(2)) != "42" || string(args.Raw(3)) != "1.5" ||
				string(args.Raw(4)) != "null" || string(args.Raw(5)) != "true" {
				t.Errorf("echo ack %s %s %s %s %s %s", args.Raw(0), args.Raw(1), args.Raw(2), args.Raw(3), args.Raw(4), args.Raw(5))
			}
			var gotBlob []byte
			var nested map[string]any
			var gotP point
			if err := args.Decode(6, &gotBlob); err != nil || !bytes.Equal(gotBlob, blob) {
				t.Errorf("binary %v %v", gotBlob, err)
			}
			if err := args.Decode(7, &nested); err != nil ||
				!reflect.DeepEqual(nested["nested"], []any{blob, float64(1 << 40)}) {
				t.Errorf("nested %#v %v", nested, err)
			}
			if err := args.Decode(8, &gotP); err != nil || !reflect.DeepEqual(gotP, point{X: 3, Y: -4, Tag: []byte("t")}) {
				t.Errorf("struct %+v %v", gotP, err)
			}
			if codec.marshal.Load() == 0 || codec.unmarshal.Load() == 0 {
				t.Errorf("custom JSON codec unused: %d marshal, %d unmarshal", codec.marshal.Load(), codec.unmarshal.Load())
			}

			// Server to client with an ack: "ask" makes the server call our
			// "question", and acknowledges with our answer.
			args, err = c.EmitWithAck(ctxTimeout(t, 5*time.Second), "ask", "q", []byte{9})
			if err != nil {
				t.Fatal(err)
			}
			var b []byte
			if args.String(0) != "answer" || args.String(1) != "q" || args.Decode(2, &b) != nil || !bytes.Equal(b, []byte{9}) {
				t.Errorf("ask ack %d args: %s %s", args.Len(), args.Raw(0), args.Raw(1))
			}

			// A custom namespace over the same connection.
			args, err = c.Of("/chat").EmitWithAck(ctxTimeout(t, 5*time.Second), "hello", "x", []byte("y"))
			if err != nil || args.String(0) != "/chat" || args.String(1) != "x" || args.Decode(2, &b) != nil || string(b) != "y" {
				t.Errorf("/chat ack %v: %s %s", err, args.Raw(0), args.Raw(1))
			}

			// connect_error with data.
			priv := New(Options{Transports: m.transports, Parser: msgpackparser.Parser{}, Namespaces: []string{"/private"},
				DisableReconnection: true, Logger: testLogger()})
			shutdown(t, priv)
			err = priv.Connect(ctxTimeout(t, 5*time.Second), srv.url())
			var ce *ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("connecting /private: %v", err)
			}
			if ce.Message != "not allowed" || string(ce.Data) != `{"code":403}` {
				t.Errorf("refusal %q %s", ce.Message, ce.Data)
			}

			// A room broadcast.
			if _, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "join", "r"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.EmitWithAck(ctxTimeout(t, 5*time.Second), "shout", "r", "hi", []byte{1, 2}, 3); err != nil {
				t.Fatal(err)
			}
			e = rec.next(t, "news")
			if e.Args.String(0) != "hi" || e.Args.Decode(1, &b) != nil || !bytes.Equal(b, []byte{1, 2}) || string(e.Args.Raw(2)) != "3" {
				t.Errorf("news %s %s %s", e.Args.Raw(0), e.Args.Raw(1), e.Args.Raw(2))
			}
			waitTransport(t, c, m.want)
		})
	}
}
