package storage

import "encoding/binary"

const (
	tagConfig    = 0x01
	tagNextNSID  = 0x02
	tagCatalog   = 0x03
	tagJob       = 0x04
	tagRestore   = 0x05 // a namespace restore in progress (RestoreKey)
	tagNamespace = 0x10

	subMeta   = 0x01
	subRecord = 0x02
	subState  = 0x03
)

// NSIDLen is the width of an encoded namespace id.
const NSIDLen = 8

var (
	configKey   = []byte{tagConfig, 'c', 'o', 'n', 'f', 'i', 'g'}
	nextNSIDKey = []byte{tagNextNSID, 'n', 's', 'i', 'd'}
)

// CatalogKey returns the catalog key of a namespace name.
func CatalogKey(name string) []byte {
	k := make([]byte, 1+len(name))
	k[0] = tagCatalog
	copy(k[1:], name)
	return k
}

// CatalogBounds returns the iteration bounds of the catalog entries whose
// names start with prefix.
func CatalogBounds(prefix string) (lower, upper []byte) {
	lower = CatalogKey(prefix)
	return lower, prefixEnd(lower)
}

// NamespacePrefix returns the prefix under which all keys of namespace nsid
// live.
func NamespacePrefix(nsid uint64) []byte {
	k := make([]byte, 1+NSIDLen)
	k[0] = tagNamespace
	binary.BigEndian.PutUint64(k[1:], nsid)
	return k
}

// NamespaceBounds returns [lower, upper) covering every key of namespace
// nsid and nothing else.
func NamespaceBounds(nsid uint64) (lower, upper []byte) {
	lower = NamespacePrefix(nsid)
	upper = NamespacePrefix(nsid + 1)
	if nsid == ^uint64(0) {
		upper = []byte{tagNamespace + 1}
	}
	return lower, upper
}

// MetaKey returns the key of namespace nsid's meta entry.
func MetaKey(nsid uint64) []byte {
	return append(NamespacePrefix(nsid), subMeta)
}

// StateKey returns the key of a derived-state entry of namespace nsid.
func StateKey(nsid uint64, name string) []byte {
	return append(append(NamespacePrefix(nsid), subState), name...)
}

// RecordKey returns the key of record id in namespace nsid.
func RecordKey(nsid uint64, id string) []byte {
	k := make([]byte, 0, 1+NSIDLen+1+len(id))
	k = append(k, NamespacePrefix(nsid)...)
	k = append(k, subRecord)
	return append(k, id...)
}

// RecordBounds returns the iteration bounds of the records of namespace
// nsid whose ids start with prefix.
func RecordBounds(nsid uint64, prefix string) (lower, upper []byte) {
	lower = RecordKey(nsid, prefix)
	upper = prefixEnd(lower)
	return lower, upper
}

// RecordID returns the record id encoded in a record key.
func RecordID(key []byte) string {
	return string(key[1+NSIDLen+1:])
}

// prefixEnd returns the smallest key greater than every key with prefix p.
// p always starts with a tag byte below 0xff, so the result exists.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	panic("storage: prefix has no end")
}

// JobKey returns the key of import job id.
func JobKey(id string) []byte {
	return append([]byte{tagJob}, id...)
}

// JobBounds returns the iteration bounds of all import jobs.
func JobBounds() (lower, upper []byte) {
	return []byte{tagJob}, []byte{tagJob + 1}
}

// RestoreKey returns the key marking namespace id nsid as being restored:
// its keys are not yet published in the catalog, and are removed if the
// restore does not finish.
func RestoreKey(nsid uint64) []byte {
	return append([]byte{tagRestore}, NamespacePrefix(nsid)[1:]...)
}

// RestoreBounds returns the iteration bounds of all restore markers.
func RestoreBounds() (lower, upper []byte) {
	return []byte{tagRestore}, []byte{tagRestore + 1}
}

// RestoreNSID returns the namespace id of a restore marker key.
func RestoreNSID(key []byte) (uint64, bool) {
	if len(key) != 1+NSIDLen || key[0] != tagRestore {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[1:]), true
}
