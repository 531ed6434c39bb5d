package bench

import "testing"

// TestClientRoomsSpread checks the membership layout: every room gets
// RoomSize distinct clients, which sit on distinct servers, so a room of
// at least as many members as servers has members on every server; and
// every membership is held once.
func TestClientRoomsSpread(t *testing.T) {
	for _, tc := range []struct{ clients, rooms, size, servers int }{
		{80_000, 10_000, 8, 5}, // one room per client
		{76_000, 10_000, 8, 4}, // some clients in two rooms
		{30, 20, 3, 2},
		{7, 3, 7, 3},
	} {
		cfg := Config{Clients: tc.clients, Rooms: tc.rooms, RoomSize: tc.size}
		members := make(map[string]map[int]bool)
		servers := make(map[string]map[int]bool)
		total := 0
		for g := range tc.clients {
			for _, r := range clientRooms(cfg, g) {
				if members[r] == nil {
					members[r], servers[r] = map[int]bool{}, map[int]bool{}
				}
				if members[r][g] {
					t.Fatalf("%+v: client %d twice in %s", tc, g, r)
				}
				members[r][g] = true
				servers[r][g%tc.servers] = true
				total++
			}
		}
		if total != tc.rooms*tc.size || len(members) != tc.rooms {
			t.Errorf("%+v: %d memberships in %d rooms", tc, total, len(members))
		}
		for r, m := range members {
			if len(m) != tc.size || len(servers[r]) != min(tc.size, tc.servers) {
				t.Fatalf("%+v: %s has %d members on %d servers", tc, r, len(m), len(servers[r]))
			}
		}
	}
}
