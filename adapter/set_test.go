package adapter

import (
	"maps"
	"slices"
	"testing"
)

// FuzzSet checks set against a map doing the same adds and deletes: each
// input byte is an operation on one of four members (two of them equal
// to the zero value's fields: "" and a one-byte name).
func FuzzSet(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 0x10, 0x11, 0x12, 0x13})
	f.Add([]byte{0, 0x10, 0, 1, 0x11, 0x10, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		names := []string{"", "a", "room", "sid"}
		var s set
		model := map[string]struct{}{}
		for _, op := range ops {
			x := names[op&3]
			_, had := model[x]
			if op&0x10 == 0 {
				if got := s.add(x); got != !had {
					t.Fatalf("add(%q) = %v, want %v", x, got, !had)
				}
				model[x] = struct{}{}
			} else {
				if got := s.del(x); got != had {
					t.Fatalf("del(%q) = %v, want %v", x, got, had)
				}
				delete(model, x)
			}
			if s.len() != len(model) {
				t.Fatalf("len %d, want %d", s.len(), len(model))
			}
			for _, n := range names {
				_, want := model[n]
				if s.has(n) != want {
					t.Fatalf("has(%q) = %v, want %v", n, !want, want)
				}
			}
			got := slices.Sorted(s.all())
			if want := slices.Sorted(maps.Keys(model)); !slices.Equal(got, want) {
				t.Fatalf("all() = %q, want %q", got, want)
			}
		}
	})
}
