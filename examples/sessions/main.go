// Command sessions shows user sessions, a map of values the server keeps
// per socket: SaveSession at connect, UpdateSession in an event handler
// (python's `with sio.session(sid) as session:`; safe even with
// concurrent handlers), and GetSession by sid from outside any handler,
// here from a plain HTTP endpoint at /session?sid=... served next to
// Socket.IO through Config.Handler. Run it from /work/main/examples with
// `go run ./sessions` (PORT picks the port, default 3000).
package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"

	"github.com/siogate/siogate/gateway"
)

func main() {
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	log.Printf("sessions example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, newServer()))
}

// newServer builds the example's server; it is also the http.Handler.
func newServer() *gateway.Server {
	mux := http.NewServeMux()
	srv := gateway.NewServer(gateway.Config{
		// Handlers run concurrently, so "post" events of one client
		// update its session at the same time: UpdateSession keeps
		// every change.
		AsyncHandlers: true,
		Handler:       mux,
	})
	ns := srv.Of("/")

	ns.OnConnect(func(s *gateway.Socket, auth json.RawMessage) error {
		var a struct {
			User string `json:"user"`
		}
		_ = json.Unmarshal(auth, &a)
		s.SaveSession(map[string]any{"user": cmp.Or(a.User, "anonymous"), "posts": 0})
		return nil
	})

	// post counts the client's posts in its session.
	ns.On("post", func(s *gateway.Socket, _ *gateway.Event) []any {
		var n int
		s.UpdateSession(func(session map[string]any) {
			n = session["posts"].(int) + 1
			session["posts"] = n
		})
		return []any{n}
	})

	// whoami reads the session.
	ns.On("whoami", func(s *gateway.Socket, _ *gateway.Event) []any {
		return []any{s.GetSession()["user"]}
	})

	// GET /session?sid=... reads a session from outside any handler.
	mux.HandleFunc("GET /session", func(w http.ResponseWriter, r *http.Request) {
		session, err := ns.GetSession(r.URL.Query().Get("sid"))
		if errors.Is(err, gateway.ErrUnknownSocket) {
			http.Error(w, "no such socket", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(session)
	})
	return srv
}
