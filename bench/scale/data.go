package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"
)

// The synthetic data: a mixture of Gaussian clusters shaped like real
// embeddings. Each cluster has a centre, its own random subDim-dimensional
// subspace (an orthonormal basis), along whose axes its points spread with
// decaying standard deviations (scale·decay^j), its own scale, and an uneven
// weight; every point also gets small isotropic noise. Queries are drawn
// from the same mixture with their own random stream (held out: not in the
// base).
const (
	dim      = 96
	clusters = 1000
	subDim   = 16
	decay    = 0.85 // spread of subspace axis j: scale·decay^j
	noise    = 0.05 // isotropic noise, standard deviation per coordinate
)

type mixture struct {
	center [][]float64 // clusters × dim
	basis  [][]float64 // clusters × subDim·dim (row j: axis j)
	spread [][]float64 // clusters × subDim
	cum    []float64   // cumulative weights, normalized
}

func newMixture(seed uint64) *mixture {
	rng := rand.New(rand.NewPCG(seed, 1))
	m := &mixture{}
	var total float64
	for c := 0; c < clusters; c++ {
		ctr := make([]float64, dim)
		for j := range ctr {
			ctr[j] = rng.NormFloat64()
		}
		// A random orthonormal basis of a subDim-dimensional subspace
		// (Gram–Schmidt on Gaussian vectors).
		b := make([]float64, subDim*dim)
		for a := 0; a < subDim; a++ {
			v := b[a*dim : (a+1)*dim]
			for {
				for j := range v {
					v[j] = rng.NormFloat64()
				}
				for p := 0; p < a; p++ {
					u := b[p*dim : (p+1)*dim]
					var d float64
					for j := range v {
						d += v[j] * u[j]
					}
					for j := range v {
						v[j] -= d * u[j]
					}
				}
				var nn float64
				for _, x := range v {
					nn += x * x
				}
				if nn > 1e-6 {
					inv := 1 / math.Sqrt(nn)
					for j := range v {
						v[j] *= inv
					}
					break
				}
			}
		}
		scale := 0.25 * math.Exp(rng.Float64()*math.Log(4)) // log-uniform in [0.25, 1]
		sp := make([]float64, subDim)
		for a := range sp {
			sp[a] = scale * math.Pow(decay, float64(a))
		}
		w := math.Exp(rng.NormFloat64()) // log-normal weights: uneven
		total += w
		m.center = append(m.center, ctr)
		m.basis = append(m.basis, b)
		m.spread = append(m.spread, sp)
		m.cum = append(m.cum, total)
	}
	for c := range m.cum {
		m.cum[c] /= total
	}
	return m
}

// sample writes one point drawn with rng into out.
func (m *mixture) sample(rng *rand.Rand, out []float32) {
	c := sort.SearchFloat64s(m.cum, rng.Float64())
	c = min(c, clusters-1)
	var x [dim]float64
	copy(x[:], m.center[c])
	for a := 0; a < subDim; a++ {
		z := rng.NormFloat64() * m.spread[c][a]
		u := m.basis[c][a*dim : (a+1)*dim]
		for j := range x {
			x[j] += z * u[j]
		}
	}
	for j := range x {
		out[j] = float32(x[j] + noise*rng.NormFloat64())
	}
}

// dataset is the base and the queries.
type dataset struct {
	path    string // the data file: n, nq, dim (uint32), base, queries (float32)
	n, nq   int
	queries []float32
}

func (d *dataset) query(i int) []float32 { return d.queries[i*dim : (i+1)*dim : (i+1)*dim] }

// dataPath is the cached data file for n base vectors, nq queries and seed.
func dataPath(dir string, n, nq int, seed uint64) string {
	return filepath.Join(dir, fmt.Sprintf("synth-n%d-q%d-s%d.f32", n, nq, seed))
}

// prepare returns the data set, generating and caching it on first use.
func prepare(dir string, n, nq int, seed uint64) (*dataset, error) {
	path := dataPath(dir, n, nq, seed)
	want := int64(12 + 4*(n+nq)*dim)
	if fi, err := os.Stat(path); err != nil || fi.Size() != want {
		t := time.Now()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := generate(path, n, nq, seed); err != nil {
			return nil, err
		}
		fmt.Printf("generated %s in %.1f s\n", path, time.Since(t).Seconds())
	}
	d := &dataset{path: path, n: n, nq: nq}
	var err error
	d.queries, err = readQueries(path)
	return d, err
}

func generate(path string, n, nq int, seed uint64) error {
	m := newMixture(seed)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, x := range []uint32{uint32(n), uint32(nq), dim} {
		binary.Write(w, binary.LittleEndian, x)
	}
	v := make([]float32, dim)
	buf := make([]byte, 4*dim)
	put := func(rng *rand.Rand, count int) {
		for i := 0; i < count; i++ {
			m.sample(rng, v)
			for j, x := range v {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(x))
			}
			w.Write(buf)
		}
	}
	put(rand.New(rand.NewPCG(seed, 2)), n)
	put(rand.New(rand.NewPCG(seed, 3)), nq)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// header reads a data file's n, nq and dim.
func header(r io.Reader) (n, nq, d int, err error) {
	var h [3]uint32
	if err := binary.Read(r, binary.LittleEndian, &h); err != nil {
		return 0, 0, 0, err
	}
	return int(h[0]), int(h[1]), int(h[2]), nil
}

// readQueries reads the query vectors of a data file.
func readQueries(path string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, nq, d, err := header(f)
	if err != nil {
		return nil, err
	}
	if d != dim {
		return nil, fmt.Errorf("%s: dimension %d, want %d", path, d, dim)
	}
	if _, err := f.Seek(int64(12+4*n*d), io.SeekStart); err != nil {
		return nil, err
	}
	q := make([]float32, nq*d)
	if err := binary.Read(bufio.NewReaderSize(f, 1<<20), binary.LittleEndian, q); err != nil {
		return nil, err
	}
	return q, nil
}

// baseReader streams the base vectors of a data file.
type baseReader struct {
	f    *os.File
	r    *bufio.Reader
	n    int
	read int
}

func openBase(path string) (*baseReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	n, _, d, err := header(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if d != dim {
		f.Close()
		return nil, fmt.Errorf("%s: dimension %d, want %d", path, d, dim)
	}
	return &baseReader{f: f, r: bufio.NewReaderSize(f, 1<<20), n: n}, nil
}

// next fills vecs (a multiple of dim long) with the next base vectors and
// returns how many it read.
func (b *baseReader) next(vecs []float32) (int, error) {
	m := min(len(vecs)/dim, b.n-b.read)
	if m == 0 {
		return 0, nil
	}
	if err := binary.Read(b.r, binary.LittleEndian, vecs[:m*dim]); err != nil {
		return 0, err
	}
	b.read += m
	return m, nil
}

func (b *baseReader) close() { b.f.Close() }

// readBase reads all the base vectors.
func readBase(path string) ([]float32, error) {
	b, err := openBase(path)
	if err != nil {
		return nil, err
	}
	defer b.close()
	out := make([]float32, b.n*dim)
	_, err = b.next(out)
	return out, err
}

// groundTruth returns the exact k nearest base vectors of every query by
// squared Euclidean distance in float64 (ties to the lower id), cached in a
// file beside the data.
func groundTruth(d *dataset, k int) ([][]int, error) {
	path := d.path[:len(d.path)-len(".f32")] + fmt.Sprintf("-gt%d.bin", k)
	if b, err := os.ReadFile(path); err == nil && len(b) == d.nq*k*4 {
		out := make([][]int, d.nq)
		for q := range out {
			for j := 0; j < k; j++ {
				out[q] = append(out[q], int(binary.LittleEndian.Uint32(b[4*(q*k+j):])))
			}
		}
		return out, nil
	}
	t := time.Now()
	base, err := readBase(d.path)
	if err != nil {
		return nil, err
	}
	out := make([][]int, d.nq)
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			type cand struct {
				id int
				d  float64
			}
			var qv [dim]float64
			for q := w; q < d.nq; q += workers {
				for j, x := range d.query(q) {
					qv[j] = float64(x)
				}
				best := make([]cand, 0, k+1)
				for i := 0; i < d.n; i++ {
					r := base[i*dim : (i+1)*dim : (i+1)*dim]
					var s0, s1, s2, s3 float64
					for j := 0; j < dim; j += 4 {
						x0 := qv[j] - float64(r[j])
						x1 := qv[j+1] - float64(r[j+1])
						x2 := qv[j+2] - float64(r[j+2])
						x3 := qv[j+3] - float64(r[j+3])
						s0 += x0 * x0
						s1 += x1 * x1
						s2 += x2 * x2
						s3 += x3 * x3
					}
					dd := (s0 + s1) + (s2 + s3)
					if len(best) == k && dd >= best[k-1].d {
						continue
					}
					p := len(best)
					if p < k {
						best = append(best, cand{})
					} else {
						p = k - 1
					}
					for p > 0 && best[p-1].d > dd {
						best[p] = best[p-1]
						p--
					}
					best[p] = cand{i, dd}
				}
				ids := make([]int, len(best))
				for i, c := range best {
					ids[i] = c.id
				}
				out[q] = ids
			}
		}()
	}
	wg.Wait()
	b := make([]byte, 0, d.nq*k*4)
	for _, ids := range out {
		for _, id := range ids {
			b = binary.LittleEndian.AppendUint32(b, uint32(id))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, err
	}
	fmt.Printf("ground truth (float64, %d queries × %d base) computed in %.1f s, cached in %s\n", d.nq, d.n, time.Since(t).Seconds(), path)
	return out, nil
}
