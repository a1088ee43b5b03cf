// Package storage is the only part of larch that speaks to Pebble. It owns
// the key layout, the record encoding and the handful of operations the
// library needs: point reads, bounded iteration, atomic batches and the O(1)
// namespace drop.
//
// # Key layout
//
// Every key starts with a one-byte tag that names its kind:
//
//	0x01 "config"                     index settings (JSON)
//	0x02 "nsid"                       next namespace id to hand out (8 bytes)
//	0x03 <namespace name>             catalog entry: namespace id + creation time
//	0x04 <job id>                     import job: status, progress, report (JSON)
//	0x10 <nsid: 8 bytes BE> 0x01      namespace meta: next row, count, bytes
//	0x10 <nsid: 8 bytes BE> 0x02 <id> one record
//	0x10 <nsid: 8 bytes BE> 0x03 ...  derived namespace state (snapshots)
//
// A namespace's keys all live under 0x10+nsid, whose width is fixed, so the
// key ranges of two namespaces are disjoint whatever their names or record
// ids: isolation holds by construction. Namespace ids are never reused, so a
// namespace dropped and created again under the same name shares nothing with
// its predecessor. Dropping a namespace is a catalog delete plus one range
// delete over [0x10+nsid, 0x10+nsid+1), committed in one synced batch.
package storage
