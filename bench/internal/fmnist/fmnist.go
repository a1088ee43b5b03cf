// Package fmnist loads the Fashion-MNIST data set shipped by Debian's
// dataset-fashion-mnist package, for benchmarks on real data.
//
// The images become float32 vectors of 784 pixel intensities in [0, 255];
// the labels (0..9) are the class of each image, usable as metadata.
package fmnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Dir is where Debian's dataset-fashion-mnist package installs the files.
const Dir = "/usr/share/datasets/fashion-mnist"

// Dim is the dimension of one image vector (28 × 28).
const Dim = 784

// ErrMissing reports that the data set is not installed.
var ErrMissing = errors.New("fmnist: Fashion-MNIST not found; install it with: apt-get install dataset-fashion-mnist")

// Set is one split of the data set: N vectors of Dim float32 stored row
// after row, and their labels.
type Set struct {
	Vectors []float32
	Labels  []uint8
	N       int
}

// Row returns the i-th vector.
func (s *Set) Row(i int) []float32 { return s.Vectors[i*Dim : (i+1)*Dim : (i+1)*Dim] }

// Load reads the training (60,000) and test (10,000) splits.
func Load() (train, test *Set, err error) {
	if _, err := os.Stat(filepath.Join(Dir, "train-images-idx3-ubyte.gz")); err != nil {
		return nil, nil, ErrMissing
	}
	if train, err = load("train"); err != nil {
		return nil, nil, err
	}
	if test, err = load("t10k"); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func load(prefix string) (*Set, error) {
	img, err := readIDX(filepath.Join(Dir, prefix+"-images-idx3-ubyte.gz"), 0x00000803)
	if err != nil {
		return nil, err
	}
	lab, err := readIDX(filepath.Join(Dir, prefix+"-labels-idx1-ubyte.gz"), 0x00000801)
	if err != nil {
		return nil, err
	}
	n := len(lab)
	if len(img) != n*Dim {
		return nil, fmt.Errorf("fmnist: %s: %d image bytes for %d labels", prefix, len(img), n)
	}
	s := &Set{Vectors: make([]float32, len(img)), Labels: lab, N: n}
	for i, b := range img {
		s.Vectors[i] = float32(b)
	}
	return s, nil
}

// readIDX returns the payload of a gzipped IDX file after checking its magic.
func readIDX(path string, magic uint32) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("fmnist: %s: %w", path, err)
	}
	var m uint32
	if err := binary.Read(zr, binary.BigEndian, &m); err != nil {
		return nil, fmt.Errorf("fmnist: %s: %w", path, err)
	}
	if m != magic {
		return nil, fmt.Errorf("fmnist: %s: magic %#x, want %#x", path, m, magic)
	}
	dims := int(m & 0xff)
	for i := 0; i < dims; i++ {
		var d uint32
		if err := binary.Read(zr, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("fmnist: %s: %w", path, err)
		}
	}
	return io.ReadAll(zr)
}

// GroundTruth returns, for each of the first nq test vectors, the ids of the
// k nearest training vectors by squared L2 distance computed in float64.
// Ties break towards the lower id.
func GroundTruth(train, test *Set, nq, k int) [][]int {
	out := make([][]int, nq)
	for q := 0; q < nq; q++ {
		qv := test.Row(q)
		type cand struct {
			id int
			d  float64
		}
		best := make([]cand, 0, k+1)
		for i := 0; i < train.N; i++ {
			r := train.Row(i)
			var d float64
			for j := range qv {
				x := float64(qv[j]) - float64(r[j])
				d += x * x
			}
			if len(best) == k && d >= best[k-1].d {
				continue
			}
			p := len(best)
			if p < k {
				best = append(best, cand{})
			} else {
				p = k - 1
			}
			for p > 0 && best[p-1].d > d {
				best[p] = best[p-1]
				p--
			}
			best[p] = cand{i, d}
		}
		ids := make([]int, len(best))
		for i, c := range best {
			ids[i] = c.id
		}
		out[q] = ids
	}
	return out
}

// CachedGroundTruth is GroundTruth, cached in a file under dir so that
// repeated benchmark runs skip the float64 brute force.
func CachedGroundTruth(dir string, train, test *Set, nq, k int) ([][]int, error) {
	path := filepath.Join(dir, fmt.Sprintf("fmnist-gt-%d-%d.bin", nq, k))
	if b, err := os.ReadFile(path); err == nil && len(b) == nq*k*4 {
		out := make([][]int, nq)
		for q := range out {
			out[q] = make([]int, k)
			for i := range out[q] {
				out[q][i] = int(binary.LittleEndian.Uint32(b[(q*k+i)*4:]))
			}
		}
		return out, nil
	}
	gt := GroundTruth(train, test, nq, k)
	b := make([]byte, 0, nq*k*4)
	for _, ids := range gt {
		for _, id := range ids {
			b = binary.LittleEndian.AppendUint32(b, uint32(id))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return gt, nil
	}
	_ = os.WriteFile(path, b, 0o644)
	return gt, nil
}
