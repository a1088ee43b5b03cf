package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestGetMany reads random sets of keys, present and absent, adjacent and
// far apart, repeated and not, and checks each against Get.
func TestGetMany(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%05d", i)) }
	b := d.NewBatch()
	for i := 0; i < 3000; i += 1 + i%3 { // gaps: some keys absent
		b.Set(key(i), []byte(fmt.Sprint("v", i)))
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	checkGetMany(t, d, key, rng) // from the memtable
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d, err = Open(dir, Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	checkGetMany(t, d, key, rng) // from a table
}

func checkGetMany(t *testing.T, d *DB, key func(int) []byte, rng *rand.Rand) {
	for trial := 0; trial < 500; trial++ {
		var keys [][]byte
		start := rng.IntN(3100)
		for n := rng.IntN(12); n > 0; n-- {
			if rng.IntN(2) == 0 {
				start++ // adjacent
			} else {
				start = rng.IntN(3100)
			}
			keys = append(keys, key(start))
			if rng.IntN(8) == 0 {
				keys = append(keys, key(start)) // twice
			}
		}
		got := make([]string, len(keys))
		err := d.GetMany(keys, func(i int, v []byte) error {
			if got[i] != "" {
				t.Fatalf("key %d called twice", i)
			}
			got[i] = string(v)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			v, ok, err := d.Get(k)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				v = nil
			}
			if got[i] != string(v) {
				t.Fatalf("keys %q: %q read %q, Get %q", keys, k, got[i], v)
			}
		}
	}
}

// BenchmarkGetMany reads ten keys of a table of 100,000 ~700-byte values,
// adjacent ones (the chunks of one document) and random ones, by ten Gets
// and by GetMany.
func BenchmarkGetMany(b *testing.B) {
	dir := b.TempDir()
	d, err := Open(dir, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	key := func(i int) []byte { return []byte(fmt.Sprintf("doc-%06d#%d", i/10, i%10)) }
	val := make([]byte, 700)
	for i := 0; i < 100000; i += 1000 {
		bt := d.NewBatch()
		for j := i; j < i+1000; j++ {
			bt.Set(key(j), val)
		}
		if err := bt.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	if d, err = Open(dir, Options{NoSync: true}); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	sets := map[string]func() [][]byte{
		"adjacent": func() [][]byte {
			doc := rng.IntN(10000)
			ks := make([][]byte, 10)
			for i := range ks {
				ks[i] = key(doc*10 + (i*7)%10)
			}
			return ks
		},
		"random": func() [][]byte {
			ks := make([][]byte, 10)
			for i := range ks {
				ks[i] = key(rng.IntN(100000))
			}
			return ks
		},
	}
	for _, set := range []string{"adjacent", "random"} {
		b.Run(set+"/get", func(b *testing.B) {
			for b.Loop() {
				for _, k := range sets[set]() {
					if _, _, err := d.Get(k); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(set+"/getmany", func(b *testing.B) {
			for b.Loop() {
				if err := d.GetMany(sets[set](), func(int, []byte) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
