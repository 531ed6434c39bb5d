package bench

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// ScaleRun is what benchrun -scale records: every result of the run, and
// how and where it was measured. cmd/scalechart draws its chart from it.
type ScaleRun struct {
	// Measured is when the run started, UTC.
	Measured string `json:"measured"`
	// Command is the command that produced it.
	Command string `json:"command"`
	// Machine describes the machine and its load.
	Machine map[string]string `json:"machine"`
	// Results are the siobench results (hold, fanout, reconnect), each
	// labelled with its server ("siogate", "node").
	Results []Result `json:"results"`
}

// series is one line of a chart panel.
type series struct {
	label  string
	color  string
	dashed bool
	pts    [][2]float64 // connections, value
}

// ScaleChart draws run as an SVG image: resident memory per idle
// connection, and the time until a broadcast reached every connection
// (p50 and p99 over the run's broadcasts), against the number of
// connections, one line per server.
func ScaleChart(run ScaleRun) []byte {
	colors := map[string]string{"siogate": "#1f77b4", "node": "#d62728"}
	names := map[string]string{"siogate": "siogate", "node": "Node socket.io"}
	var mem, fan []series
	for _, label := range []string{"siogate", "node"} {
		m := series{label: names[label], color: colors[label]}
		p50 := series{label: names[label] + " p50", color: colors[label], dashed: true}
		p99 := series{label: names[label] + " p99", color: colors[label]}
		for _, r := range run.Results {
			if r.Label != label {
				continue
			}
			n := float64(r.Connected)
			switch r.Scenario {
			case "hold":
				if r.RSSPerConn > 0 {
					m.pts = append(m.pts, [2]float64{n, r.RSSPerConn / 1024})
				}
			case "fanout":
				if r.FanoutP99Micros > 0 {
					p50.pts = append(p50.pts, [2]float64{n, r.FanoutP50Micros / 1000})
					p99.pts = append(p99.pts, [2]float64{n, r.FanoutP99Micros / 1000})
				}
			}
		}
		for _, s := range []*series{&m, &p50, &p99} {
			slices.SortFunc(s.pts, func(a, b [2]float64) int { return int(a[0] - b[0]) })
		}
		if len(m.pts) > 0 {
			mem = append(mem, m)
		}
		if len(p99.pts) > 0 {
			fan = append(fan, p99, p50)
		}
	}
	var b bytes.Buffer
	const w, h = 960, 400
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" text-anchor="middle">siogate and Node socket.io, one node, idle WebSocket connections (%s)</text>`+"\n", w/2, run.Measured)
	panel(&b, 10, 30, 465, 360, "RSS per idle connection after a forced GC (KiB)", mem)
	panel(&b, 485, 30, 465, 360, "broadcast to all: time until the last delivery (ms)", fan)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// panel draws one line chart at (x0, y0) of size w×h.
func panel(b *bytes.Buffer, x0, y0, w, h float64, title string, lines []series) {
	const left, right, top, bottom = 55, 15, 30, 70
	pw, ph := w-left-right, h-top-bottom
	var xmax, ymax float64
	for _, s := range lines {
		for _, p := range s.pts {
			xmax, ymax = math.Max(xmax, p[0]), math.Max(ymax, p[1])
		}
	}
	xmax, ymax = niceMax(xmax), niceMax(ymax)
	px := func(v float64) float64 { return x0 + left + v/xmax*pw }
	py := func(v float64) float64 { return y0 + top + ph - v/ymax*ph }
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-size="13" text-anchor="middle">%s</text>`+"\n", x0+left+pw/2, y0+16, title)
	fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`+"\n", x0+left, y0+top, pw, ph)
	for i := 0; i <= 4; i++ {
		xv, yv := xmax*float64(i)/4, ymax*float64(i)/4
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x0+left, py(yv), x0+left+pw, py(yv))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0+left-5, py(yv)+4, short(yv))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(xv), y0+top+ph+16, short(xv))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">connections on the node</text>`+"\n", x0+left+pw/2, y0+top+ph+32)
	if len(lines) == 0 {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">no data</text>`+"\n", x0+left+pw/2, y0+top+ph/2)
		return
	}
	for i, s := range lines {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="5,4"`
		}
		var pts bytes.Buffer
		for _, p := range s.pts {
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(p[0]), py(p[1]))
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", bytes.TrimSpace(pts.Bytes()), s.color, dash)
		for _, p := range s.pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p[0]), py(p[1]), s.color)
			if !s.dashed {
				fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" fill="%s" text-anchor="middle">%s</text>`+"\n", px(p[0]), py(p[1])-7, s.color, short(p[1]))
			}
		}
		lx := x0 + left + float64(i%2)*pw/2
		ly := y0 + top + ph + 48 + float64(i/2)*14
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly-4, lx+24, ly-4, s.color, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+30, ly, s.label)
	}
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// short formats an axis value.
func short(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	case v >= 10 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}
