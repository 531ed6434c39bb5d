package adapter

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/siogate/siogate/adapter/wire"
	"github.com/siogate/siogate/protocol/socketio"
)

// The adapter's side of the wire format (package wire): broadcast options
// and sockets as they travel, converted from and to this package's types.

// toWireOpts converts broadcast options for the wire.
func toWireOpts(o BroadcastOptions) wire.Opts {
	return wire.NewOpts(o.Rooms, o.Except, o.Flags.Volatile, o.Flags.Compress)
}

// fromWireOpts converts wire options back.
func fromWireOpts(w wire.Opts) BroadcastOptions {
	o := BroadcastOptions{Rooms: w.Rooms, Except: w.Except}
	o.Flags.Volatile = w.Flag("volatile")
	o.Flags.Compress = w.Compress()
	return o
}

// ackArgs turns one node's ack value into Args.
func ackArgs(v any) (socketio.Args, error) {
	data, att, err := socketio.AppendArgs(nil, []any{v})
	if err != nil {
		return socketio.Args{}, err
	}
	return socketio.ParseArgs(data, att)
}

// wireSocket is a socket as fetchSockets answers carry it (Node's shape).
type wireSocket struct {
	ID        string        `json:"id"`
	Handshake wireHandshake `json:"handshake"`
	Rooms     []string      `json:"rooms"`
	Data      any           `json:"data"`
}

type wireHandshake struct {
	Headers map[string]any  `json:"headers"`
	Time    string          `json:"time"`
	Address string          `json:"address"`
	XDomain bool            `json:"xdomain"`
	Secure  bool            `json:"secure"`
	Issued  int64           `json:"issued"`
	URL     string          `json:"url"`
	Query   map[string]any  `json:"query"`
	Auth    json.RawMessage `json:"auth"`
}

func toWireSocket(s SocketInfo) wireSocket {
	h := s.Handshake
	headers := make(map[string]any, len(h.Headers))
	for k, v := range h.Headers {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	query := make(map[string]any, len(h.Query))
	for k, v := range h.Query {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	auth := json.RawMessage(h.Auth)
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	return wireSocket{
		ID: s.ID,
		Handshake: wireHandshake{
			Headers: headers, Time: h.Time.UTC().Format(time.RFC1123), Address: h.Address,
			XDomain: headers["origin"] != nil, Secure: h.Secure, Issued: h.Time.UnixMilli(),
			URL: h.URL, Query: query, Auth: auth,
		},
		Rooms: wire.NonNil(s.Rooms),
		Data:  s.Data,
	}
}

func (w wireSocket) info(nsp string) SocketInfo {
	h := http.Header{}
	for k, v := range w.Handshake.Headers {
		switch t := v.(type) {
		case string:
			h.Set(k, t)
		case []any:
			for _, e := range t {
				h.Add(k, fmt.Sprint(e))
			}
		}
	}
	q := map[string][]string{}
	for k, v := range w.Handshake.Query {
		q[k] = []string{fmt.Sprint(v)}
	}
	return SocketInfo{
		ID:        w.ID,
		Namespace: nsp,
		Rooms:     w.Rooms,
		Data:      w.Data,
		Handshake: Handshake{
			Headers: h, Time: time.UnixMilli(w.Handshake.Issued), Address: w.Handshake.Address,
			Secure: w.Handshake.Secure, URL: w.Handshake.URL, Query: q, Auth: w.Handshake.Auth,
		},
	}
}
