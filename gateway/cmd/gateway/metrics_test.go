package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// metricsNode runs newNode from flags on test listeners: the gateway and
// its metrics endpoint apart, as main runs them.
func metricsNode(t *testing.T, args ...string) (gatewayURL, metricsURL string) {
	t.Helper()
	o, err := parseFlags(args, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, h, closer, err := newNode(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if closer != nil {
		t.Cleanup(func() { _ = closer.Close() })
	}
	gw := httptest.NewServer(srv)
	t.Cleanup(gw.Close)
	if h == nil {
		return gw.URL, ""
	}
	ms := httptest.NewServer(h)
	t.Cleanup(ms.Close)
	return gw.URL, ms.URL + "/metrics"
}

// call makes a request and returns the status and body.
func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrapeFamilies scrapes url and parses it with the Prometheus text parser.
func scrapeFamilies(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// chatTraffic drives the demo chat over raw long-polling: a handshake, a
// namespace CONNECT, a chat message broadcast back to the sender, a
// refused request.
func chatTraffic(t *testing.T, base string) {
	t.Helper()
	u := base + "/socket.io/?EIO=4&transport=polling"
	code, body := call(t, "GET", u, "")
	if code != http.StatusOK || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q", code, body)
	}
	var open struct{ SID string }
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		t.Fatal(err)
	}
	su := u + "&sid=" + open.SID
	if code, body := call(t, "POST", su, "40"); code != http.StatusOK || body != "ok" {
		t.Fatalf("CONNECT: %d %q", code, body)
	}
	if code, body := call(t, "GET", su, ""); code != http.StatusOK || !strings.HasPrefix(body, "40{") {
		t.Fatalf("CONNECT answer: %d %q", code, body)
	}
	if code, body := call(t, "POST", su, `421["chat","hello"]`); code != http.StatusOK || body != "ok" {
		t.Fatalf("chat: %d %q", code, body)
	}
	// The poll collects the broadcast and the ack, in one or two GETs.
	got := ""
	for !strings.Contains(got, `"text":"hello"`) || !strings.Contains(got, "431[true]") {
		code, body := call(t, "GET", su, "")
		if code != http.StatusOK {
			t.Fatalf("poll: %d %q", code, body)
		}
		got += body
	}
	if code, _ := call(t, "GET", base+"/socket.io/?EIO=3&transport=polling", ""); code != http.StatusBadRequest {
		t.Fatalf("EIO=3: HTTP %d", code)
	}
}

func TestMetricsAddrFlag(t *testing.T) {
	if _, m := metricsNode(t); m != "" {
		t.Fatal("metrics served without --metrics-addr")
	}
	base, m := metricsNode(t, "--metrics-addr", "127.0.0.1:0")
	chatTraffic(t, base)
	fams := scrapeFamilies(t, m)
	for name, want := range map[string]float64{
		"siogate_connections":           1, // polling
		"siogate_socket_connects_total": 1,
		"siogate_upgrades_total":        0,
	} {
		var sum float64
		for _, s := range fams[name].GetMetric() {
			sum += s.GetGauge().GetValue() + s.GetCounter().GetValue()
		}
		if sum != want {
			t.Fatalf("%s = %v, want %v", name, sum, want)
		}
	}
	ev := fams["siogate_event_handler_seconds"]
	if ev == nil || len(ev.GetMetric()) != 1 || ev.GetMetric()[0].GetLabel()[0].GetValue() != "chat" ||
		ev.GetMetric()[0].GetHistogram().GetSampleCount() != 1 {
		t.Fatalf("event_handler_seconds: %v", ev)
	}
	if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
		t.Fatal("no Go runtime or process metrics")
	}
	if _, _, _, err := newNode(options{refusalLevel: "loud"}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--refusal-log-level") {
		t.Fatalf("bad --refusal-log-level: %v", err)
	}
}

// metricName finds the metric names in a PromQL expression: those of the
// binary (siogate_, and the Go runtime's and process's go_ and process_).
var metricName = regexp.MustCompile(`\b(?:siogate|go|process)_[a-zA-Z0-9_:]*`)

// TestDeployQueries checks that every metric the Grafana dashboard and the
// alert rules in deploy/ query is one the binary exports, scraped after
// some traffic.
func TestDeployQueries(t *testing.T) {
	var queries []string
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "grafana", "siogate-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Fatalf("panel %q queries nothing", p.Title)
		}
		for _, q := range p.Targets {
			queries = append(queries, q.Expr)
		}
	}
	raw, err = os.ReadFile(filepath.Join("..", "..", "..", "deploy", "prometheus", "siogate-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Fatalf("rule %+v lacks a name or an expression", r)
			}
			queries = append(queries, r.Expr)
			alerts++
		}
	}
	if len(dash.Panels) < 10 || alerts < 5 {
		t.Fatalf("%d panels and %d alerts: the files were not read whole", len(dash.Panels), alerts)
	}

	base, m := metricsNode(t, "--metrics-addr", "127.0.0.1:0")
	chatTraffic(t, base)
	fams := scrapeFamilies(t, m)
	exported := func(name string) bool {
		if fams[name] != nil {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f := fams[strings.TrimSuffix(name, suffix)]; strings.HasSuffix(name, suffix) && f != nil && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
		return false
	}
	used := map[string]bool{}
	for _, q := range queries {
		names := metricName.FindAllString(q, -1)
		if len(names) == 0 {
			t.Errorf("query %q uses no metric of the binary", q)
		}
		for _, n := range names {
			used[n] = true
			if !exported(n) {
				t.Errorf("query %q uses %s, which the binary does not export", q, n)
			}
		}
	}
	// And the other way: every family of the gateway is on the dashboard
	// or in a rule.
	for name, f := range fams {
		if !strings.HasPrefix(name, "siogate_") {
			continue
		}
		seen := used[name]
		if f.GetType() == dto.MetricType_HISTOGRAM {
			seen = seen || used[name+"_bucket"] || used[name+"_sum"] || used[name+"_count"]
		}
		if !seen {
			t.Errorf("%s is exported but neither charted nor alerted on", name)
		}
	}
}
