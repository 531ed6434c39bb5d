package engineio

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
)

// requestSnapshot keeps what a session's handshake request says, in a few
// strings rather than an *http.Request: a request's header map and URL
// cost about 1 KiB for every open connection, most of which never ask
// for them again. Request rebuilds an *http.Request on demand.
type requestSnapshot struct {
	method, uri, proto, host, remote string
	major, minor                     int
	// header holds the header fields as "Key\x00value\n" lines, in one
	// allocation (field values cannot hold a NUL or a newline).
	header string
	tls    *tls.ConnectionState
}

func snapshotRequest(r *http.Request) requestSnapshot {
	n := 0
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 2
		}
	}
	var b strings.Builder
	b.Grow(n)
	for k, vs := range r.Header {
		for _, v := range vs {
			b.WriteString(k)
			b.WriteByte(0)
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	uri := r.RequestURI
	if uri == "" && r.URL != nil {
		uri = r.URL.RequestURI()
	}
	return requestSnapshot{
		method: r.Method, uri: uri, proto: r.Proto, host: r.Host, remote: r.RemoteAddr,
		major: r.ProtoMajor, minor: r.ProtoMinor, header: b.String(), tls: r.TLS,
	}
}

// request returns a new *http.Request equal to the snapshot (no body, a
// background context).
func (s *requestSnapshot) request() *http.Request {
	u, err := url.ParseRequestURI(s.uri)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	h := make(http.Header, strings.Count(s.header, "\n"))
	for rest := s.header; rest != ""; {
		line, tail, _ := strings.Cut(rest, "\n")
		rest = tail
		k, v, _ := strings.Cut(line, "\x00")
		h[k] = append(h[k], v)
	}
	// No context set: Context() is context.Background().
	return &http.Request{
		Method: s.method, URL: u, Proto: s.proto, ProtoMajor: s.major, ProtoMinor: s.minor,
		Header: h, Body: http.NoBody, Host: s.host, RemoteAddr: s.remote, RequestURI: s.uri, TLS: s.tls,
	}
}
