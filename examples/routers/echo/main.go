// Command echo mounts the Socket.IO server on a github.com/labstack/echo/v4
// instance, next to a normal route, GET /api/hello, which shares the server
// (it reports how many clients are connected). Polling, WebSocket and the
// upgrade all pass through echo. Run it from /work/main/examples with
// `go run ./routers/echo` (PORT picks the port, default 3000).
package main

import (
	"cmp"
	"log"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"
	"github.com/siogate/siogate/gateway"
)

func main() {
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	log.Printf("echo example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, newApp()))
}

// newApp builds the echo instance with the Socket.IO server mounted on it.
func newApp() http.Handler {
	srv := gateway.NewServer(gateway.Config{})
	srv.Of("/").On("hello", func(*gateway.Socket, *gateway.Event) []any {
		return []any{"hi from echo"}
	})

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.GET("/api/hello", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"hello": "world", "clients": srv.Of("/").Count()})
	})
	// Every method: polling uses GET and POST, WebSocket a GET upgrade.
	e.Any("/socket.io/*", echo.WrapHandler(srv))
	return e
}
