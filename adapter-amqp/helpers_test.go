package amqpadapter_test

import (
	"testing"

	"github.com/siogate/siogate/protocol/socketio"
)

func mustEvent(t *testing.T, name string, args ...any) *socketio.Packet {
	t.Helper()
	p, err := socketio.NewEvent("/", name, args)
	if err != nil {
		t.Fatal(err)
	}
	return &p
}
