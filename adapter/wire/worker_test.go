package wire

import (
	"bytes"
	"testing"
)

func TestWorkerEventRoundTrip(t *testing.T) {
	in := &WorkerEvent{
		ID: "n1-7", Node: "n1", Nsp: "/chat", SID: "s1", Event: "upload",
		Args:  []any{"name", map[string]any{"blob": []byte{0, 1, 2}, "n": 3}, []any{true, nil, 1.5}},
		Data:  map[string]any{"user": "u1", "roles": []any{"a"}},
		AckID: 4, HasAck: true, Deadline: 1700000000000,
	}
	raw, err := EncodeWorkerEvent(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeWorkerEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.Node != in.Node || out.Nsp != in.Nsp || out.SID != in.SID || out.Event != in.Event ||
		out.AckID != 4 || !out.HasAck || out.Deadline != in.Deadline {
		t.Fatalf("got %+v", out)
	}
	m, _ := out.Args[1].(map[string]any)
	if b, _ := m["blob"].([]byte); !bytes.Equal(b, []byte{0, 1, 2}) || m["n"] != int64(3) {
		t.Fatalf("binary or integer argument changed: %#v", out.Args[1])
	}
	if d, _ := out.Data.(map[string]any); d["user"] != "u1" {
		t.Fatalf("data %#v", out.Data)
	}
	if _, err := DecodeWorkerEvent([]byte("{}")); err == nil {
		t.Fatal("a JSON object decoded as an event")
	}
}

func TestWorkerReplyOnRequestChannel(t *testing.T) {
	raw, err := EncodeWorkerReply(&WorkerReply{Node: "n1", EventID: "n1-7", Args: []any{"ok", []byte{9}}})
	if err != nil {
		t.Fatal(err)
	}
	// Every receiver of the request channel first decodes a request: the
	// reply must read as one of type TypeWorkerReply from the emitter.
	r, err := DecodeRequest(raw)
	if err != nil || r.Type != TypeWorkerReply || r.UID != EmitterUID {
		t.Fatalf("as a request: %+v, %v", r, err)
	}
	rep, err := DecodeWorkerReply(raw)
	if err != nil || rep.Node != "n1" || rep.EventID != "n1-7" || len(rep.Args) != 2 || rep.Error != "" {
		t.Fatalf("reply %+v, %v", rep, err)
	}
	if b, _ := rep.Args[1].([]byte); !bytes.Equal(b, []byte{9}) {
		t.Fatalf("binary answer %#v", rep.Args[1])
	}
	bad, _ := EncodeRequest(&Request{Type: TypeBroadcast})
	if _, err := DecodeWorkerReply(bad); err == nil {
		t.Fatal("a broadcast request decoded as a worker reply")
	}
}
