package socketio

import (
	"encoding/json"
	"strings"
	"testing"
)

var validSeeds = []string{
	``, ` `, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`, `-12.5e+3`, `.5`, `+1`,
	`"`, `""`, `"a\"b"`, `"\u00e9\uD83D\uDE00"`, `"\u12"`, `"\x"`, "\"a\tb\"", "\"\x01\"", "\"é\xff\"",
	`true`, `tru`, `false`, `null`, `nul`, `nullx`, `[]`, `[ ]`, `[,]`, `[1,]`, `[1 2]`, `[1,2]`,
	`{}`, `{ }`, `{"a":1}`, `{"a" : [1, {"b":null}] , "c":"d"}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1,}`,
	`[[[]]]`, `[[]`, `[]]`, `{"a":1}}`, ` [1] `, "\t\r\n[1]\n", `1 2`, `[1]x`,
	`["echo",{"_placeholder":true,"num":0},"héllo",[1,2,{"x":-1.5e3}]]`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

func TestValidJSON(t *testing.T) {
	for _, s := range validSeeds {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%.60q) = %v, json.Valid says %v", s, got, want)
		}
	}
}

// FuzzValidJSON: the packet validator agrees with encoding/json.Valid on
// every input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range validSeeds {
		if len(s) < 1000 {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

var benchValidInput = []byte(`["echo",{"id":42,"text":"hello, world","tags":["a","b"],"n":-1.5e3,"ok":true,"none":null}]`)

func BenchmarkValidJSON(b *testing.B) {
	b.SetBytes(int64(len(benchValidInput)))
	for b.Loop() {
		if !validJSON(benchValidInput) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkValidJSONStdlib(b *testing.B) {
	b.SetBytes(int64(len(benchValidInput)))
	for b.Loop() {
		if !json.Valid(benchValidInput) {
			b.Fatal("invalid")
		}
	}
}

// FuzzPlainString: the event name fast path gives what encoding/json
// gives, whenever it takes the token.
func FuzzPlainString(f *testing.F) {
	for _, s := range []string{`"echo"`, `"héllo"`, `"a\"b"`, `"\u0041"`, "\"\xff\"", `""`, `"`, `x`, "\"a\x01\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := plainString(raw)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("plainString took %q, which encoding/json refuses: %v", raw, err)
		}
		if got != want {
			t.Fatalf("plainString(%q) = %q, encoding/json gives %q", raw, got, want)
		}
	})
}
