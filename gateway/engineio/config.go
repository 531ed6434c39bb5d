// Package engineio is the Engine.IO v4 server: sessions, the HTTP
// long-polling and WebSocket transports, the upgrade between them, and the
// heartbeat. It is usable on its own (an Engine.IO echo server needs nothing
// else) and is the transport the Socket.IO server in package gateway runs on.
package engineio

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	eio "github.com/siogate/siogate/protocol/engineio"
)

// Config holds the Engine.IO options. The zero value gives the documented
// defaults; each field says its default. Option names follow
// python-engineio's where one exists.
//
// # HTTP server timeouts
//
// The http.Server that serves the engine should bound what a client that
// sends slowly, or not at all, can hold. With net/http's zero values a
// connection may idle, or trickle its headers, forever. Advice:
//
//   - ReadHeaderTimeout: a few seconds (10s).
//   - IdleTimeout: a minute or so; keep-alive between polling requests.
//   - ReadTimeout and WriteTimeout count from the start of a request to
//     the end of its body, and of its response, and a long-polling GET
//     lasts up to PingInterval (the ping ends it): set them to at least
//     PingInterval + 2×PingTimeout (65s with the defaults), or leave them
//     zero. Shorter, they cut long-polls: a read timeout ends the GET's
//     context, a write timeout fails its response.
//
// The engine sets its own deadline on a polling POST's body, PingTimeout
// (a body that never ends is cut, the session closed with
// ReasonTransportError, Stats.BodyTimeouts counted), and cuts it at once
// when the session ends. It does so through http.ResponseController: a
// middleware that wraps the ResponseWriter must let it through (an
// Unwrap method), or only the server's ReadTimeout bounds the body. None of the server's timeouts applies to a
// WebSocket: net/http clears the deadlines of the connection it hands
// over, the WebSocket handshake has its own 10s bound, and the heartbeat
// (PingInterval, PingTimeout) then closes a connection that goes silent.
// gateway/cmd/gateway's httpServer is a worked example.
type Config struct {
	// PingInterval is how often the server pings the client (default 25s).
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong before it
	// closes the session (default 20s).
	PingTimeout time.Duration
	// PingGrace is extra time added to PingTimeout on the server side only,
	// for clients on slow networks (python-engineio's ping_interval grace;
	// default 0).
	PingGrace time.Duration
	// MaxPayload is the largest HTTP request body or WebSocket message
	// accepted, in bytes (python's max_http_buffer_size; default 1,000,000).
	// Larger input closes the session.
	MaxPayload int
	// Transports lists the allowed transports, "polling" and "websocket"
	// (default both).
	Transports []string
	// DisableUpgrades turns off the polling→websocket upgrade
	// (python's allow_upgrades=False).
	DisableUpgrades bool
	// DisableCompression turns off gzip/deflate of long-polling responses
	// (python's http_compression=False).
	DisableCompression bool
	// WebSocketCompression turns on the permessage-deflate extension
	// (RFC 7692) with the WebSocket clients that offer it: browsers and
	// Node's ws do. Default off, as Node's perMessageDeflate. Each message
	// is compressed on its own (no context takeover either way), so a
	// broadcast is compressed once for all its sockets and idle
	// connections keep no compressor state; the cost is CPU for the
	// messages compressed and inflated.
	WebSocketCompression bool
	// CompressionThreshold is the smallest polling response, or WebSocket
	// message, compressed, in bytes (default 1024, Node's threshold for
	// both).
	CompressionThreshold int
	// Cookie, when set, is sent on the handshake response, polling or
	// WebSocket as in Node, with the session id as its value; its other
	// fields are the attributes. A Path left empty becomes "/", SameSite
	// left default becomes Lax. Default: no cookie.
	Cookie *http.Cookie
	// SessionCookie, when set, returns the cookie for a handshake request,
	// in place of Cookie: computed attributes (Domain, Secure...) per
	// request, or nil for no cookie. Its Value is replaced by the session
	// id and the defaults of Cookie apply.
	SessionCookie func(r *http.Request) *http.Cookie
	// CORSAllowedOrigins lists the origins allowed to connect. nil allows
	// only the server's own origin; "*" allows any. Requests from other
	// origins are refused with HTTP 400. An origin allowed by "*" alone
	// gets no Access-Control-Allow-Credentials (a browser then sends it no
	// cookies) unless CORSCredentialsWithAnyOrigin says otherwise.
	CORSAllowedOrigins []string
	// CORSCredentialsWithAnyOrigin sends Access-Control-Allow-Credentials
	// to origins allowed by "*" in CORSAllowedOrigins too: any web site
	// may then make its visitors' browsers connect with their cookies.
	// Default off; list the origins instead.
	CORSCredentialsWithAnyOrigin bool
	// TrustedProxies lists the addresses of the reverse proxies whose
	// X-Forwarded-Host and X-Forwarded-Proto headers are believed, by the
	// same-origin check of a nil CORSAllowedOrigins (and nowhere else).
	// Default none: the headers are ignored, since any client can send
	// them. Give a single address as a /32 (or /128) prefix.
	TrustedProxies []netip.Prefix
	// CORSAllowOrigin, when set, decides instead of CORSAllowedOrigins
	// whether a request's Origin is allowed (the origin function of Node's
	// cors options).
	CORSAllowOrigin func(r *http.Request, origin string) bool
	// DisableCORS turns CORS handling off entirely: no origin check and no
	// CORS headers (python's cors_allowed_origins=[]).
	DisableCORS bool
	// DisableCORSCredentials omits Access-Control-Allow-Credentials (python's
	// cors_credentials=False).
	DisableCORSCredentials bool
	// DisableMonitorClients stops closing sessions whose pong is late;
	// pings are still sent (python's monitor_clients=False).
	DisableMonitorClients bool
	// UpgradeTimeout bounds the time from a WebSocket upgrade request to its
	// upgrade packet (default 10s).
	UpgradeTimeout time.Duration
	// QueueLimit bounds each session's outbound queue, in packets
	// (default 4096). When a send would exceed it, the client is too slow
	// to keep up: the session is closed with ReasonTransportError.
	QueueLimit int
	// QueueBytes bounds each session's outbound data waiting to be
	// written, in payload bytes (default 1 MiB, Centrifugo's
	// client_queue_max_size): what is queued plus the batch a WebSocket
	// writer is blocked on. A send that would exceed it while something
	// is already waiting closes the session as QueueLimit does (a single
	// message larger than the budget still goes out when nothing waits
	// before it). On long-polling, the queue is what the next GET
	// collects.
	QueueBytes int
	// Logger receives Engine.IO logs (python's engineio_logger). nil
	// discards them.
	Logger *slog.Logger
	// RefusalLogLevel is the level at which refused requests are logged
	// (python's engineio_logger explains its 400s): each line gives the
	// cause, the status, the detail and the remote address, at most one
	// line per cause a second with the count of refusals not logged since
	// the previous one. Default slog.LevelInfo (the zero value).
	RefusalLogLevel slog.Level
	// GenerateID returns new session ids (default: 20 random URL-safe
	// base64 characters).
	GenerateID func() string
	// AllowRequest, when set, is asked about every handshake request, of
	// either transport, before a session is made (Node's allowRequest).
	// It may block: r carries the request's context. A nil error lets the
	// handshake go on; an *Error refuses it with its code and message, any
	// other error with CodeForbidden (HTTP 403) and the error's text as
	// the message.
	AllowRequest func(r *http.Request) error
	// InitialHeaders, when set, may add headers to a handshake response,
	// polling or WebSocket (Node's "initial_headers" event).
	InitialHeaders func(r *http.Request, h http.Header)
	// Headers, when set, may add headers to every polling response and
	// WebSocket upgrade response, handshakes included (Node's "headers"
	// event). It runs after InitialHeaders.
	Headers func(r *http.Request, h http.Header)
}

func (c Config) withDefaults() Config {
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 1_000_000
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{eio.Polling, eio.WebSocket}
	}
	if c.CompressionThreshold <= 0 {
		c.CompressionThreshold = 1024
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if c.QueueLimit <= 0 {
		c.QueueLimit = 4096
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.GenerateID == nil {
		c.GenerateID = newID
	}
	return c
}

func (c *Config) allows(transport string) bool {
	for _, t := range c.Transports {
		if t == transport {
			return true
		}
	}
	return false
}
