package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

var payloadSeeds = []string{
	specOpen,
	"4hello\x1e2\x1e4world",
	"4hello\x1ebAQIDBA==",
	"42[\"hello\"]\x1e42[\"world\"]",
	"40",
	"40{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
	"451-[\"x\",{\"_placeholder\":true,\"num\":0}]\x1ebAQIDBA==",
	"42/admin,12[\"ev\",{\"a\":[1,2]}]",
	"2probe",
	"3probe",
	"5",
	"6",
	"1",
	"b",
	"",
	"\x1e",
	"4a\x1e",
	"b!!",
	"bAQ\nID",
	"7",
}

// FuzzDecodePayload: DecodePayload never panics, and whatever it accepts
// re-encodes into a payload that decodes to the same packets.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		var ps []Packet
		err := DecodePayload(body, func(p Packet) error {
			if p.Type > Noop {
				t.Fatalf("decoded type %d out of range", p.Type)
			}
			if p.Binary && p.Type != Message {
				t.Fatalf("binary packet of type %v", p.Type)
			}
			if !p.Binary && bytes.IndexByte(p.Data, RecordSeparator) >= 0 {
				t.Fatalf("text packet data holds a separator: %q", p.Data)
			}
			ps = append(ps, p)
			return nil
		})
		if !bytes.Equal(body, orig) {
			t.Fatalf("DecodePayload modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(ps) == 0 {
			t.Fatalf("accepted %q with no packets", body)
		}
		enc := AppendPayload(nil, ps)
		want := len(ps) - 1
		for _, p := range ps {
			want += RecordLen(p)
		}
		if len(enc) != want {
			t.Fatalf("encoded %d bytes, RecordLen says %d", len(enc), want)
		}
		again, err := decodeAll(enc)
		if err != nil {
			t.Fatalf("re-encoded payload %q does not decode: %v", enc, err)
		}
		if len(again) != len(ps) {
			t.Fatalf("re-decoded %d packets, want %d", len(again), len(ps))
		}
		for i := range ps {
			if !samePacket(ps[i], again[i]) {
				t.Fatalf("packet %d: %s after round trip, was %s", i, fmtPacket(again[i]), fmtPacket(ps[i]))
			}
		}
		// A payload the codec produced is canonical: encoding it once more
		// is the identity.
		if enc2 := AppendPayload(nil, again); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %q then %q", enc, enc2)
		}
	})
}

// FuzzDecodeFrame: DecodeFrame never panics; text frames round-trip byte for
// byte, and every accepted packet survives a trip through a polling payload.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte{1, 2, 3, 4}, true)
	f.Add([]byte{}, true)
	f.Add([]byte("4hello"), true)
	f.Fuzz(func(t *testing.T, frame []byte, binary bool) {
		p, err := DecodeFrame(frame, binary)
		if err != nil {
			if binary || !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("DecodeFrame(%q, %v): unexpected error %v", frame, binary, err)
			}
			return
		}
		if p.Binary != binary {
			t.Fatalf("Binary = %v for a frame with binary=%v", p.Binary, binary)
		}
		if binary {
			if p.Type != Message || !bytes.Equal(p.Data, frame) {
				t.Fatalf("binary frame decoded to %s", fmtPacket(p))
			}
			enc := AppendRecord(nil, p)
			if string(enc) != "b"+base64.StdEncoding.EncodeToString(frame) {
				t.Fatalf("AppendRecord = %q", enc)
			}
		} else if enc := AppendText(nil, p.Type, p.Data); !bytes.Equal(enc, frame) {
			t.Fatalf("AppendText = %q, want %q", enc, frame)
		}
		// Over polling: only packets without a separator in their data fit.
		if !binary && bytes.IndexByte(p.Data, RecordSeparator) >= 0 {
			return
		}
		got, err := decodeAll(AppendRecord(nil, p))
		if err != nil || len(got) != 1 || !samePacket(got[0], p) {
			t.Fatalf("polling round trip of %s = %v, %v", fmtPacket(p), got, err)
		}
	})
}
