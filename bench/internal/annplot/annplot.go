// Package annplot draws the recall/queries-per-second plot of bench/ann and
// bench/scale with /usr/bin/python3 and matplotlib (plot.py).
package annplot

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

//go:embed plot.py
var plotPy []byte

const python = "/usr/bin/python3"

// Point is one curve point: a search breadth, its recall and queries/s.
type Point struct {
	Ef     int     `json:"ef"`
	Recall float64 `json:"recall"`
	QPS    float64 `json:"qps"`
}

// Curve is one system's points.
type Curve struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}

// Plot writes the PNG from results JSON (an object with "title" and
// "curves"), using tmp for scratch files, or says why it cannot.
func Plot(tmp string, js []byte, png string) {
	if exec.Command(python, "-c", "import matplotlib").Run() != nil {
		fmt.Println("plot skipped: matplotlib for /usr/bin/python3 is missing (apt-get install python3-matplotlib)")
		return
	}
	jf, sf := filepath.Join(tmp, "results.json"), filepath.Join(tmp, "plot.py")
	if err := os.WriteFile(jf, js, 0o644); err != nil {
		fmt.Println("plot failed:", err)
		return
	}
	if err := os.WriteFile(sf, plotPy, 0o644); err != nil {
		fmt.Println("plot failed:", err)
		return
	}
	if out, err := exec.Command(python, sf, jf, png).CombinedOutput(); err != nil {
		fmt.Printf("plot failed: %v\n%s", err, out)
		return
	}
	fmt.Printf("plot written to %s\n", png)
}
