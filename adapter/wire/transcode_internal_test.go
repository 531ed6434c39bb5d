package wire

import "testing"

// The JSON is written from the msgpack bytes for ordinary packets, and
// left to the generic decoder for extension types and keys that are not
// strings (TestBroadcastHeadEvent checks both give the same packets).
func TestTranscodeTaken(t *testing.T) {
	for _, c := range []struct {
		data any
		fast bool
	}{
		{[]any{"ev", 1, "s", []byte{1}, map[string]any{"a": []any{1.5, nil, true}}}, true},
		{[]any{"ev"}, true},
		{[]any{"ev", map[int]any{1: 2}}, false},
		{[]any{"ev", map[string]any{"d": map[any]any{true: 1}}}, false},
	} {
		b, err := marshalMsgpack(map[string]any{"type": 2, "data": c.data, "nsp": "/x"})
		if err != nil {
			t.Fatal(err)
		}
		nsp, _, ok := transcodePacket(b)
		if ok != c.fast || ok && nsp != "/x" {
			t.Errorf("%v: transcoded %v (nsp %q), want %v", c.data, ok, nsp, c.fast)
		}
	}
}
