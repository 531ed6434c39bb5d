package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
)

// countingCodec is a JSONCodec counting its calls.
type countingCodec struct{ marshal, unmarshal, valid atomic.Int64 }

func (c *countingCodec) Marshal(v any) ([]byte, error) {
	c.marshal.Add(1)
	return json.Marshal(v)
}

func (c *countingCodec) Unmarshal(data []byte, v any) error {
	c.unmarshal.Add(1)
	return json.Unmarshal(data, v)
}

func (c *countingCodec) Valid(data []byte) bool {
	c.valid.Add(1)
	return json.Valid(data)
}

type pair struct{ A, B int }

func TestJSONCodecUsed(t *testing.T) {
	c := &countingCodec{}
	p, err := NewEventWith(c, "/", "ev", []any{"fast path", 1, pair{1, 2}, map[string]int{"typed": 3}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.marshal.Load(); got != 2 {
		t.Errorf("Marshal called %d times, want 2 (struct and typed map)", got)
	}
	if string(p.Data) != `["ev","fast path",1,{"A":1,"B":2},{"typed":3}]` {
		t.Errorf("data %s", p.Data)
	}
	ack, err := NewAckWith(c, "/", 3, []any{pair{5, 6}})
	if err != nil || string(ack.Data) != `[{"A":5,"B":6}]` || c.marshal.Load() != 3 {
		t.Errorf("ack %s, %v, %d marshals", ack.Data, err, c.marshal.Load())
	}

	// Decoding: the codec set on Args, also through Slice and attachments.
	_, args, err := EventName(&p)
	if err != nil {
		t.Fatal(err)
	}
	args = args.WithJSON(c)
	var x pair
	if err := args.Decode(2, &x); err != nil || x != (pair{1, 2}) {
		t.Fatalf("decode %v %v", x, err)
	}
	if c.unmarshal.Load() != 1 {
		t.Errorf("Unmarshal called %d times, want 1", c.unmarshal.Load())
	}
	var s string
	if err := args.Slice(0).Decode(0, &s); err != nil || s != "fast path" || c.unmarshal.Load() != 2 {
		t.Errorf("Slice lost the codec: %q %v %d", s, err, c.unmarshal.Load())
	}
	bin, err := NewEventWith(c, "/", "b", []any{map[string]any{"blob": []byte{1}}})
	if err != nil {
		t.Fatal(err)
	}
	_, bargs, _ := EventName(&bin)
	var withBlob struct{ Blob []byte }
	if err := bargs.WithJSON(c).Decode(0, &withBlob); err != nil || !bytes.Equal(withBlob.Blob, []byte{1}) || c.unmarshal.Load() != 3 {
		t.Errorf("binary decode %v %v %d", withBlob, err, c.unmarshal.Load())
	}

	// A codec error surfaces.
	if _, err := NewEventWith(failingCodec{}, "/", "ev", []any{pair{}}); err == nil {
		t.Error("marshal error swallowed")
	}

	// The parser's decoder validates with the codec's Valid method.
	d := JSONParser{JSON: c}.NewDecoder(Limits{})
	if _, err := d.Add([]byte(`2["ev",{"a":1}]`), false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Add([]byte(`2["ev",{"a":}]`), false); !errors.Is(err, ErrInvalidPacket) {
		t.Errorf("invalid JSON accepted: %v", err)
	}
	if c.valid.Load() != 2 {
		t.Errorf("Valid called %d times, want 2", c.valid.Load())
	}
}

type failingCodec struct{}

func (failingCodec) Marshal(any) ([]byte, error) { return nil, errors.New("no") }
func (failingCodec) Unmarshal([]byte, any) error { return errors.New("no") }

func TestJSONParser(t *testing.T) {
	p, err := NewEvent("/chat", "ev", []any{"x", []byte{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	p.HasID, p.ID = true, 4
	var parser Parser = ParserOrDefault(nil, nil)
	msgs, err := parser.Encode(&p)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Binary || string(msgs[0].Data) != `51-/chat,4["ev","x",{"_placeholder":true,"num":0}]` ||
		!msgs[1].Binary || !bytes.Equal(msgs[1].Data, []byte{1, 2}) {
		t.Fatalf("messages %+v", msgs)
	}
	d := parser.NewDecoder(Limits{MaxAttachments: 1, MaxBytes: 2})
	var got *Packet
	for _, m := range msgs {
		if got, err = d.Add(m.Data, m.Binary); err != nil {
			t.Fatal(err)
		}
	}
	if got == nil || got.Type != BinaryEvent || got.ID != 4 || got.Namespace != "/chat" || len(got.Attachments) != 1 {
		t.Fatalf("decoded %+v", got)
	}
	d = parser.NewDecoder(Limits{MaxBytes: 1})
	_, _ = d.Add(msgs[0].Data, false)
	if _, err := d.Add(msgs[1].Data, true); !errors.Is(err, ErrTooManyAttachments) {
		t.Errorf("MaxBytes not applied: %v", err)
	}
	if ParserOrDefault(JSONParser{JSON: StdJSON{}}, nil) != (JSONParser{JSON: StdJSON{}}) {
		t.Error("ParserOrDefault replaced a parser")
	}
}
