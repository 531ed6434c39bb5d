package engineio

import (
	"testing"
)

const benchEvent = `2["chat",{"text":"hello world","n":1}]`

func benchPackets() []Packet {
	ps := make([]Packet, 10)
	for i := range ps {
		ps[i] = Packet{Type: Message, Data: []byte(benchEvent)}
	}
	ps[9] = Packet{Type: Message, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Binary: true}
	return ps
}

func BenchmarkDecodeFrameText(b *testing.B) {
	frame := []byte("4" + benchEvent)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := DecodeFrame(frame, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendText(b *testing.B) {
	data := []byte(benchEvent)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendText(buf[:0], Message, data)
	}
}

// 10 packets: nine text events and one small binary message.
func BenchmarkDecodePayload10(b *testing.B) {
	body := AppendPayload(nil, benchPackets())
	n := 0
	fn := func(Packet) error { n++; return nil }
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := DecodePayload(body, fn); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendPayload10(b *testing.B) {
	ps := benchPackets()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPayload(buf[:0], ps)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendPayload10Fresh(b *testing.B) {
	ps := benchPackets()
	b.ReportAllocs()
	for b.Loop() {
		_ = AppendPayload(nil, ps)
	}
}
