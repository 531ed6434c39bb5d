// Command logging shows the server's two loggers, both *slog.Logger:
// Config.Logger for the Socket.IO layer (python's logger) and
// Config.Engine.Logger for the Engine.IO layer (python's
// engineio_logger). A nil logger turns a layer's logs off; any
// slog.Handler can receive them, here text on stderr. Run it from
// /work/main/examples with `go run ./logging` (PORT picks the port,
// default 3000; LOG=off silences both layers, LOG=socketio or
// LOG=engineio keeps one).
package main

import (
	"cmp"
	"log"
	"log/slog"
	"net/http"
	"os"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/gateway/engineio"
)

func main() {
	text := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var sio, eio *slog.Logger // nil: off
	switch os.Getenv("LOG") {
	case "off":
	case "socketio":
		sio = text
	case "engineio":
		eio = text
	default:
		sio, eio = text, text
	}
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	log.Printf("logging example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, newServer(sio, eio)))
}

// newServer builds the example's server with its Socket.IO logger sio and
// Engine.IO logger eio (nil turns a layer off).
func newServer(sio, eio *slog.Logger) *gateway.Server {
	srv := gateway.NewServer(gateway.Config{
		Logger: sio,
		Engine: engineio.Config{Logger: eio},
	})
	srv.Of("/").On("hello", func(*gateway.Socket, *gateway.Event) []any {
		return []any{"hi"}
	})
	// A failing handler: the server recovers and logs it at error level.
	srv.Of("/").On("fail", func(*gateway.Socket, *gateway.Event) []any {
		panic("something went wrong")
	})
	return srv
}
