package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	t.Log(s)
	if n := strings.Count(s, "add(2, 40) = 42, note cafe"); n != 2 {
		t.Errorf("%d correct results, want 2", n)
	}
	// msgpack packets are single binary messages; JSON ones are text.
	if !regexp.MustCompile(`msgpack parser:\n  received: binary [0-9a-f]+ \| binary [0-9a-f]+\n`).MatchString(s) {
		t.Error("msgpack traffic is not binary messages only")
	}
	if !strings.Contains(s, `text 31[{"sum":42,"note":"yv4="}]`) {
		t.Error("JSON acknowledgement not as expected")
	}
	if !regexp.MustCompile(`custom JSON codec: [1-9]\d* marshals, [1-9]\d* unmarshals`).MatchString(s) {
		t.Error("the custom JSON codec was not used")
	}
}
