package main

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/siogate/siogate/gateway"
)

//go:embed demo
var demoFiles embed.FS

// mountDemo serves the chat page and its Socket.IO handlers: set a
// nickname, join a room, and chat to everyone in it. Without handlers
// (--workers) the chat's events go to workers (examples/chatworker); the
// node still puts each socket in the lobby.
func mountDemo(srv *gateway.Server, mux *http.ServeMux, clientJS string, handlers bool) {
	if clientJS == "" {
		clientJS = findClientJS()
	}
	static, _ := fs.Sub(demoFiles, "demo")
	mux.Handle("/", http.FileServerFS(static))
	mux.HandleFunc("/socket.io.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/javascript")
		http.ServeFile(w, r, clientJS)
	})

	var mu sync.Mutex
	nicks := map[string]string{}
	rooms := map[string]string{}
	nickOf := func(sid string) string {
		mu.Lock()
		defer mu.Unlock()
		if n := nicks[sid]; n != "" {
			return n
		}
		return "anonymous"
	}
	ns := srv.Of("/")
	if !handlers {
		ns.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
			s.Join("lobby")
			return s.Emit("joined", "lobby")
		})
		return
	}
	ns.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		s.Join("lobby")
		mu.Lock()
		rooms[s.ID()] = "lobby"
		mu.Unlock()
		return s.Emit("joined", "lobby")
	})
	ns.On("nick", func(s *gateway.Socket, e *gateway.Event) []any {
		n := strings.TrimSpace(e.Args.String(0))
		if n == "" || len(n) > 32 {
			return []any{false}
		}
		mu.Lock()
		nicks[s.ID()] = n
		mu.Unlock()
		return []any{true}
	})
	ns.On("join", func(s *gateway.Socket, e *gateway.Event) []any {
		room := strings.TrimSpace(e.Args.String(0))
		if room == "" || len(room) > 32 {
			return []any{false}
		}
		mu.Lock()
		old := rooms[s.ID()]
		rooms[s.ID()] = room
		mu.Unlock()
		if old != "" {
			s.Leave(old)
		}
		s.Join(room)
		_ = s.Emit("joined", room)
		return []any{true}
	})
	ns.On("chat", func(s *gateway.Socket, e *gateway.Event) []any {
		text := e.Args.String(0)
		if text == "" || len(text) > 1000 {
			return []any{false}
		}
		mu.Lock()
		room := rooms[s.ID()]
		mu.Unlock()
		_ = srv.To(room).Emit(context.Background(), "chat", map[string]any{"from": nickOf(s.ID()), "room": room, "text": text})
		return []any{true}
	})
	ns.OnDisconnect(func(s *gateway.Socket, _ gateway.DisconnectReason) {
		mu.Lock()
		delete(nicks, s.ID())
		delete(rooms, s.ID())
		mu.Unlock()
	})
}

// findClientJS looks for the npm-installed client bundle in js/ of this
// repository, from the working directory up.
func findClientJS() string {
	const rel = "js/node_modules/socket.io-client/dist/socket.io.min.js"
	dir, err := os.Getwd()
	if err != nil {
		return rel
	}
	for range 6 {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		dir = filepath.Dir(dir)
	}
	return rel
}
