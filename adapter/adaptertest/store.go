package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siogate/siogate/adapter"
)

// RunStore is the conformance kit of adapter.RecoveryStore: every store
// (the memory one, and each broker module's shared one) passes it, since
// the gateway's connection state recovery relies on exactly these
// semantics. newStore returns an empty store, independent of any other it
// returned (a fresh stream, bucket or topic), cleaned up through t.
//
// A store may re-encode a packet's or a session's JSON (Data, Values):
// those are compared as JSON values. Attachments are compared byte for
// byte.
func RunStore(t *testing.T, newStore func(t *testing.T) adapter.RecoveryStore) {
	t.Run("Order", func(t *testing.T) { storeOrder(t, newStore(t)) })
	t.Run("Rooms", func(t *testing.T) { storeRooms(t, newStore(t)) })
	t.Run("Namespaces", func(t *testing.T) { storeNamespaces(t, newStore(t)) })
	t.Run("BadOffsets", func(t *testing.T) { storeBadOffsets(t, newStore(t), newStore(t)) })
	t.Run("Limit", func(t *testing.T) { storeLimit(t, newStore(t)) })
	t.Run("Head", func(t *testing.T) { storeHead(t, newStore(t)) })
	t.Run("HeadOfEmptyStore", func(t *testing.T) { storeHeadEmpty(t, newStore(t)) })
	t.Run("SaveTake", func(t *testing.T) { storeSaveTake(t, newStore(t)) })
	t.Run("ConcurrentTake", func(t *testing.T) { storeConcurrentTake(t, newStore(t)) })
	t.Run("OwnerGuardedSave", func(t *testing.T) { storeOwnerSave(t, newStore(t)) })
	t.Run("OwnerGuardedDelete", func(t *testing.T) { storeOwnerDelete(t, newStore(t)) })
	t.Run("Expiry", func(t *testing.T) { storeExpiry(t, newStore(t)) })
	t.Run("Binary", func(t *testing.T) { storeBinary(t, newStore(t)) })
	t.Run("Large", func(t *testing.T) { storeLarge(t, newStore(t)) })
}

// storeCtx bounds one store scenario.
func storeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// event returns a packet whose data is the event name and its argument.
func storedEvent(name string, arg any) adapter.StoredPacket {
	data, err := json.Marshal([]any{name, arg})
	if err != nil {
		panic(err)
	}
	return adapter.StoredPacket{Data: data}
}

func mustAppend(ctx context.Context, t *testing.T, s adapter.RecoveryStore, nsp string, p adapter.StoredPacket) string {
	t.Helper()
	off, err := s.Append(ctx, nsp, p)
	if err != nil {
		t.Fatalf("Append(%q): %v", nsp, err)
	}
	if off == "" {
		t.Fatalf("Append(%q) returned an empty offset", nsp)
	}
	return off
}

func mustHead(ctx context.Context, t *testing.T, s adapter.RecoveryStore, nsp string) string {
	t.Helper()
	h, err := s.Head(ctx, nsp)
	if err != nil {
		t.Fatalf("Head(%q): %v", nsp, err)
	}
	return h
}

func mustSince(ctx context.Context, t *testing.T, s adapter.RecoveryStore, nsp, offset string, rooms []string, limit int) []adapter.StoredPacket {
	t.Helper()
	ps, err := s.Since(ctx, nsp, offset, rooms, limit)
	if err != nil {
		t.Fatalf("Since(%q, %q, %q, %d): %v", nsp, offset, rooms, limit, err)
	}
	return ps
}

// jsonEqual compares two JSON texts as values.
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

// samePacket reports how got differs from want ("" when it does not).
// want.Offset is compared when set.
func samePacket(got, want adapter.StoredPacket) string {
	switch {
	case want.Offset != "" && got.Offset != want.Offset:
		return fmt.Sprintf("offset %q, want %q", got.Offset, want.Offset)
	case !jsonEqual(got.Data, want.Data):
		return fmt.Sprintf("data %.200s, want %.200s", got.Data, want.Data)
	case !sameStrings(got.Rooms, want.Rooms) || !sameStrings(got.Except, want.Except):
		return fmt.Sprintf("rooms %q except %q, want %q except %q", got.Rooms, got.Except, want.Rooms, want.Except)
	case len(got.Attachments) != len(want.Attachments):
		return fmt.Sprintf("%d attachments, want %d", len(got.Attachments), len(want.Attachments))
	}
	for i := range want.Attachments {
		if !bytes.Equal(got.Attachments[i], want.Attachments[i]) {
			return fmt.Sprintf("attachment %d differs (%d bytes, want %d)", i, len(got.Attachments[i]), len(want.Attachments[i]))
		}
	}
	return ""
}

func sameStrings(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// expectPackets checks got against want, in order.
func expectPackets(t *testing.T, what string, got, want []adapter.StoredPacket) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d packets %s, want %d %s", what, len(got), dataOf(got), len(want), dataOf(want))
	}
	for i := range want {
		if d := samePacket(got[i], want[i]); d != "" {
			t.Fatalf("%s: packet %d: %s", what, i, d)
		}
	}
}

func dataOf(ps []adapter.StoredPacket) string {
	var b strings.Builder
	for _, p := range ps {
		if len(p.Data) > 40 {
			b.WriteString(string(p.Data[:40]) + "… ")
			continue
		}
		b.WriteString(string(p.Data) + " ")
	}
	return b.String()
}

func storeOrder(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	var want []adapter.StoredPacket
	seen := map[string]bool{}
	for i := range 20 {
		p := storedEvent("e", i)
		p.Offset = mustAppend(ctx, t, s, "/", p)
		if seen[p.Offset] {
			t.Fatalf("offset %q returned twice", p.Offset)
		}
		seen[p.Offset] = true
		want = append(want, p)
	}
	rooms := []string{"sid1"}
	expectPackets(t, "Since(\"\")", mustSince(ctx, t, s, "/", "", rooms, 100), want)
	for _, i := range []int{0, 1, 9, 18} {
		expectPackets(t, fmt.Sprintf("Since(offset %d)", i), mustSince(ctx, t, s, "/", want[i].Offset, rooms, 100), want[i+1:])
	}
	if got := mustSince(ctx, t, s, "/", want[19].Offset, rooms, 100); len(got) != 0 {
		t.Fatalf("Since(newest offset) = %d packets, want none", len(got))
	}
}

func storeRooms(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	all := []adapter.StoredPacket{
		{Data: []byte(`["all"]`)},
		{Data: []byte(`["a"]`), Rooms: []string{"a"}},
		{Data: []byte(`["b"]`), Rooms: []string{"b"}},
		{Data: []byte(`["a or b"]`), Rooms: []string{"a", "b"}},
		{Data: []byte(`["all but c"]`), Except: []string{"c"}},
		{Data: []byte(`["a but not c"]`), Rooms: []string{"a"}, Except: []string{"c"}},
		{Data: []byte(`["all but sid2"]`), Except: []string{"sid2"}},
	}
	for i := range all {
		all[i].Offset = mustAppend(ctx, t, s, "/", all[i])
	}
	pick := func(idx ...int) []adapter.StoredPacket {
		var out []adapter.StoredPacket
		for _, i := range idx {
			out = append(out, all[i])
		}
		return out
	}
	for _, c := range []struct {
		rooms []string
		want  []adapter.StoredPacket
	}{
		{[]string{"sid1"}, pick(0, 4, 6)},
		{[]string{"sid1", "a"}, pick(0, 1, 3, 4, 5, 6)},
		{[]string{"sid1", "b"}, pick(0, 2, 3, 4, 6)},
		{[]string{"sid1", "a", "c"}, pick(0, 1, 3, 6)},
		{[]string{"sid2", "a"}, pick(0, 1, 3, 4, 5)},
		{[]string{"sid2", "a", "b", "c"}, pick(0, 1, 2, 3)},
	} {
		got := mustSince(ctx, t, s, "/", "", c.rooms, 100)
		expectPackets(t, fmt.Sprintf("rooms %q", c.rooms), got, c.want)
		// The same from the first offset: every packet but the first.
		from := mustSince(ctx, t, s, "/", all[0].Offset, c.rooms, 100)
		expectPackets(t, fmt.Sprintf("rooms %q after the first", c.rooms), from, c.want[1:])
	}
}

func storeNamespaces(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	var a, b []adapter.StoredPacket
	for i := range 6 {
		p := storedEvent("x", i)
		if i%2 == 0 {
			p.Offset = mustAppend(ctx, t, s, "/a", p)
			a = append(a, p)
		} else {
			p.Offset = mustAppend(ctx, t, s, "/b", p)
			b = append(b, p)
		}
	}
	rooms := []string{"sid"}
	expectPackets(t, "/a", mustSince(ctx, t, s, "/a", "", rooms, 100), a)
	expectPackets(t, "/b", mustSince(ctx, t, s, "/b", "", rooms, 100), b)
	expectPackets(t, "/b after /a's first", mustSince(ctx, t, s, "/b", a[0].Offset, rooms, 100), b)
	expectPackets(t, "/a after /b's first", mustSince(ctx, t, s, "/a", b[0].Offset, rooms, 100), a[1:])
	if got := mustSince(ctx, t, s, "/c", "", rooms, 100); len(got) != 0 {
		t.Fatalf("/c, never used: %d packets", len(got))
	}
	// Packets of another namespace do not count against the limit.
	expectPackets(t, "/a with limit 3", mustSince(ctx, t, s, "/a", "", rooms, 3), a)
	// From /b's head, /a's later packets are not /b's.
	hb := mustHead(ctx, t, s, "/b")
	later := storedEvent("later", 1)
	later.Offset = mustAppend(ctx, t, s, "/a", later)
	if got := mustSince(ctx, t, s, "/b", hb, rooms, 100); len(got) != 0 {
		t.Fatalf("/b from its head after an /a packet: %d packets", len(got))
	}
	expectPackets(t, "/a from /b's head", mustSince(ctx, t, s, "/a", hb, rooms, 100), []adapter.StoredPacket{later})
}

func storeBadOffsets(t *testing.T, s, other adapter.RecoveryStore) {
	ctx := storeCtx(t)
	for i := range 3 {
		mustAppend(ctx, t, s, "/", storedEvent("e", i))
	}
	// An offset of another store: the other store appends after this one
	// (and more than once), so that no store's offsets, however they are
	// made (sequence numbers, timestamps), can coincide with this one's.
	var foreign string
	for i := range 5 {
		foreign = mustAppend(ctx, t, other, "/", storedEvent("other", i))
	}
	head := mustHead(ctx, t, s, "/")
	for _, off := range []string{
		foreign, "garbage", "-", "-1", "0-", "1-x", "x-1", "99999999999999999999-0",
		"18446744073709551615-18446744073709551615", head + "0", head + "x", "\x00", strings.Repeat("9", 300),
	} {
		if off == head {
			continue
		}
		if _, err := s.Since(ctx, "/", off, []string{"sid"}, 100); !errors.Is(err, adapter.ErrOffsetGone) {
			t.Errorf("Since(%q): %v, want ErrOffsetGone", off, err)
		}
	}
}

func storeLimit(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	first := mustAppend(ctx, t, s, "/", storedEvent("first", 0))
	var want []adapter.StoredPacket
	for i := range 5 {
		p := storedEvent("e", i)
		p.Offset = mustAppend(ctx, t, s, "/", p)
		want = append(want, p)
		// Packets that do not reach the socket do not count.
		mustAppend(ctx, t, s, "/", adapter.StoredPacket{Data: []byte(`["other"]`), Rooms: []string{"elsewhere"}})
	}
	rooms := []string{"sid"}
	expectPackets(t, "limit 5", mustSince(ctx, t, s, "/", first, rooms, 5), want)
	expectPackets(t, "limit 6", mustSince(ctx, t, s, "/", first, rooms, 6), want)
	if _, err := s.Since(ctx, "/", first, rooms, 4); !errors.Is(err, adapter.ErrTooManyMissed) {
		t.Fatalf("Since with limit 4 of 5: %v, want ErrTooManyMissed", err)
	}
	if _, err := s.Since(ctx, "/", "", rooms, 5); !errors.Is(err, adapter.ErrTooManyMissed) {
		t.Fatalf("Since(\"\") with limit 5 of 6: %v, want ErrTooManyMissed", err)
	}
}

func storeHead(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	rooms := []string{"sid"}
	for i := range 3 {
		mustAppend(ctx, t, s, "/", storedEvent("before", i))
	}
	h := mustHead(ctx, t, s, "/")
	if got := mustSince(ctx, t, s, "/", h, rooms, 100); len(got) != 0 {
		t.Fatalf("Since(Head) right away: %d packets, want none", len(got))
	}
	// A store may mint a new head each time (a mark in its log): a
	// second one means "from now on" just as well.
	if h2 := mustHead(ctx, t, s, "/"); len(mustSince(ctx, t, s, "/", h2, rooms, 100)) != 0 {
		t.Fatalf("Since(second Head) without an append: packets")
	}
	var want []adapter.StoredPacket
	for i := range 3 {
		p := storedEvent("after", i)
		p.Offset = mustAppend(ctx, t, s, "/", p)
		want = append(want, p)
	}
	expectPackets(t, "Since(Head) after appends", mustSince(ctx, t, s, "/", h, rooms, 100), want)
	h3 := mustHead(ctx, t, s, "/")
	if h3 == h {
		t.Fatalf("Head did not move after appends: %q", h3)
	}
	if got := mustSince(ctx, t, s, "/", h3, rooms, 100); len(got) != 0 {
		t.Fatalf("Since(new Head): %d packets, want none", len(got))
	}
}

func storeHeadEmpty(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	rooms := []string{"sid"}
	h := mustHead(ctx, t, s, "/")
	if got := mustSince(ctx, t, s, "/", h, rooms, 100); len(got) != 0 {
		t.Fatalf("Since(Head of an empty store): %d packets, want none", len(got))
	}
	p := storedEvent("first", 1)
	p.Offset = mustAppend(ctx, t, s, "/", p)
	expectPackets(t, "Since(Head of the empty store) after an append", mustSince(ctx, t, s, "/", h, rooms, 100), []adapter.StoredPacket{p})
	// A namespace that never had a packet, in a store that has some.
	hq := mustHead(ctx, t, s, "/quiet")
	if got := mustSince(ctx, t, s, "/quiet", hq, rooms, 100); len(got) != 0 {
		t.Fatalf("Since(Head of a quiet namespace): %d packets", len(got))
	}
	q := storedEvent("quiet", 1)
	q.Offset = mustAppend(ctx, t, s, "/quiet", q)
	expectPackets(t, "quiet namespace from its head", mustSince(ctx, t, s, "/quiet", hq, rooms, 100), []adapter.StoredPacket{q})
}

// session returns a session with every field set.
func session(pid, owner string) adapter.Session {
	return adapter.Session{
		PID:       pid,
		SID:       "sid-" + pid,
		Namespace: "/chat",
		Rooms:     []string{"sid-" + pid, "room 1", "ünïcode"},
		Data:      json.RawMessage(`{"user":"ann","n":42,"nested":{"ok":true,"list":[1,2.5,"x",null]}}`),
		Values:    json.RawMessage(`{"cart":["a","b"]}`),
		Offset:    "offset-of-" + pid,
		Owner:     owner,
	}
}

// uniquePID makes pids distinct across runs, for stores that outlive a
// test (a shared Redis).
func uniquePID(name string) string {
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
}

func sameSession(got, want adapter.Session) string {
	switch {
	case got.PID != want.PID || got.SID != want.SID || got.Namespace != want.Namespace:
		return fmt.Sprintf("pid/sid/nsp %q %q %q, want %q %q %q", got.PID, got.SID, got.Namespace, want.PID, want.SID, want.Namespace)
	case !sameStrings(got.Rooms, want.Rooms):
		return fmt.Sprintf("rooms %q, want %q", got.Rooms, want.Rooms)
	case !jsonEqual(got.Data, want.Data) || !jsonEqual(got.Values, want.Values):
		return fmt.Sprintf("data %s values %s, want %s %s", got.Data, got.Values, want.Data, want.Values)
	case got.Offset != want.Offset || got.Owner != want.Owner:
		return fmt.Sprintf("offset/owner %q %q, want %q %q", got.Offset, got.Owner, want.Offset, want.Owner)
	}
	return ""
}

func storeSaveTake(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	pid := uniquePID("p")
	want := session(pid, "conn-1")
	if err := s.Save(ctx, want, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := s.Take(ctx, pid)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	if d := sameSession(got, want); d != "" {
		t.Fatalf("Take: %s", d)
	}
	if _, err := s.Take(ctx, pid); !errors.Is(err, adapter.ErrNoSession) {
		t.Fatalf("second Take: %v, want ErrNoSession", err)
	}
	if _, err := s.Take(ctx, uniquePID("unknown")); !errors.Is(err, adapter.ErrNoSession) {
		t.Fatalf("Take of an unknown pid: %v, want ErrNoSession", err)
	}
	// A session with only the required fields.
	bare := adapter.Session{PID: uniquePID("bare"), SID: "s", Namespace: "/", Rooms: []string{"s"}}
	if err := s.Save(ctx, bare, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err = s.Take(ctx, bare.PID)
	if err != nil {
		t.Fatalf("Take of a bare session: %v", err)
	}
	if d := sameSession(got, bare); d != "" {
		t.Fatalf("bare session: %s", d)
	}
	// Saving again refreshes: the last save is what Take returns.
	pid2 := uniquePID("again")
	first := session(pid2, "o")
	if err := s.Save(ctx, first, time.Minute); err != nil {
		t.Fatal(err)
	}
	second := first
	second.Rooms = append([]string{"joined later"}, first.Rooms...)
	second.Offset = "newer"
	if err := s.Save(ctx, second, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err = s.Take(ctx, pid2)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameSession(got, second); d != "" {
		t.Fatalf("after a second save by the same owner: %s", d)
	}
}

func storeConcurrentTake(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	const takers = 8
	for round := range 10 {
		pid := uniquePID(fmt.Sprintf("race%d", round))
		if err := s.Save(ctx, session(pid, "o"), time.Minute); err != nil {
			t.Fatal(err)
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			won      int
			unwanted []error
		)
		start := make(chan struct{})
		for range takers {
			wg.Go(func() {
				<-start
				_, err := s.Take(ctx, pid)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case !errors.Is(err, adapter.ErrNoSession):
					unwanted = append(unwanted, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(unwanted) > 0 || won != 1 {
			t.Fatalf("round %d: %d of %d concurrent Takes won (errors %v), want exactly 1", round, won, takers, unwanted)
		}
	}
}

func storeOwnerSave(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	pid := uniquePID("owned")
	newer := session(pid, "conn-new")
	if err := s.Save(ctx, newer, time.Minute); err != nil {
		t.Fatal(err)
	}
	// The old connection's late save is refused, silently.
	stale := session(pid, "conn-old")
	stale.Rooms = []string{"stale room"}
	if err := s.Save(ctx, stale, time.Minute); err != nil {
		t.Fatalf("Save by another owner: %v, want nil (refused silently)", err)
	}
	// An ownerless save does not replace an owned one either.
	ownerless := stale
	ownerless.Owner = ""
	if err := s.Save(ctx, ownerless, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := s.Take(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameSession(got, newer); d != "" {
		t.Fatalf("after another owner's save: %s", d)
	}
	// Once taken, anyone may save the pid again.
	if err := s.Save(ctx, stale, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err = s.Take(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameSession(got, stale); d != "" {
		t.Fatalf("save after the take: %s", d)
	}
	// Long owners of one length, differing in their last byte only; and
	// an owner that is a prefix of the other.
	long := strings.Repeat("o", 40)
	for _, other := range []string{long[:39] + "x", long[:39], long + "o", strings.Repeat("p", 200)} {
		pid := uniquePID("long")
		held := session(pid, long)
		if err := s.Save(ctx, held, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, session(pid, other), time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, pid, other); err != nil {
			t.Fatal(err)
		}
		got, err := s.Take(ctx, pid)
		if err != nil {
			t.Fatalf("owner %q, then owner %q's save and delete: %v", long, other, err)
		}
		if d := sameSession(got, held); d != "" {
			t.Fatalf("owner %q, then owner %q's save: %s", long, other, d)
		}
	}
}

func storeOwnerDelete(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	pid := uniquePID("del")
	want := session(pid, "conn-1")
	if err := s.Save(ctx, want, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, pid, "conn-0"); err != nil {
		t.Fatalf("Delete by another owner: %v", err)
	}
	if err := s.Delete(ctx, pid, ""); err != nil {
		t.Fatalf("Delete without an owner: %v", err)
	}
	got, err := s.Take(ctx, pid)
	if err != nil {
		t.Fatalf("Take after another owner's Delete: %v", err)
	}
	if d := sameSession(got, want); d != "" {
		t.Fatal(d)
	}
	if err := s.Save(ctx, want, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, pid, "conn-1"); err != nil {
		t.Fatalf("Delete by the owner: %v", err)
	}
	if _, err := s.Take(ctx, pid); !errors.Is(err, adapter.ErrNoSession) {
		t.Fatalf("Take after the owner's Delete: %v, want ErrNoSession", err)
	}
	if err := s.Delete(ctx, uniquePID("never"), "x"); err != nil {
		t.Fatalf("Delete of an unknown pid: %v", err)
	}
}

// storeExpiry saves a session with a short ttl, then probes expiry
// without consuming it: probes saved right after it, with the same ttl,
// are taken one by one until one is gone. The session, saved first, must
// then be gone too.
func storeExpiry(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	const ttl = 400 * time.Millisecond
	pid := uniquePID("short")
	long := uniquePID("long")
	if err := s.Save(ctx, session(long, "o"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, session(pid, "o"), ttl); err != nil {
		t.Fatal(err)
	}
	const probes = 200
	var probe []string
	for i := range probes {
		p := fmt.Sprintf("%s-probe%d", pid, i)
		if err := s.Save(ctx, session(p, "o"), ttl); err != nil {
			t.Fatal(err)
		}
		probe = append(probe, p)
	}
	expired := false
	for _, p := range probe {
		if _, err := s.Take(ctx, p); errors.Is(err, adapter.ErrNoSession) {
			expired = true
			break
		} else if err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl / 8)
	}
	if !expired {
		t.Fatalf("sessions saved with ttl %v still there after %v", ttl, probes*ttl/8)
	}
	if _, err := s.Take(ctx, pid); !errors.Is(err, adapter.ErrNoSession) {
		t.Fatalf("Take of an expired session: %v, want ErrNoSession", err)
	}
	// An expired session is no longer owned: another owner may save.
	if err := s.Save(ctx, session(pid, "other"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Take(ctx, pid); err != nil || got.Owner != "other" {
		t.Fatalf("save over an expired session: %v, owner %q", err, got.Owner)
	}
	if _, err := s.Take(ctx, long); err != nil {
		t.Fatalf("a session with a long ttl: %v", err)
	}
}

func storeBinary(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	want := []adapter.StoredPacket{
		{
			Data:        []byte(`["bin",{"_placeholder":true,"num":0},"text",{"k":{"_placeholder":true,"num":1}}]`),
			Attachments: [][]byte{all, {0, 0, 0, 0xff, 0xfe, '\n', '\r', 0}},
		},
		{Data: []byte(`["one",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{0xc3, 0x28}}, Rooms: []string{"r"}, Except: []string{"x"}},
		{Data: []byte(`["text only, \"quoted\", \u00e9 \ud83d\ude00"]`)},
	}
	for i := range want {
		want[i].Offset = mustAppend(ctx, t, s, "/bin", want[i])
	}
	expectPackets(t, "binary", mustSince(ctx, t, s, "/bin", "", []string{"r"}, 100), want)
}

func storeLarge(t *testing.T, s adapter.RecoveryStore) {
	ctx := storeCtx(t)
	text, err := json.Marshal([]any{"large", strings.Repeat("0123456789abcdef", 16<<10)}) // 256 KiB
	if err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 384<<10)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	want := []adapter.StoredPacket{
		{Data: text},
		{Data: []byte(`["blob",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{blob}},
	}
	for i := range want {
		want[i].Offset = mustAppend(ctx, t, s, "/", want[i])
	}
	expectPackets(t, "large", mustSince(ctx, t, s, "/", "", []string{"sid"}, 100), want)
	big := session(uniquePID("big"), "o")
	big.Data, err = json.Marshal(map[string]string{"blob": strings.Repeat("x", 128<<10)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, big, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := s.Take(ctx, big.PID)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameSession(got, big); d != "" {
		t.Fatalf("large session: %.300s", d)
	}
}

// CheckTrimmed checks a store whose oldest packets were dropped: offs are
// the offsets of the packets appended to nsp, in order, the first dropped
// of them gone; stale are offsets taken before them (a Head). The offset
// just before the first kept packet serves every kept one (nothing after
// it is missing); the older ones, stale and "" are ErrOffsetGone.
func CheckTrimmed(t *testing.T, s adapter.RecoveryStore, nsp string, offs []string, dropped int, stale ...string) {
	t.Helper()
	ctx := storeCtx(t)
	if got := mustSince(ctx, t, s, nsp, offs[dropped-1], nil, len(offs)); len(got) != len(offs)-dropped {
		t.Fatalf("Since(offset %d, just before the first kept) = %d packets, want %d", dropped-1, len(got), len(offs)-dropped)
	}
	for _, off := range append(append(offs[:dropped-1:dropped-1], stale...), "") {
		if _, err := s.Since(ctx, nsp, off, nil, len(offs)); !errors.Is(err, adapter.ErrOffsetGone) {
			t.Fatalf("Since(%q) after the trim: %v, want ErrOffsetGone", off, err)
		}
	}
}

// BenchStore measures one call of each kind on s: Append, Head, Since
// over 10 missed packets, and Save followed by Take.
func BenchStore(b *testing.B, s adapter.RecoveryStore) {
	ctx := context.Background()
	p := adapter.StoredPacket{Data: []byte(`["event",{"text":"hello","n":1}]`)}
	b.Run("Append", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Append(ctx, "/", p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Head", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Head(ctx, "/"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Since10", func(b *testing.B) {
		head, err := s.Head(ctx, "/")
		if err != nil {
			b.Fatal(err)
		}
		for range 10 {
			if _, err := s.Append(ctx, "/", p); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if got, err := s.Since(ctx, "/", head, []string{"sid"}, 100); err != nil || len(got) != 10 {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("SaveTake", func(b *testing.B) {
		sess := adapter.Session{PID: uniquePID("bench"), SID: "s", Namespace: "/", Rooms: []string{"s"}, Data: []byte(`{"u":1}`), Owner: "o"}
		for b.Loop() {
			if err := s.Save(ctx, sess, time.Minute); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Take(ctx, sess.PID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// AppendEvents appends n events to nsp, each with pad bytes of padding,
// and returns their offsets.
func AppendEvents(t testing.TB, s adapter.RecoveryStore, nsp string, n, pad int) []string {
	t.Helper()
	offs := make([]string, 0, n)
	for i := range n {
		off, err := s.Append(context.Background(), nsp, adapter.StoredPacket{Data: fmt.Appendf(nil, `["e",%d,%q]`, i, strings.Repeat("x", pad))})
		if err != nil {
			t.Fatalf("Append(%q): %v", nsp, err)
		}
		offs = append(offs, off)
	}
	return offs
}

// StoreCalls are one call of each method of s (the session pid "p" of
// owner "o", events of "/" after offset), by method name, for checks of a
// store whose broker is down or back.
func StoreCalls(s adapter.RecoveryStore, offset string) map[string]func(ctx context.Context) error {
	return map[string]func(ctx context.Context) error{
		"Append": func(ctx context.Context) error {
			_, err := s.Append(ctx, "/", adapter.StoredPacket{Data: []byte(`["call"]`)})
			return err
		},
		"Head":  func(ctx context.Context) error { _, err := s.Head(ctx, "/"); return err },
		"Since": func(ctx context.Context) error { _, err := s.Since(ctx, "/", offset, nil, 10); return err },
		"Save": func(ctx context.Context) error {
			return s.Save(ctx, adapter.Session{PID: "q", Owner: "o"}, time.Minute)
		},
		"Take":   func(ctx context.Context) error { _, err := s.Take(ctx, "p"); return err },
		"Delete": func(ctx context.Context) error { return s.Delete(ctx, "p", "o") },
	}
}

// CheckStoreDown runs StoreCalls on s while its broker is unreachable:
// each must fail within timeout with an error that starts with prefix and
// is not one of a store's answers (no session, offset gone). It returns
// the errors by method name.
func CheckStoreDown(t *testing.T, s adapter.RecoveryStore, prefix, offset string, timeout time.Duration) map[string]error {
	t.Helper()
	errs := make(map[string]error)
	for name, call := range StoreCalls(s, offset) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := call(ctx)
		cancel()
		if err == nil || errors.Is(err, adapter.ErrNoSession) || errors.Is(err, adapter.ErrOffsetGone) || errors.Is(err, adapter.ErrTooManyMissed) {
			t.Fatalf("%s with the broker down: %v, want a connection error", name, err)
		}
		if !strings.HasPrefix(err.Error(), prefix) {
			t.Fatalf("%s with the broker down: error %q does not start with %q", name, err, prefix)
		}
		errs[name] = err
	}
	return errs
}

// CheckHeadAppend takes a Head of writer, appends an event to it, and
// checks that reader's Since from that head returns exactly the event
// (reader may be writer, or another store on the same log).
func CheckHeadAppend(t *testing.T, writer, reader adapter.RecoveryStore) {
	t.Helper()
	ctx := storeCtx(t)
	head := mustHead(ctx, t, writer, "/")
	next := mustAppend(ctx, t, writer, "/", storedEvent("next", 1))
	if got := mustSince(ctx, t, reader, "/", head, nil, 10); len(got) != 1 || got[0].Offset != next {
		t.Fatalf("Since(head %q) = %d packets, want the one appended after it (%q)", head, len(got), next)
	}
}
