// Package hnswanchor runs native hnswlib as a child process beside a larch
// benchmark, so that both are measured in the same run on the same machine:
// Debian's header-only libhnswlib-dev compiled at run time with
// g++ -O3 -march=native -std=c++17 (hnsw_anchor.cpp), or, without g++ or
// the headers, Debian's python3-hnswlib (hnsw_anchor.py). The child reads
// the vectors from a data file (three little-endian uint32 n, nq, dim, then
// n base and nq query vectors as float32) and answers commands on its
// standard input (see hnsw_anchor.cpp).
package hnswanchor

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

//go:embed anchor/hnsw_anchor.cpp
var anchorCpp []byte

//go:embed anchor/hnsw_anchor.py
var anchorPy []byte

// Python is the interpreter the fallback runs with (Debian's, which
// python3-hnswlib installs into).
const Python = "/usr/bin/python3"

// Choose returns "cpp" when g++ and the libhnswlib-dev headers are there,
// "python" when only python3-hnswlib is, else "". want is "auto", "cpp" or
// "python".
func Choose(want string) string {
	if want != "python" {
		if _, err := exec.LookPath("g++"); err == nil {
			if _, err := os.Stat("/usr/include/hnswlib/hnswlib.h"); err == nil {
				return "cpp"
			}
		}
	}
	if want != "cpp" && exec.Command(Python, "-c", "import hnswlib, numpy").Run() == nil {
		return "python"
	}
	return ""
}

// Binary is a compiled (or interpreted) anchor, ready to start.
type Binary struct {
	Kind string   // "C++" or "python3-hnswlib"
	Desc string   // how it was built, for reports
	argv []string // the program, before its arguments
}

// Build compiles the C++ anchor into dir (kind "cpp") or writes the Python
// one there (kind "python").
func Build(kind, dir string) (*Binary, error) {
	if kind == "cpp" {
		src := filepath.Join(dir, "hnsw_anchor.cpp")
		bin := filepath.Join(dir, "hnsw_anchor")
		if err := os.WriteFile(src, anchorCpp, 0o644); err != nil {
			return nil, err
		}
		cc := []string{"g++", "-O3", "-march=native", "-std=c++17", "-o", bin, src}
		t := time.Now()
		if out, err := exec.Command(cc[0], cc[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %v\n%s", strings.Join(cc, " "), err, out)
		}
		ver, _ := exec.Command("g++", "-dumpfullversion").Output()
		return &Binary{
			Kind: "C++",
			Desc: fmt.Sprintf("libhnswlib-dev %s compiled with `g++ -O3 -march=native -std=c++17 bench/internal/hnswanchor/anchor/hnsw_anchor.cpp` (g++ %s, %.1f s)",
				DebVersion("libhnswlib-dev"), strings.TrimSpace(string(ver)), time.Since(t).Seconds()),
			argv: []string{bin},
		}, nil
	}
	src := filepath.Join(dir, "hnsw_anchor.py")
	if err := os.WriteFile(src, anchorPy, 0o644); err != nil {
		return nil, err
	}
	return &Binary{
		Kind: "python3-hnswlib",
		Desc: "python3-hnswlib " + DebVersion("python3-hnswlib") + " via " + Python + " bench/internal/hnswanchor/anchor/hnsw_anchor.py (fallback: no g++ or libhnswlib-dev)",
		argv: []string{Python, src},
	}, nil
}

// DebVersion is the installed version of a Debian package.
func DebVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil {
		return "(version unknown)"
	}
	return string(out)
}

// Proc is a running anchor.
type Proc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	Ready string // the child's "ready" line
}

// Start starts the anchor on a data file with M and efConstruction. serve
// makes it skip the base vectors (it will load an index, not build one).
// cpus, when not empty, pins it with taskset -c cpus.
func (b *Binary) Start(data string, m, efc int, serve bool, cpus string) (*Proc, error) {
	argv := append(append([]string{}, b.argv...), data, strconv.Itoa(m), strconv.Itoa(efc))
	if serve {
		argv = append(argv, "serve")
	}
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	p := &Proc{cmd: exec.Command(argv[0], argv[1:]...)}
	p.cmd.Stderr = os.Stderr
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.out = bufio.NewReaderSize(out, 1<<20)
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	line, err := p.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		return nil, fmt.Errorf("hnswlib anchor did not start: %q %v", line, err)
	}
	p.Ready = strings.TrimSpace(strings.TrimPrefix(line, "ready "))
	return p, nil
}

// Pid is the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

func (p *Proc) call(cmd, want string) ([]string, error) {
	if _, err := io.WriteString(p.in, cmd+"\n"); err != nil {
		return nil, err
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("hnswlib anchor, %s: %w", cmd, err)
	}
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != want {
		return nil, fmt.Errorf("hnswlib anchor, %s: unexpected %q", cmd, line)
	}
	return f, nil
}

// seconds runs a command answered by "NAME SECONDS".
func (p *Proc) seconds(cmd, name string) (float64, error) {
	f, err := p.call(cmd, name)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(f[1], 64)
}

// Build builds the index (one thread) and returns the time it took.
func (p *Proc) Build() (Timed, error) {
	f, err := p.call("build", "build")
	if err != nil {
		return Timed{}, err
	}
	if len(f) != 3 {
		return Timed{}, fmt.Errorf("hnswlib anchor, build: %q", f)
	}
	var t Timed
	if t.Wall, err = strconv.ParseFloat(f[1], 64); err == nil {
		t.CPU, err = strconv.ParseFloat(f[2], 64)
	}
	return t, err
}

// Save writes the index to path.
func (p *Proc) Save(path string) (float64, error) { return p.seconds("save "+path, "save") }

// Load reads the index from path.
func (p *Proc) Load(path string) (float64, error) { return p.seconds("load "+path, "load") }

// Mem returns the child's resident and peak resident bytes.
func (p *Proc) Mem() (rss, peak int64, err error) {
	f, err := p.call("mem", "mem")
	if err != nil {
		return 0, 0, err
	}
	if len(f) != 3 {
		return 0, 0, fmt.Errorf("hnswlib anchor, mem: %q", f)
	}
	rss, _ = strconv.ParseInt(f[1], 10, 64)
	peak, _ = strconv.ParseInt(f[2], 10, 64)
	return rss, peak, nil
}

// Timed is how long a batch of queries took: wall-clock seconds, and the
// CPU seconds of the process that ran them, which leave out the time other
// processes held the core (on a shared machine the steadier measure).
type Timed struct {
	Wall, CPU float64
}

// Add returns the sum of two timings.
func (t Timed) Add(u Timed) Timed { return Timed{t.Wall + u.Wall, t.CPU + u.CPU} }

// Query runs queries lo..hi-1 at ef for the k nearest and returns the time
// they took and the ids, nearest first.
func (p *Proc) Query(ef, k, lo, hi int) (Timed, [][]int, error) {
	f, err := p.call(fmt.Sprintf("query %d %d %d %d", ef, k, lo, hi), "query")
	if err != nil {
		return Timed{}, nil, err
	}
	return ParseQuery(f, k, hi-lo)
}

// ParseQuery parses the fields of a "query SECONDS CPU_SECONDS ID ..."
// answer to n queries of k ids each (-1 pads).
func ParseQuery(f []string, k, n int) (Timed, [][]int, error) {
	var t Timed
	if len(f) != 3+n*k {
		return t, nil, fmt.Errorf("%d fields for %d queries", len(f), n)
	}
	var err error
	if t.Wall, err = strconv.ParseFloat(f[1], 64); err != nil {
		return t, nil, err
	}
	if t.CPU, err = strconv.ParseFloat(f[2], 64); err != nil {
		return t, nil, err
	}
	ids := make([][]int, n)
	for q := range ids {
		for j := 0; j < k; j++ {
			id, err := strconv.Atoi(f[3+q*k+j])
			if err != nil {
				return t, nil, err
			}
			if id >= 0 {
				ids[q] = append(ids[q], id)
			}
		}
	}
	return t, ids, nil
}

// Close ends the child.
func (p *Proc) Close() {
	io.WriteString(p.in, "quit\n")
	p.in.Close()
	p.cmd.Wait()
}
