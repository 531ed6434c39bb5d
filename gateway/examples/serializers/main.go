// Command serializers shows the pluggable Socket.IO serializers: a gateway
// speaking the msgpack parser (socket.io-msgpack-parser's wire format) and
// one speaking the default JSON parser with a custom JSON codec. Each
// serves an "add" event; a small long-polling client, written with the
// same socketio.Parser values, connects and calls it, and prints what
// crossed the wire.
//
//	go run ./examples/serializers
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/protocol/engineio"
	"github.com/siogate/siogate/protocol/msgpackparser"
	"github.com/siogate/siogate/protocol/socketio"
)

// loudJSON is a custom JSON codec: encoding/json counting its calls. A
// real one would wrap a faster library.
type loudJSON struct{ marshals, unmarshals atomic.Int64 }

func (c *loudJSON) Marshal(v any) ([]byte, error) {
	c.marshals.Add(1)
	return json.Marshal(v)
}

func (c *loudJSON) Unmarshal(data []byte, v any) error {
	c.unmarshals.Add(1)
	return json.Unmarshal(data, v)
}

// operands and sum are the application values: the JSON codec turns them
// into packet data and back, whatever the parser.
type operands struct {
	A, B int
	Note []byte
}

type sum struct {
	Sum  int    `json:"sum"`
	Note []byte `json:"note"`
}

func newServer(parser socketio.Parser, codec socketio.JSONCodec) *gateway.Server {
	srv := gateway.NewServer(gateway.Config{Parser: parser, JSON: codec})
	srv.Of("/").On("add", func(s *gateway.Socket, e *gateway.Event) []any {
		var in operands
		if err := e.Args.Decode(0, &in); err != nil {
			return []any{err.Error()}
		}
		return []any{sum{Sum: in.A + in.B, Note: in.Note}}
	})
	return srv
}

// pollingClient speaks Engine.IO long-polling with a socketio.Parser.
type pollingClient struct {
	url    string
	parser socketio.Parser
	dec    socketio.PacketDecoder
	wire   []string // what was received, for display
}

func (c *pollingClient) get() ([]*socketio.Packet, error) {
	resp, err := http.Get(c.url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var out []*socketio.Packet
	err = engineio.DecodePayload(body, func(p engineio.Packet) error {
		if p.Type != engineio.Message {
			return nil
		}
		if p.Binary {
			c.wire = append(c.wire, fmt.Sprintf("binary %x", p.Data))
		} else {
			c.wire = append(c.wire, "text "+string(p.Data))
		}
		pkt, err := c.dec.Add(p.Data, p.Binary)
		if pkt != nil {
			out = append(out, pkt)
		}
		return err
	})
	return out, err
}

func (c *pollingClient) post(p *socketio.Packet) error {
	msgs, err := c.parser.Encode(p)
	if err != nil {
		return err
	}
	pkts := make([]engineio.Packet, len(msgs))
	for i, m := range msgs {
		pkts[i] = engineio.Packet{Type: engineio.Message, Data: m.Data, Binary: m.Binary}
	}
	resp, err := http.Post(c.url, "text/plain", bytes.NewReader(engineio.AppendPayload(nil, pkts)))
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// call connects to "/" and calls "add", returning the acknowledgement.
func call(base string, parser socketio.Parser, codec socketio.JSONCodec) (*pollingClient, socketio.Args, error) {
	resp, err := http.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		return nil, socketio.Args{}, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h, err := engineio.ParseOpen(bytes.TrimPrefix(body, []byte("0")))
	if err != nil {
		return nil, socketio.Args{}, err
	}
	c := &pollingClient{url: base + "/socket.io/?EIO=4&transport=polling&sid=" + h.SID, parser: parser,
		dec: parser.NewDecoder(socketio.Limits{})}
	if err := c.post(&socketio.Packet{Type: socketio.Connect, Namespace: "/"}); err != nil {
		return nil, socketio.Args{}, err
	}
	if _, err := c.get(); err != nil { // the CONNECT answer
		return nil, socketio.Args{}, err
	}
	ev, err := socketio.NewEventWith(codec, "/", "add", []any{operands{A: 2, B: 40, Note: []byte{0xca, 0xfe}}})
	if err != nil {
		return nil, socketio.Args{}, err
	}
	ev.HasID, ev.ID = true, 1
	if err := c.post(&ev); err != nil {
		return nil, socketio.Args{}, err
	}
	for range 5 {
		pkts, err := c.get()
		if err != nil {
			return nil, socketio.Args{}, err
		}
		for _, p := range pkts {
			if p.Type == socketio.Ack || p.Type == socketio.BinaryAck {
				args, err := socketio.ParseArgs(p.Data, p.Attachments)
				return c, args.WithJSON(codec), err
			}
		}
	}
	return nil, socketio.Args{}, errors.New("no acknowledgement")
}

func run(w io.Writer) error {
	codec := &loudJSON{}
	for _, setup := range []struct {
		name   string
		parser socketio.Parser
	}{
		{"msgpack parser", msgpackparser.Parser{}},
		{"JSON parser with a custom JSON codec", socketio.JSONParser{JSON: codec}},
	} {
		hs := httptest.NewServer(newServer(setup.parser, codec))
		c, args, err := call(hs.URL, setup.parser, codec)
		hs.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", setup.name, err)
		}
		var got sum
		if err := args.Decode(0, &got); err != nil {
			return fmt.Errorf("%s: %w", setup.name, err)
		}
		fmt.Fprintf(w, "%s:\n  received: %s\n  add(2, 40) = %d, note %x\n", setup.name, strings.Join(c.wire, " | "), got.Sum, got.Note)
	}
	fmt.Fprintf(w, "custom JSON codec: %d marshals, %d unmarshals\n", codec.marshals.Load(), codec.unmarshals.Load())
	return nil
}

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}
