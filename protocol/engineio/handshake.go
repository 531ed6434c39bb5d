package engineio

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Handshake is the JSON payload of the server's open packet.
type Handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"` // milliseconds
	PingTimeout  int64    `json:"pingTimeout"`  // milliseconds
	MaxPayload   int64    `json:"maxPayload"`   // bytes
}

// AppendOpen appends the text encoding of the open packet carrying h: the
// same JSON encoding/json would produce, written directly (a handshake is
// on every connection's path).
func AppendOpen(dst []byte, h Handshake) []byte {
	dst = append(dst, Open.Char())
	dst = append(dst, `{"sid":`...)
	dst = appendJSONString(dst, h.SID)
	dst = append(dst, `,"upgrades":[`...)
	for i, u := range h.Upgrades {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, u)
	}
	dst = append(dst, `],"pingInterval":`...)
	dst = strconv.AppendInt(dst, h.PingInterval, 10)
	dst = append(dst, `,"pingTimeout":`...)
	dst = strconv.AppendInt(dst, h.PingTimeout, 10)
	dst = append(dst, `,"maxPayload":`...)
	dst = strconv.AppendInt(dst, h.MaxPayload, 10)
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string (sids and transport names
// are ASCII; anything else is escaped as JSON requires).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// ParseOpen decodes the data of an open packet.
func ParseOpen(data []byte) (Handshake, error) {
	var h Handshake
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("engineio: bad handshake: %w", err)
	}
	if h.SID == "" {
		return h, fmt.Errorf("engineio: handshake without sid")
	}
	return h, nil
}

// PingIntervalDuration returns PingInterval as a time.Duration.
func (h Handshake) PingIntervalDuration() time.Duration {
	return time.Duration(h.PingInterval) * time.Millisecond
}

// PingTimeoutDuration returns PingTimeout as a time.Duration.
func (h Handshake) PingTimeoutDuration() time.Duration {
	return time.Duration(h.PingTimeout) * time.Millisecond
}

// Transport names.
const (
	Polling   = "polling"
	WebSocket = "websocket"
)

// Query is the Engine.IO part of a request's query string.
type Query struct {
	EIO       int
	Transport string // Polling or WebSocket
	SID       string // empty on a handshake request
}

// Query errors; a server answers each with HTTP 400.
var (
	ErrBadVersion   = fmt.Errorf("engineio: unsupported protocol version: want EIO=%d", Protocol)
	ErrBadTransport = fmt.Errorf("engineio: unknown transport: want %q or %q", Polling, WebSocket)
)

// ParseQuery validates the EIO and transport parameters and returns them
// with the sid, if any.
func ParseQuery(q url.Values) (Query, error) {
	v, err := strconv.Atoi(q.Get("EIO"))
	if err != nil || v != Protocol {
		return Query{}, ErrBadVersion
	}
	t := q.Get("transport")
	if t != Polling && t != WebSocket {
		return Query{}, ErrBadTransport
	}
	return Query{EIO: v, Transport: t, SID: q.Get("sid")}, nil
}
