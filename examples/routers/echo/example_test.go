package main

import (
	"testing"

	et "github.com/siogate/siogate/examples/internal/exampletest"
)

func TestRouter(t *testing.T) {
	et.CheckRouter(t, newApp(), "hi from echo")
}
