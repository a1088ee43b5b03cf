package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Pebble reads its write-ahead logs and its MANIFEST up to the first
// record that fails its checksum, and takes that record for the torn end
// of a write cut short by a crash: the records after it are dropped without
// an error, unless a later 32 KiB block of a log proves the damaged record
// had been synced. A flipped byte in any record of the last block of the
// newest log, or anywhere in the MANIFEST, thus silently loses every write
// from that record on (and a MANIFEST cut short forgets tables, which Pebble
// then deletes as obsolete).
//
// checkLogs closes most of that gap before Pebble opens the directory. A
// crash tears only the end of a log: no complete record can follow the torn
// one. So a damaged record followed by an intact record that was written
// after it is damage, not a torn end: for a log, an intact record whose
// header says the log had been synced past the damaged one (Pebble's own
// criterion, applied to the rest of the damaged record's block too); for
// the MANIFEST, which syncs each record before writing the next, any intact
// record that starts one. Damage to the very last record remains
// indistinguishable from a torn end: no record follows it to tell.

// The record format of Pebble's logs (github.com/cockroachdb/pebble/record):
// 32 KiB blocks of chunks, each a header (masked CRC-32C, length, encoding,
// then a log number and a synced offset in the newer formats) and a payload.
const (
	logBlockSize = 32 << 10
	legacyHeader = 7
	recycHeader  = legacyHeader + 4
	syncHeader   = recycHeader + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is Pebble's checksum of a chunk (internal/crc).
func maskedCRC(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b)
	return (c>>15 | c<<17) + 0xa282ead8
}

// chunkHeader returns the header size of a chunk encoding, 0 if invalid.
func chunkHeader(enc byte) int {
	switch {
	case enc >= 1 && enc <= 4:
		return legacyHeader
	case enc >= 5 && enc <= 8:
		return recycHeader
	case enc >= 9 && enc <= 12:
		return syncHeader
	}
	return 0
}

// checkLogs checks the write-ahead logs and the current MANIFEST in dir. It
// returns an error wrapping ErrCorrupt that names the file if one holds a
// damaged record followed by a record written after it.
func checkLogs(fs vfs.FS, dir string) error {
	names, err := fs.List(dir)
	if err != nil {
		return nil // Pebble reports an unreadable directory itself
	}
	sort.Strings(names)
	manifest := ""
	for _, name := range names {
		// marker.manifest.<iteration>.<MANIFEST-nnnnnn>: the last one
		// (in iteration order) names the current MANIFEST.
		if rest, ok := strings.CutPrefix(name, "marker.manifest."); ok {
			if i := strings.IndexByte(rest, '.'); i > 0 {
				manifest = rest[i+1:]
			}
		}
	}
	for _, name := range names {
		path := fs.PathJoin(dir, name)
		switch {
		case strings.HasSuffix(name, ".log"):
			num := strings.TrimSuffix(name, ".log")
			if i := strings.IndexByte(num, '-'); i >= 0 {
				num = num[:i] // a failover segment: nnnnnn-nnn.log
			}
			n, err := strconv.ParseUint(num, 10, 32)
			if err != nil {
				continue
			}
			if err := checkLog(fs, path, uint32(n), true); err != nil {
				return err
			}
		case name == manifest && manifest != "":
			if err := checkLog(fs, path, 0, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkLog checks one log (wal) or MANIFEST file.
func checkLog(fs vfs.FS, path string, num uint32, wal bool) error {
	f, err := fs.Open(path)
	if err != nil {
		return nil // Pebble reports it if it needs the file
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil
	}
	bad, ok := firstBadChunk(data, num, wal)
	if !ok {
		return nil
	}
	if later, ok := laterRecord(data, bad, num, wal); ok {
		return fmt.Errorf("%w: %s: the record at offset %d fails its checksum, yet the record at offset %d was written after it: "+
			"damage, not the torn end of a crash (Pebble would drop every write from offset %d on)",
			ErrCorrupt, path, bad, later, bad)
	}
	return nil
}

// firstBadChunk walks the chunks of a log as Pebble's reader does and
// returns the offset of the first one that is invalid, if any before the
// log's clean end.
func firstBadChunk(data []byte, num uint32, wal bool) (int, bool) {
	for b := 0; b < len(data); b += logBlockSize {
		blk := data[b:min(b+logBlockSize, len(data))]
		pos := 0
		for pos+legacyHeader <= len(blk) {
			sum := binary.LittleEndian.Uint32(blk[pos:])
			length := int(binary.LittleEndian.Uint16(blk[pos+4:]))
			enc := blk[pos+6]
			if sum == 0 && length == 0 && enc == 0 {
				if len(blk)-pos < syncHeader && allZero(blk[pos:]) {
					break // the zeroed end of a block
				}
				return b + pos, true
			}
			hs := chunkHeader(enc)
			if hs == 0 || (!wal && hs != legacyHeader) || pos+hs > len(blk) {
				return b + pos, true
			}
			if hs > legacyHeader {
				switch ln := binary.LittleEndian.Uint32(blk[pos+legacyHeader:]); {
				case ln == num+1:
					return 0, false // the EOF trailer: a clean end
				case ln != num:
					return b + pos, true
				}
			}
			end := pos + hs + length
			if end > len(blk) || maskedCRC(blk[pos+6:end]) != sum {
				return b + pos, true
			}
			pos = end
		}
		if len(blk) < logBlockSize {
			break
		}
	}
	return 0, false
}

// laterRecord looks past offset bad for an intact chunk written after the
// damaged one: in a log, one of this log whose synced offset passes bad; in
// a MANIFEST, one that starts a record.
func laterRecord(data []byte, bad int, num uint32, wal bool) (int, bool) {
	for p := bad + 1; p+legacyHeader <= len(data); p++ {
		enc := data[p+6]
		hs := chunkHeader(enc)
		if wal {
			if hs != syncHeader {
				continue
			}
		} else if enc != 1 && enc != 2 { // a full or first chunk
			continue
		}
		blkEnd := min((p/logBlockSize+1)*logBlockSize, len(data))
		if p+hs > blkEnd {
			continue
		}
		if wal && binary.LittleEndian.Uint32(data[p+legacyHeader:]) != num {
			continue
		}
		end := p + hs + int(binary.LittleEndian.Uint16(data[p+4:]))
		if end > blkEnd || maskedCRC(data[p+6:end]) != binary.LittleEndian.Uint32(data[p:]) {
			continue
		}
		if wal && binary.LittleEndian.Uint64(data[p+recycHeader:]) <= uint64(bad) {
			continue
		}
		return p, true
	}
	return 0, false
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
