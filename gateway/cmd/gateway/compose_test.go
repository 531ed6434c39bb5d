package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No Docker engine runs here, so docker-compose.yml cannot be started in
// CI. This test keeps it honest: the file parses, every gateway command
// and SIOGATE_ variable is one the binary accepts, the load balancer points
// at the gateway services with the shared HAProxy recipe, every broker has
// a profile, and the gateway starts with exactly the compose flags (broker
// hosts mapped to this machine's services).

type composeFile struct {
	Services map[string]struct {
		Build       any               `yaml:"build"`
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Profiles    []string          `yaml:"profiles"`
		Ports       []string          `yaml:"ports"`
	} `yaml:"services"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("../../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	return c
}

// expandDefault resolves ${VAR:-default} the way compose does when VAR is
// unset.
func expandDefault(s string) string {
	return regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(s, "$1")
}

func TestComposeFileMatchesBinary(t *testing.T) {
	c := loadCompose(t)
	gateways := []string{"gateway1", "gateway2", "gateway3"}
	for _, name := range gateways {
		svc, ok := c.Services[name]
		if !ok {
			t.Fatalf("service %s missing", name)
		}
		if svc.Build == nil {
			t.Errorf("%s is not built from the repository's Dockerfile", name)
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			env[k] = expandDefault(v)
		}
		o, err := parseFlags(svc.Command, func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("%s: the binary refuses the compose command %v: %v", name, svc.Command, err)
		}
		known := map[string]bool{}
		for _, f := range flagNames() {
			known["SIOGATE_"+strings.ToUpper(strings.ReplaceAll(f, "-", "_"))] = true
		}
		for k := range svc.Environment {
			if !known[k] {
				t.Errorf("%s: %s is not a variable the binary reads", name, k)
			}
		}
		if o.addr != "0.0.0.0:3000" || o.adapterName != "redis" || o.cookie != "io" {
			t.Errorf("%s: unexpected options %+v", name, o)
		}
	}
	lb, ok := c.Services["lb"]
	if !ok {
		t.Fatal("service lb missing")
	}
	if !slices.ContainsFunc(lb.Volumes, func(v string) bool { return strings.HasPrefix(v, "./deploy/haproxy.cfg:") }) {
		t.Errorf("lb does not use deploy/haproxy.cfg: %v", lb.Volumes)
	}
	for i, g := range gateways {
		if want := g + ":3000"; lb.Environment[fmt.Sprintf("NODE%d", i+1)] != want {
			t.Errorf("lb NODE%d = %q, want %q", i+1, lb.Environment[fmt.Sprintf("NODE%d", i+1)], want)
		}
	}
	for profile, svc := range map[string]string{"redis": "redis", "nats": "nats", "amqp": "rabbitmq", "kafka": "kafka"} {
		if !slices.Contains(c.Services[svc].Profiles, profile) {
			t.Errorf("broker %s is not in profile %s", svc, profile)
		}
		if _, err := adapterFactoryName(profile); err != nil {
			t.Errorf("profile %s names no adapter of the binary: %v", profile, err)
		}
	}
}

// adapterFactoryName checks that an adapter name is one --adapter accepts.
func adapterFactoryName(name string) (string, error) {
	o, _ := parseFlags([]string{"--adapter", name}, func(string) string { return "" })
	for _, known := range []string{"memory", "redis", "nats", "amqp", "kafka"} {
		if o.adapterName == known {
			return known, nil
		}
	}
	return "", fmt.Errorf("unknown adapter %q", name)
}

func flagNames() []string {
	var names []string
	fs := newFlagSet(new(options))
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// TestComposeGatewayStarts runs the gateway with the compose service's
// exact command and environment, broker host names mapped to this machine,
// for each broker profile.
func TestComposeGatewayStarts(t *testing.T) {
	c := loadCompose(t)
	svc := c.Services["gateway1"]
	local := strings.NewReplacer("redis:6379", "127.0.0.1:6379", "nats:4222", "127.0.0.1:4222", "rabbitmq:5672", "127.0.0.1:5672")
	for _, adapterName := range []string{"redis", "nats", "amqp"} {
		t.Run(adapterName, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range svc.Environment {
				env[k] = local.Replace(expandDefault(v))
			}
			env["SIOGATE_ADAPTER"] = adapterName
			cmd := slices.Clone(svc.Command)
			cmd = append(cmd, "--client-js", "../../../js/node_modules/socket.io-client/dist/socket.io.min.js", "--channel-prefix", "composetest")
			o, err := parseFlags(cmd, func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			srv, closer, err := newServer(o, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("the gateway refuses the compose setup on %s: %v", adapterName, err)
			}
			defer closer.Close()
			ts := httptest.NewServer(srv)
			defer ts.Close()
			for _, path := range []string{"/status", "/socket.io/?EIO=4&transport=polling", "/", "/socket.io.min.js"} {
				res, err := http.Get(ts.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Errorf("%s: HTTP %d %s", path, res.StatusCode, body)
				}
				if path == "/socket.io/?EIO=4&transport=polling" && !strings.Contains(res.Header.Get("Set-Cookie"), "io=") {
					t.Errorf("no io cookie on the handshake: the HAProxy recipe needs it")
				}
			}
		})
	}
}

// TestDockerfileCommand checks the image's default command against the
// binary.
func TestDockerfileCommand(t *testing.T) {
	raw, err := os.ReadFile("../../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("Dockerfile has no CMD in exec form")
	}
	var args []string
	if err := yaml.Unmarshal(m[1], &args); err != nil {
		t.Fatal(err)
	}
	if _, err := parseFlags(args, func(string) string { return "" }); err != nil {
		t.Errorf("the binary refuses the Dockerfile CMD %v: %v", args, err)
	}
	if !strings.Contains(string(raw), "cd gateway/cmd/gateway && CGO_ENABLED=0 go build") {
		t.Error("the Dockerfile does not build gateway/cmd/gateway")
	}
}
