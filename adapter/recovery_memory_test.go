package adapter_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
	"github.com/siogate/siogate/adapter/adaptertest"
)

func TestMemoryStoreConformance(t *testing.T) {
	adaptertest.RunStore(t, func(t *testing.T) adapter.RecoveryStore {
		return adapter.NewMemoryStore(adapter.MemoryStoreOptions{})
	})
}

func TestMemoryStoreTrimByCount(t *testing.T) {
	ctx := context.Background()
	s := adapter.NewMemoryStore(adapter.MemoryStoreOptions{MaxPackets: 5})
	offs := adaptertest.AppendEvents(t, s, "/", 8, 0)
	adaptertest.CheckTrimmed(t, s, "/", offs, 3) // kept: packets 3..7
	// A head taken before the trim is gone once a packet after it is.
	h, _ := s.Head(ctx, "/")
	adaptertest.AppendEvents(t, s, "/other", 5, 0)
	if got, err := s.Since(ctx, "/", h, nil, 100); err != nil || len(got) != 0 {
		t.Fatalf("Since(head) with packets after it kept: %d, %v", len(got), err)
	}
	adaptertest.AppendEvents(t, s, "/other", 1, 0)
	if _, err := s.Since(ctx, "/", h, nil, 100); !errors.Is(err, adapter.ErrOffsetGone) {
		t.Fatalf("Since(head) once a packet after it was trimmed: %v, want ErrOffsetGone", err)
	}
}

func TestMemoryStoreTrimByBytes(t *testing.T) {
	ctx := context.Background()
	s := adapter.NewMemoryStore(adapter.MemoryStoreOptions{MaxBytes: 10 << 10})
	offs := adaptertest.AppendEvents(t, s, "/", 10, 2<<10) // ~2 KiB each: about 4 fit
	if _, err := s.Since(ctx, "/", offs[0], nil, 100); !errors.Is(err, adapter.ErrOffsetGone) {
		t.Fatalf("Since(oldest) past MaxBytes: %v, want ErrOffsetGone", err)
	}
	got, err := s.Since(ctx, "/", offs[6], nil, 100)
	if err != nil || len(got) != 3 {
		t.Fatalf("Since(offset 6) = %d packets, %v; want 3", len(got), err)
	}
}

func TestMemoryStoreTrimByAge(t *testing.T) {
	ctx := context.Background()
	s := adapter.NewMemoryStore(adapter.MemoryStoreOptions{MaxAge: 100 * time.Millisecond})
	offs := adaptertest.AppendEvents(t, s, "/", 3, 0)
	if got, err := s.Since(ctx, "/", offs[0], nil, 100); err != nil || len(got) != 2 {
		t.Fatalf("Since before MaxAge: %d packets, %v", len(got), err)
	}
	adaptertest.Eventually(t, "packets older than MaxAge are dropped", func() error {
		if _, err := s.Since(ctx, "/", offs[0], nil, 100); !errors.Is(err, adapter.ErrOffsetGone) {
			return fmt.Errorf("Since(oldest): %v", err)
		}
		return nil
	})
	// The newest offset stays usable: nothing after it is missing.
	if got, err := s.Since(ctx, "/", offs[2], nil, 100); err != nil || len(got) != 0 {
		t.Fatalf("Since(newest) after every packet aged out: %d, %v", len(got), err)
	}
}

func TestMemoryStoreMaxSessions(t *testing.T) {
	ctx := context.Background()
	s := adapter.NewMemoryStore(adapter.MemoryStoreOptions{MaxSessions: 3})
	for i := range 5 {
		if err := s.Save(ctx, adapter.Session{PID: fmt.Sprint("p", i), SID: "s"}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		_, err := s.Take(ctx, fmt.Sprint("p", i))
		if evicted := i < 2; evicted != errors.Is(err, adapter.ErrNoSession) {
			t.Fatalf("session %d: Take %v, evicted %v", i, err, evicted)
		}
	}
}

// storeModel is the plain definition of Since that MemoryStore must agree
// with: every packet ever appended, the first `trimmed` of them gone.
type storeModel struct {
	offs    []string
	nsps    []string
	pkts    []adapter.StoredPacket
	trimmed int
}

func (m *storeModel) since(nsp, offset string, rooms []string, limit int) ([]adapter.StoredPacket, error) {
	after := -1
	if offset != "" {
		after = slices.Index(m.offs, offset)
		if after < 0 {
			return nil, adapter.ErrOffsetGone
		}
	}
	if after+1 < m.trimmed {
		return nil, adapter.ErrOffsetGone
	}
	var out []adapter.StoredPacket
	for i := after + 1; i < len(m.pkts); i++ {
		if m.nsps[i] != nsp || !m.pkts[i].Reaches(rooms) {
			continue
		}
		if len(out) == limit {
			return nil, adapter.ErrTooManyMissed
		}
		out = append(out, m.pkts[i])
	}
	return out, nil
}

// checkAgainstModel runs the operations ops encodes on a MemoryStore and
// the model, comparing every Since.
func checkAgainstModel(t *testing.T, ops []byte) {
	ctx := context.Background()
	const maxPackets = 7
	s := adapter.NewMemoryStore(adapter.MemoryStoreOptions{MaxPackets: maxPackets})
	var m storeModel
	nsps := []string{"/", "/a"}
	roomSets := [][]string{nil, {"r1"}, {"r2"}, {"r1", "r2"}}
	for i := 0; i+2 < len(ops); i += 3 {
		op, x, y := ops[i], ops[i+1], ops[i+2]
		nsp := nsps[x%2]
		switch op % 3 {
		case 0, 1: // append
			p := adapter.StoredPacket{Data: fmt.Appendf(nil, `[%d]`, i), Rooms: roomSets[x/2%4], Except: roomSets[y%4]}
			off, err := s.Append(ctx, nsp, p)
			if err != nil {
				t.Fatal(err)
			}
			p.Offset = off
			m.offs, m.nsps, m.pkts = append(m.offs, off), append(m.nsps, nsp), append(m.pkts, p)
			m.trimmed = max(0, len(m.pkts)-maxPackets)
		case 2: // since
			offset := ""
			switch {
			case y%8 == 7:
				offset = "garbage"
			case len(m.offs) > 0 && y%8 != 0:
				offset = m.offs[int(y)%len(m.offs)]
			}
			rooms := append([]string{"sid"}, roomSets[x/2%4]...)
			limit := int(y / 8 % 6)
			got, gotErr := s.Since(ctx, nsp, offset, rooms, limit)
			want, wantErr := m.since(nsp, offset, rooms, limit)
			if !errors.Is(gotErr, wantErr) || (wantErr == nil && gotErr != nil) {
				t.Fatalf("op %d: Since(%q, %q, %q, %d): error %v, model %v", i, nsp, offset, rooms, limit, gotErr, wantErr)
			}
			if len(got) != len(want) {
				t.Fatalf("op %d: Since: %d packets, model %d", i, len(got), len(want))
			}
			for j := range want {
				if got[j].Offset != want[j].Offset || string(got[j].Data) != string(want[j].Data) {
					t.Fatalf("op %d: packet %d: %q %s, model %q %s", i, j, got[j].Offset, got[j].Data, want[j].Offset, want[j].Data)
				}
			}
		}
	}
}

func FuzzMemoryStoreSince(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0, 8, 1, 1, 3, 2, 1, 9})
	f.Add([]byte("append append append since since since append"))
	f.Fuzz(checkAgainstModel)
}

// TestMemoryStoreSinceModel runs random operation sequences through the
// model comparison (the fuzz target's property, without -fuzz).
func TestMemoryStoreSinceModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		ops := make([]byte, 3*(10+r.IntN(60)))
		for i := range ops {
			ops[i] = byte(r.Uint32())
		}
		checkAgainstModel(t, ops)
	}
}
