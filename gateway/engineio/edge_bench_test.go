package engineio_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/siogate/siogate/gateway/engineio"
)

// BenchmarkEchoUTF8 measures the cost of checking that received text is
// UTF-8: one raw WebSocket client sends message packets that the server
// echoes, with gws's check on (the server's setting) and off. ns/op is
// one message received, checked, decoded and echoed, server and client
// together, with up to 64 in flight.
func BenchmarkEchoUTF8(b *testing.B) {
	payloads := []struct {
		name string
		data string
	}{
		{"ascii-2KB", string(chatPayload())},
		{"multibyte-2KB", `2["chat","` + strings.Repeat("日本語のテキスト、絵文字 🎉 ", 60) + `"]`},
		{"ascii-64KB", strings.Repeat("0123456789abcdef", 4096)},
	}
	for _, p := range payloads {
		for _, check := range []bool{false, true} {
			name := p.name + "/check=off"
			if check {
				name = p.name + "/check=on"
			}
			b.Run(name, func(b *testing.B) { benchEcho(b, check, []byte("4"+p.data)) })
		}
	}
}

func benchEcho(b *testing.B, check bool, msg []byte) {
	s := newServer(b, engineio.Config{QueueBytes: 64 << 20})
	engineio.SetUTF8Check(s.srv, check)
	c := dialRaw(b, s, "")
	c.open(b)
	_ = c.conn.SetDeadline(time.Time{})
	t := &tally{}
	t.cond.L = &t.mu
	go t.drain(c.br)
	frame := maskedFrame(0x81, msg) // a final text frame
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.conn.Write(frame); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			t.wait(i - 63)
		}
	}
	t.wait(b.N)
}

// BenchmarkUTF8Valid is the check alone, on the payloads of
// BenchmarkEchoUTF8: what it adds to each text message received.
func BenchmarkUTF8Valid(b *testing.B) {
	for _, p := range []struct {
		name string
		data []byte
	}{
		{"ascii-2KB", chatPayload()},
		{"multibyte-2KB", []byte(`2["chat","` + strings.Repeat("日本語のテキスト、絵文字 🎉 ", 60) + `"]`)},
		{"ascii-64KB", []byte(strings.Repeat("0123456789abcdef", 4096))},
	} {
		b.Run(p.name, func(b *testing.B) {
			b.SetBytes(int64(len(p.data)))
			for range b.N {
				if !utf8.Valid(p.data) {
					b.Fatal("not UTF-8")
				}
			}
		})
	}
}
