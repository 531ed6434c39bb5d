// Command scalechart draws the chart of a benchrun -scale run from the
// JSON it wrote (bench.ScaleRun): memory per idle connection and
// broadcast fan-out time against connections, siogate and Node.
//
//	scalechart -in bench/results/scale.json -out bench/results/scale.svg
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/siogate/siogate/bench"
)

func main() {
	in := flag.String("in", "results/scale.json", "the run's JSON (benchrun -scale writes it)")
	out := flag.String("out", "results/scale.svg", "the SVG to write")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scalechart:", err)
		os.Exit(1)
	}
	var run bench.ScaleRun
	if err := json.Unmarshal(b, &run); err != nil {
		fmt.Fprintln(os.Stderr, "scalechart:", *in, err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, bench.ScaleChart(run), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "scalechart:", err)
		os.Exit(1)
	}
}
