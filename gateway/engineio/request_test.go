package engineio

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// TestRequestSnapshot: the compact snapshot of a handshake request gives
// back its method, URL, headers (several values, odd characters), host,
// remote address and TLS state, with no body and a background context.
func TestRequestSnapshot(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/engine.io/?EIO=4&transport=polling&q=a%20b&q=c", nil)
	r.Header.Set("User-Agent", "test: agent/1.0 (x; y)")
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two, three")
	r.Header.Set("Cookie", "a=1; b=2")
	r.Header.Set("X-Empty", "")
	r.RemoteAddr = "127.0.0.1:4242"
	r.TLS = &tls.ConnectionState{ServerName: "example.test"}

	snap := snapshotRequest(r)
	got := snap.request()
	if !reflect.DeepEqual(got.Header, r.Header) {
		t.Errorf("header %v, want %v", got.Header, r.Header)
	}
	if got.Method != r.Method || got.Host != r.Host || got.RemoteAddr != r.RemoteAddr || got.RequestURI != r.RequestURI || got.Proto != r.Proto {
		t.Errorf("request line or peer differ: %+v", got)
	}
	if got.URL.String() != r.URL.String() || got.URL.Query().Get("q") != "a b" || len(got.URL.Query()["q"]) != 2 {
		t.Errorf("URL %v, want %v", got.URL, r.URL)
	}
	if got.TLS != r.TLS {
		t.Error("TLS state lost")
	}
	if got.Body != http.NoBody || got.Context().Err() != nil {
		t.Error("want no body and a background context")
	}
	got.Header.Set("X-Multi", "changed")
	if snap.request().Header.Get("X-Multi") != "one" {
		t.Error("a change to one copy reached the next")
	}
}
