package simd

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

var benchDims = []int{128, 768, 784, 1536}

var sink float32

// BenchmarkDot: one pair of vectors in L1, per implementation and dimension.
// The generic sub-benchmark is the anchor for the speed-up.
func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, im := range f32Impls {
		if !im.available {
			continue
		}
		for _, d := range benchDims {
			x, y := randVec(r, d, 1), randVec(r, d, 1)
			b.Run(fmt.Sprintf("%s/%d", im.name, d), func(b *testing.B) {
				b.SetBytes(int64(8 * d))
				for b.Loop() {
					sink += im.dot(x, y)
				}
			})
		}
	}
}

func BenchmarkL2(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, im := range f32Impls {
		if !im.available {
			continue
		}
		for _, d := range benchDims {
			x, y := randVec(r, d, 1), randVec(r, d, 1)
			b.Run(fmt.Sprintf("%s/%d", im.name, d), func(b *testing.B) {
				b.SetBytes(int64(8 * d))
				for b.Loop() {
					sink += im.l2(x, y)
				}
			})
		}
	}
}

// BenchmarkDotBlock: a query against 64 rows held in L1/L2; ns/op is per
// row.
func BenchmarkDotBlock(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	const rows = 64
	for _, im := range f32Impls {
		if !im.available {
			continue
		}
		for _, d := range benchDims {
			q, data, out := randVec(r, d, 1), randVec(r, rows*d, 1), make([]float32, rows)
			b.Run(fmt.Sprintf("%s/%d", im.name, d), func(b *testing.B) {
				b.SetBytes(int64(4 * d * rows))
				for b.Loop() {
					im.dotBlock(q, data, out)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
			})
		}
	}
}

var isink int

func BenchmarkDotInt8(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, im := range i8Impls {
		if !im.available {
			continue
		}
		for _, d := range benchDims {
			x, y := make([]int8, d), make([]int8, d)
			for i := range x {
				x[i], y[i] = int8(r.IntN(256)-128), int8(r.IntN(256)-128)
			}
			b.Run(fmt.Sprintf("%s/%d", im.name, d), func(b *testing.B) {
				b.SetBytes(int64(2 * d))
				for b.Loop() {
					isink += int(im.dot(x, y))
				}
			})
		}
	}
}

func BenchmarkHamming(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, im := range bitsImpls {
		if !im.available {
			continue
		}
		for _, bitsN := range []int{256, 768, 1536} {
			x, y := make([]uint64, bitsN/64), make([]uint64, bitsN/64)
			for i := range x {
				x[i], y[i] = r.Uint64(), r.Uint64()
			}
			b.Run(fmt.Sprintf("%s/%dbits", im.name, bitsN), func(b *testing.B) {
				b.SetBytes(int64(bitsN / 4))
				for b.Loop() {
					isink += im.hamming(x, y)
				}
			})
		}
	}
}

// BenchmarkPlaneDot is the bit-plane dot product of a sketch (one bit per
// coordinate, padded to a power of two) with a 4-bit query.
func BenchmarkPlaneDot(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, im := range bitsImpls {
		if !im.available {
			continue
		}
		for _, bitsN := range []int{256, 1024, 2048} {
			x, planes := make([]uint64, bitsN/64), make([]uint64, 4*bitsN/64)
			for i := range x {
				x[i] = r.Uint64()
			}
			for i := range planes {
				planes[i] = r.Uint64()
			}
			b.Run(fmt.Sprintf("%s/%dbits", im.name, bitsN), func(b *testing.B) {
				b.SetBytes(int64(bitsN / 8))
				for b.Loop() {
					isink += im.planeDot(planes, x)
				}
			})
		}
	}
}

// BenchmarkScanVsCopy scans 1 GiB of 768-dim float32 rows from RAM with the
// block kernel and, in the same iteration, copies 1 GiB with copy(); it
// reports both bandwidths and their ratio (scan bytes read per second over
// copy bytes copied per second). It needs 3 GiB of memory, so it runs only
// with LARCH_BIG_BENCH=1:
//
//	LARCH_BIG_BENCH=1 go test -run XXX -bench ScanVsCopy -benchtime 5x ./simd
func BenchmarkScanVsCopy(b *testing.B) {
	if os.Getenv("LARCH_BIG_BENCH") == "" {
		b.Skip("set LARCH_BIG_BENCH=1 to scan 1 GiB (needs 3 GiB of memory)")
	}
	const d = 768
	const size = 1 << 30
	rows := size / (4 * d)
	data := make([]float32, rows*d)
	for i := range data {
		data[i] = float32(i%1000) * 0.001
	}
	src := make([]byte, size)
	dst := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src) // fault the pages in before timing
	q := randVec(rand.New(rand.NewPCG(6, 6)), d, 1)
	out := make([]float32, 4096)
	for _, im := range f32Impls {
		if !im.available {
			continue
		}
		b.Run(im.name, func(b *testing.B) {
			var tScan, tCopy time.Duration
			for b.Loop() {
				t0 := time.Now()
				copy(dst, src)
				t1 := time.Now()
				for i := 0; i < rows; i += len(out) {
					n := min(len(out), rows-i)
					im.dotBlock(q, data[i*d:(i+n)*d], out[:n])
				}
				tScan += time.Since(t1)
				tCopy += t1.Sub(t0)
			}
			scan := float64(b.N) * float64(rows*d*4) / tScan.Seconds() / 1e9
			cp := float64(b.N) * float64(size) / tCopy.Seconds() / 1e9
			b.ReportMetric(scan, "scan-GB/s")
			b.ReportMetric(cp, "copy-GB/s")
			b.ReportMetric(scan/cp, "scan/copy")
		})
	}
}

// BenchmarkL2Rows: the exact scan's two shapes, a contiguous block and a
// gather of scattered rows (one in three, ascending, as a filter leaves
// them), over 2,000 rows (cache-resident, a small tenant) and 60,000 rows
// (from RAM), per implementation; ns/row is the figure to compare.
func BenchmarkL2Rows(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, im := range f32Impls {
		if !im.available {
			continue
		}
		for _, d := range []int{768, 784} {
			for _, rows := range []int{2000, 60000} {
				q, data := randVec(r, d, 1), randVec(r, rows*d, 1)
				out := make([]float32, rows)
				var offs []uint32
				for i := 0; i < rows; i += 3 {
					offs = append(offs, uint32(i))
				}
				const chunk = 256
				b.Run(fmt.Sprintf("%s/block/%d/%d", im.name, d, rows), func(b *testing.B) {
					b.SetBytes(int64(4 * d * rows))
					for b.Loop() {
						for i := 0; i < rows; i += chunk {
							n := min(chunk, rows-i)
							im.l2Block(q, data[i*d:(i+n)*d], out[i:i+n])
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
				})
				b.Run(fmt.Sprintf("%s/gather/%d/%d", im.name, d, rows), func(b *testing.B) {
					b.SetBytes(int64(4 * d * len(offs)))
					for b.Loop() {
						for i := 0; i < len(offs); i += chunk {
							n := min(chunk, len(offs)-i)
							im.l2Gather(q, data, offs[i:i+n], out[i:i+n])
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(offs)), "ns/row")
				})
			}
		}
	}
}
