// Command call shows the server waiting for clients' answers: Call emits
// an event and blocks until the client acknowledges it or a timeout
// expires (gateway.ErrAckTimeout), and EmitWithCallback hands the answer
// to a callback instead of blocking. With Config.AsyncHandlers (the
// default here; -sync turns it off) each event handler runs in its own
// goroutine, so a handler may Call the very client whose event it is
// handling; with synchronous handlers that Call can only time out, since
// the client's answer waits behind the blocked handler. Run it from
// /work/main/examples with `go run ./call` (PORT picks the port, default
// 3000).
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/siogate/siogate/gateway"
	"github.com/siogate/siogate/protocol/socketio"
)

func main() {
	sync := flag.Bool("sync", false, "run event handlers on the connection's reader (no AsyncHandlers)")
	flag.Parse()
	addr := "127.0.0.1:" + cmp.Or(os.Getenv("PORT"), "3000")
	log.Printf("call example on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, newServer(!*sync)))
}

// answerTimeout is how long the server waits for a client's answer.
const answerTimeout = 300 * time.Millisecond

// ask sends the socket sid a question and waits for its answer, at most
// answerTimeout. It works from anywhere, not only from a handler.
func ask(ctx context.Context, ns *gateway.Namespace, sid, question string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	args, err := ns.Call(ctx, sid, "question", question)
	if err != nil {
		return "", err
	}
	return args.String(0), nil
}

// newServer builds the example's server; async sets Config.AsyncHandlers.
func newServer(async bool) *gateway.Server {
	srv := gateway.NewServer(gateway.Config{AsyncHandlers: async})
	ns := srv.Of("/")

	// On connect, ask for the client's name without waiting: the callback
	// runs when the answer comes and tells the client what was heard.
	ns.OnConnect(func(s *gateway.Socket, _ json.RawMessage) error {
		return s.EmitWithCallback(func(args socketio.Args, err error) {
			if err == nil {
				_ = s.Emit("heard", args.String(0))
			}
		}, "name?")
	})

	// "quiz" makes the server ask the sender a question back before it
	// acknowledges: a Call from inside a handler to the same client.
	ns.On("quiz", func(s *gateway.Socket, e *gateway.Event) []any {
		answer, err := ask(context.Background(), ns, s.ID(), e.Args.String(0))
		if err != nil {
			return []any{nil, err.Error()}
		}
		return []any{answer}
	})
	return srv
}
