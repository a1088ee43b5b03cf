package graph

import (
	"math/rand/v2"
	"testing"
)

// FuzzUnmarshal feeds damaged snapshots, of the current format and the
// legacy one, to Unmarshal: it must refuse them or return a graph that
// passes Check (but for duplicate edges, which snapshots of the current
// format are not searched for) and can be searched and grown, never panic.
// The checksum is recomputed so that the fuzzer reaches the structural
// checks.
func FuzzUnmarshal(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := clusteredData(rng, 300, 40)
	for _, legacy := range []bool{false, true} {
		for _, p := range []*Params{{TrainSize: 100, M: 4}, {Float: true, M: 4}} {
			g := build(f, d, L2, 200, p)
			g.Delete(3)
			testMarshalV2 = legacy
			b, _ := g.MarshalBinary()
			testMarshalV2 = false
			f.Add(b[:len(b)-4], uint32(0), byte(0))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, at uint32, x byte) {
		body = append([]byte(nil), body...)
		if len(body) > 0 {
			body[int(at)%len(body)] ^= x
		}
		b := append(body, 0, 0, 0, 0)
		sum := crcOf(body)
		b[len(b)-4], b[len(b)-3], b[len(b)-2], b[len(b)-1] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
		g, err := Unmarshal(b, d.vec)
		if err != nil {
			return
		}
		if err := g.cur.Load().check(false); err != nil {
			t.Fatalf("loaded graph fails Check: %v", err)
		}
		if g.Dimension() == 40 {
			g.Search(d.row(250), 5, 0, nil)
			g.Insert(1<<20, d.row(260))
		}
	})
}
