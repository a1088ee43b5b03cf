package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
)

// The sentinels the storage layer's errors wrap. The larch package exports
// them under the same names, so that callers test with errors.Is.
var (
	// ErrCorrupt reports stored data that fails a checksum or cannot be
	// decoded: a damaged table, log or manifest file, or a value that does
	// not parse.
	ErrCorrupt = errors.New("larch: data corrupt")
	// ErrNoSpace reports a write refused because the file system holding
	// the index is (nearly) full.
	ErrNoSpace = errors.New("larch: no space left for the index")
	// ErrLocked reports an index directory that another Open holds, in this
	// process or another.
	ErrLocked = errors.New("larch: index directory in use")
)

// wrapErr translates an error from Pebble: corruption wraps ErrCorrupt and
// names the damaged file, a full disk wraps ErrNoSpace. Other errors are
// returned as they are.
func wrapErr(dir string, err error) error {
	switch {
	case err == nil || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNoSpace):
		return err
	case pebble.IsCorruptionError(err):
		return corrupt(dir, err)
	case isNoSpace(err):
		return fmt.Errorf("%w: %s: %v", ErrNoSpace, dir, err)
	}
	return err
}

// wrapOpenErr is wrapErr for Open's errors, where Pebble's consistency
// check reports a table of the wrong size or missing (cut short, or
// deleted) without marking it as corruption.
func wrapOpenErr(dir string, err error) error {
	if err != nil && !pebble.IsCorruptionError(err) {
		msg := err.Error()
		if strings.Contains(msg, "object size mismatch") || consistencyErr.MatchString(msg) {
			return corrupt(dir, err)
		}
		// larch always opens with Pebble's default comparer and merger:
		// other names read from the OPTIONS file mean it is damaged.
		if strings.Contains(msg, "name from file") {
			if f := latestOptions(dir); f != "" {
				return fmt.Errorf("%w: %s: %v", ErrCorrupt, f, err)
			}
		}
	}
	return wrapErr(dir, err)
}

// consistencyErr matches Pebble's report of a table it cannot find.
var consistencyErr = regexp.MustCompile(`(^|\n)L\d: \d{6}: `)

// pebbleFile matches the names of the files Pebble writes.
var pebbleFile = regexp.MustCompile(`\b(\d{6}\.(sst|log|blob)|\d{6}-\d{3}\.log|MANIFEST-\d{6}|OPTIONS-\d{6})\b`)

// corrupt wraps a corruption error with ErrCorrupt and the path of the
// damaged file: the one Pebble reports, or the first file the message
// names, or else the directory.
func corrupt(dir string, err error) error {
	file := ""
	if info := pebble.ExtractDataCorruptionInfo(err); info != nil && info.Path != "" {
		file = info.Path
	} else if m := pebbleFile.FindString(err.Error()); m != "" {
		file = filepath.Join(dir, m)
	} else if strings.Contains(err.Error(), "key=value") {
		file = latestOptions(dir) // a damaged OPTIONS file
	}
	if file == "" {
		file = "a file of " + dir
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, file, err)
}

// latestOptions returns the path of the newest OPTIONS file in dir, or "".
func latestOptions(dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "OPTIONS-*"))
	if len(m) == 0 {
		return ""
	}
	sort.Strings(m)
	return m[len(m)-1]
}

// isNoSpace reports whether err is the operating system's "no space left on
// device" (or "quota exceeded").
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
