package engineio

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"
)

// The open packet of the spec's sample session.
const specOpen = `0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}`

func TestAppendOpenSpecExample(t *testing.T) {
	h := Handshake{
		SID:          "lv_VI97HAXpY6yYWAAAC",
		Upgrades:     []string{"websocket"},
		PingInterval: 25000,
		PingTimeout:  5000,
		MaxPayload:   1000000,
	}
	if got := string(AppendOpen(nil, h)); got != specOpen {
		t.Fatalf("AppendOpen =\n%s\nwant\n%s", got, specOpen)
	}
}

func TestAppendOpenNilUpgrades(t *testing.T) {
	got := AppendOpen([]byte("x"), Handshake{SID: "s"})
	want := `x0{"sid":"s","upgrades":[],"pingInterval":0,"pingTimeout":0,"maxPayload":0}`
	if string(got) != want {
		t.Fatalf("AppendOpen = %s, want %s (upgrades must be an array, never null)", got, want)
	}
}

func TestAppendOpenEscapesSID(t *testing.T) {
	h := Handshake{SID: "a\"b\\c\n", Upgrades: []string{}}
	enc := AppendOpen(nil, h)
	p, err := DecodeFrame(enc, false)
	if err != nil || p.Type != Open {
		t.Fatalf("DecodeFrame(%q) = %v, %v", enc, p, err)
	}
	got, err := ParseOpen(p.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got.SID != h.SID {
		t.Fatalf("sid = %q, want %q", got.SID, h.SID)
	}
}

func TestParseOpen(t *testing.T) {
	p, err := DecodeFrame([]byte(specOpen), false)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != Open {
		t.Fatalf("type = %v, want open", p.Type)
	}
	h, err := ParseOpen(p.Data)
	if err != nil {
		t.Fatal(err)
	}
	want := Handshake{SID: "lv_VI97HAXpY6yYWAAAC", Upgrades: []string{"websocket"}, PingInterval: 25000, PingTimeout: 5000, MaxPayload: 1000000}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("ParseOpen = %+v, want %+v", h, want)
	}
	if d := h.PingIntervalDuration(); d != 25*time.Second {
		t.Errorf("PingIntervalDuration = %v", d)
	}
	if d := h.PingTimeoutDuration(); d != 5*time.Second {
		t.Errorf("PingTimeoutDuration = %v", d)
	}
	// The spec's pretty-printed example parses too.
	pretty := `{
  "sid": "lv_VI97HAXpY6yYWAAAC",
  "upgrades": ["websocket"],
  "pingInterval": 25000,
  "pingTimeout": 20000,
  "maxPayload": 1000000
}`
	h, err = ParseOpen([]byte(pretty))
	if err != nil {
		t.Fatal(err)
	}
	if h.PingTimeoutDuration() != 20*time.Second || h.MaxPayload != 1000000 {
		t.Errorf("ParseOpen(pretty) = %+v", h)
	}
}

func TestParseOpenInvalid(t *testing.T) {
	for _, data := range []string{
		``,
		`{`,
		`null`,
		`[]`,
		`{}`,
		`{"sid":""}`,
		`{"sid":1}`,
		`{"sid":"x","pingInterval":"25000"}`,
		`{"sid":"x","upgrades":"websocket"}`,
	} {
		if _, err := ParseOpen([]byte(data)); err == nil {
			t.Errorf("ParseOpen(%q) succeeded, want an error", data)
		}
	}
}

func TestHandshakeRoundTrip(t *testing.T) {
	for _, h := range []Handshake{
		{SID: "abc", Upgrades: []string{}, PingInterval: 1, PingTimeout: 2, MaxPayload: 3},
		{SID: "lv_VI97HAXpY6yYWAAAC", Upgrades: []string{"websocket"}, PingInterval: 25000, PingTimeout: 20000, MaxPayload: 1e6},
		{SID: "日本", Upgrades: []string{"websocket", "webtransport"}, PingInterval: 1 << 40},
	} {
		enc := AppendOpen(nil, h)
		if !json.Valid(enc[1:]) {
			t.Fatalf("AppendOpen gave invalid JSON: %s", enc)
		}
		got, err := ParseOpen(enc[1:])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Errorf("round trip = %+v, want %+v", got, h)
		}
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		query string
		want  Query
		err   error
	}{
		{"EIO=4&transport=polling", Query{EIO: 4, Transport: Polling}, nil},
		{"EIO=4&transport=websocket", Query{EIO: 4, Transport: WebSocket}, nil},
		{"EIO=4&transport=polling&t=N8hyd6w", Query{EIO: 4, Transport: Polling}, nil},
		{"EIO=4&transport=polling&t=N8hyd7H&sid=lv_VI97HAXpY6yYWAAAC", Query{EIO: 4, Transport: Polling, SID: "lv_VI97HAXpY6yYWAAAC"}, nil},
		{"EIO=4&transport=websocket&sid=lv_VI97HAXpY6yYWAAAC", Query{EIO: 4, Transport: WebSocket, SID: "lv_VI97HAXpY6yYWAAAC"}, nil},
		{"transport=polling&EIO=4&sid=a%2Bb", Query{EIO: 4, Transport: Polling, SID: "a+b"}, nil},

		{"transport=polling", Query{}, ErrBadVersion},
		{"EIO=&transport=polling", Query{}, ErrBadVersion},
		{"EIO=3&transport=polling", Query{}, ErrBadVersion},
		{"EIO=5&transport=polling", Query{}, ErrBadVersion},
		{"EIO=four&transport=polling", Query{}, ErrBadVersion},
		{"EIO=4.0&transport=polling", Query{}, ErrBadVersion},
		{"EIO=99999999999999999999&transport=polling", Query{}, ErrBadVersion},

		{"EIO=4", Query{}, ErrBadTransport},
		{"EIO=4&transport=", Query{}, ErrBadTransport},
		{"EIO=4&transport=flashsocket", Query{}, ErrBadTransport},
		{"EIO=4&transport=WebSocket", Query{}, ErrBadTransport},
		{"EIO=4&transport=webtransport", Query{}, ErrBadTransport},

		// A bad version is reported before a bad transport.
		{"", Query{}, ErrBadVersion},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseQuery(q)
		if !errors.Is(err, tt.err) {
			t.Errorf("ParseQuery(%q) error = %v, want %v", tt.query, err, tt.err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseQuery(%q) = %+v, want %+v", tt.query, got, tt.want)
		}
	}
}

// AppendOpen writes what encoding/json writes for the same handshake.
func TestAppendOpenMatchesEncodingJSON(t *testing.T) {
	for _, h := range []Handshake{
		{SID: "lv_VI97HAXpY6yYWAAAC", Upgrades: []string{"websocket"}, PingInterval: 25000, PingTimeout: 20000, MaxPayload: 1000000},
		{SID: `we"ird\` + "\x01", Upgrades: nil, PingInterval: 0, PingTimeout: -1, MaxPayload: 1 << 40},
		{SID: "s", Upgrades: []string{"websocket", "polling"}},
	} {
		want := h
		if want.Upgrades == nil {
			want.Upgrades = []string{}
		}
		b, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(AppendOpen(nil, h)); got != "0"+string(b) {
			t.Errorf("AppendOpen = %s\nwant       0%s", got, b)
		}
	}
}

func BenchmarkAppendOpen(b *testing.B) {
	h := Handshake{SID: "lv_VI97HAXpY6yYWAAAC", Upgrades: []string{"websocket"}, PingInterval: 25000, PingTimeout: 20000, MaxPayload: 1000000}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendOpen(buf[:0], h)
	}
}
