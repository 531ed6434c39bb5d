package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/lxzan/gws"
)

// wsDialer returns the dialer of a WebSocket: d itself, or a tunnel
// through the HTTP proxy that the HTTP client's transport picks for the
// server's URL (the same choice as for long-polling requests).
func (c *engineConfig) wsDialer(d ctxDialer, timeout time.Duration) (gws.Dialer, error) {
	if c.proxy == nil {
		return d, nil
	}
	target := *c.base // http or https: what the transport's Proxy expects
	proxyURL, err := c.proxy(&http.Request{Method: http.MethodGet, URL: &target, Header: http.Header{}})
	if err != nil {
		return nil, fmt.Errorf("choosing a proxy: %w", err)
	}
	if proxyURL == nil {
		return d, nil
	}
	switch proxyURL.Scheme {
	case "http", "https":
	default:
		return nil, fmt.Errorf("unsupported proxy scheme %q for websocket", proxyURL.Scheme)
	}
	return &connectDialer{direct: d, proxy: proxyURL, header: c.proxyConnectHeader, timeout: timeout}, nil
}

// connectDialer opens a TCP tunnel with an HTTP CONNECT request.
type connectDialer struct {
	direct  ctxDialer
	proxy   *url.URL
	header  http.Header
	timeout time.Duration
}

// Dial connects to the proxy and asks it for a tunnel to addr.
func (p *connectDialer) Dial(network, addr string) (net.Conn, error) {
	ctx := p.direct.ctx
	proxyAddr := p.proxy.Host
	if p.proxy.Port() == "" {
		port := "80"
		if p.proxy.Scheme == "https" {
			port = "443"
		}
		proxyAddr = net.JoinHostPort(p.proxy.Hostname(), port)
	}
	conn, err := p.direct.Dial(network, proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("dialing proxy %s: %w", proxyAddr, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = conn.Close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(p.timeout))

	if p.proxy.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: p.proxy.Hostname()})
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("proxy tls: %w", err)
		}
		conn = tc
	}

	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: http.Header{},
	}
	for k, v := range p.header {
		req.Header[k] = append([]string(nil), v...)
	}
	if u := p.proxy.User; u != nil {
		pw, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
	}
	if err := req.Write(conn); err != nil {
		return nil, fmt.Errorf("proxy CONNECT: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("proxy CONNECT: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("proxy CONNECT %s: %s", addr, resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	ok = true
	if br.Buffered() > 0 { // bytes of the tunnel already read
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn reads what a bufio.Reader holds before the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads the buffered bytes first, then the connection.
func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
