package storage

import (
	"bytes"
	"errors"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// GetMany reads several keys at once: it calls fn(i, v) for every keys[i]
// present, in key order, and skips the absent ones. v is valid only during
// the call. One iterator seeks to the keys in ascending order, so that
// keys near each other (the chunks of one document) are read from one
// block, where a Get per key would set up its own read of every level. A
// single key is a Get.
func (d *DB) GetMany(keys [][]byte, fn func(i int, v []byte) error) error {
	switch len(keys) {
	case 0:
		return nil
	case 1:
		v, closer, err := d.db.Get(keys[0])
		if errors.Is(err, pebble.ErrNotFound) {
			return nil
		}
		if err != nil {
			return wrapErr(d.dir, err)
		}
		err = fn(0, v)
		if cerr := closer.Close(); err == nil && cerr != nil {
			err = wrapErr(d.dir, cerr)
		}
		return err
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	last := keys[order[len(order)-1]]
	upper := append(append(make([]byte, 0, len(last)+1), last...), 0)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: keys[order[0]], UpperBound: upper})
	if err != nil {
		return wrapErr(d.dir, err)
	}
	valid := false // the iterator is at the last key found
	var prev []byte
	for _, i := range order {
		if valid && bytes.Equal(keys[i], prev) {
			valid = false // the same key again: seek back to it
		}
		prev = keys[i]
		// The key after the last one found is often the one sought (the
		// chunks of one document): a step is cheaper than a seek.
		c := 1
		if valid && it.Next() {
			c = bytes.Compare(it.Key(), keys[i])
		}
		if c < 0 || !valid {
			if !it.SeekGE(keys[i]) {
				break // no key from here on: none of the rest is present
			}
			c = bytes.Compare(it.Key(), keys[i])
		}
		valid = c == 0
		if c != 0 {
			continue // absent
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return wrapErr(d.dir, err)
		}
		if err := fn(i, v); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return wrapErr(d.dir, err)
	}
	return wrapErr(d.dir, it.Close())
}
