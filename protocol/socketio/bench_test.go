package socketio

import (
	"testing"
)

const (
	benchEvent    = `2["chat",{"text":"hello world","n":1}]`
	benchEventAck = `2/chat,12["chat",{"text":"hello world","n":1}]`
)

func benchParse(b *testing.B, text string) {
	data := []byte(text)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEvent(b *testing.B)    { benchParse(b, benchEvent) }
func BenchmarkParseEventAck(b *testing.B) { benchParse(b, benchEventAck) }

// Decoder.Add, EventName and decoding the argument: what a server does per
// received event.
func BenchmarkDecodeEventArgs(b *testing.B) {
	data := []byte(benchEvent)
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		p, err := d.Add(data, false)
		if err != nil {
			b.Fatal(err)
		}
		_, args, err := EventName(p)
		if err != nil {
			b.Fatal(err)
		}
		var m chatMsg
		if err := args.Decode(0, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	args := []any{map[string]any{"text": "hello world", "n": 1}}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		p, err := NewEvent("/", "chat", args)
		if err != nil {
			b.Fatal(err)
		}
		buf = Append(buf[:0], &p)
	}
}

func BenchmarkEncodeEventAck(b *testing.B) {
	args := []any{map[string]any{"text": "hello world", "n": 1}}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		p, err := NewEvent("/chat", "chat", args)
		if err != nil {
			b.Fatal(err)
		}
		p.HasID, p.ID = true, 12
		buf = Append(buf[:0], &p)
	}
}

// Append alone, on a prebuilt packet.
func BenchmarkAppendPacket(b *testing.B) {
	p, _, err := Parse([]byte(benchEventAck))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], &p)
	}
}

var attachment64K = func() []byte {
	a := make([]byte, 64<<10)
	for i := range a {
		a[i] = byte(i)
	}
	return a
}()

const benchBinaryEvent = `51-["upload",{"name":"a.bin","data":{"_placeholder":true,"num":0}}]`

func BenchmarkDecodeBinaryEvent64K(b *testing.B) {
	text := []byte(benchBinaryEvent)
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(text) + len(attachment64K)))
	for b.Loop() {
		if _, err := d.Add(text, false); err != nil {
			b.Fatal(err)
		}
		p, err := d.Add(attachment64K, true)
		if err != nil || p == nil {
			b.Fatal(p, err)
		}
	}
}

// Receiving the 64 KiB upload and decoding it into a struct.
func BenchmarkDecodeBinaryEvent64KArgs(b *testing.B) {
	text := []byte(benchBinaryEvent)
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(text) + len(attachment64K)))
	for b.Loop() {
		if _, err := d.Add(text, false); err != nil {
			b.Fatal(err)
		}
		p, err := d.Add(attachment64K, true)
		if err != nil {
			b.Fatal(err)
		}
		_, args, err := EventName(p)
		if err != nil {
			b.Fatal(err)
		}
		var f struct {
			Name string `json:"name"`
			Data []byte `json:"data"`
		}
		if err := args.Decode(0, &f); err != nil || len(f.Data) != len(attachment64K) {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBinaryEvent64K(b *testing.B) {
	args := []any{map[string]any{"name": "a.bin", "data": attachment64K}}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		p, err := NewEvent("/", "upload", args)
		if err != nil {
			b.Fatal(err)
		}
		buf = Append(buf[:0], &p)
	}
}

func BenchmarkArgsDecodeStruct(b *testing.B) {
	args, err := ParseArgs([]byte(`[{"text":"hello world","n":1}]`), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var m chatMsg
		if err := args.Decode(0, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEventMap(b *testing.B) {
	args := []any{map[string]any{"text": "hello world", "n": 1}}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, _, err = AppendEvent(buf[:0], "chat", args)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEventScalars(b *testing.B) {
	args := []any{"hello world", 1, true, 2.5, nil}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, _, err = AppendEvent(buf[:0], "chat", args)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEventStruct(b *testing.B) {
	args := []any{chatMsg{Text: "hello world", N: 1}}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, _, err = AppendEvent(buf[:0], "chat", args)
		if err != nil {
			b.Fatal(err)
		}
	}
}
