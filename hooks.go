package larch

// testHooks are the broken modes and pauses that tests set for one index
// (Options.hooks), so that tests running in parallel cannot leak them into
// each other. The zero value is production behaviour.
type testHooks struct {
	// skipReconcile is the broken mode of the stale-snapshot test: loaded
	// graph snapshots are used as they are.
	skipReconcile bool
	// skipRetag is the broken mode of TestGraph_TagsAfterReopen: a loaded
	// graph keeps the tags of its snapshot (its rows).
	skipRetag bool
	// noNormOrder makes the builder insert a DotProduct namespace's
	// records in slot order, and never rebuild its graph when norms grow:
	// the broken mode of TestGraph_DotProduct's growing norms.
	noNormOrder bool
	// noGraphRepair is the broken mode of TestGraph_EveryRecordFindable:
	// the builder never repairs.
	noGraphRepair bool
	// nsid, when set, rewrites every namespace id handed out: the
	// isolation tests use it to prove they detect shared key ranges.
	nsid func(uint64) uint64
	// splitProgress breaks the exactly-once guarantee of imports on
	// purpose (progress committed apart from, and before, the records it
	// covers), so that the crash-resume tests can prove they detect lost
	// records.
	splitProgress bool
	// sparseSkipRemove is the broken mode of the sparse exactness tests:
	// deleted records keep their postings in the inverted index, and a
	// slot reused while it still has postings keeps them instead of its
	// new record's. The tests must then fail.
	sparseSkipRemove bool
	// bm25CountSlots is a broken mode of the BM25 statistics tests: N
	// counts the namespace's slots, those freed by deletes included,
	// instead of its live records. The tests must then fail.
	bm25CountSlots bool
	// afterCollapse, when set, is called once a load's arena is collapsed
	// into huge pages.
	afterCollapse func()
	// loadCount, when set, changes the record count a split load is
	// given, as if the stored one were off.
	loadCount func(uint64) uint64
	// snapshotRefused, when set, is called when a namespace load refuses
	// its graph snapshot as damaged, at once or once its checksum is
	// verified after the first query (dropGraph).
	snapshotRefused func()
	// skipVerify is the broken mode of TestGraph_SnapshotVerifiedLater: a
	// mapped snapshot's checksum is never verified.
	skipVerify bool
	// noLoadByRow makes every load put records in slots by key order,
	// never by row (loadSplitLocked): the comparison of the by-row load.
	noLoadByRow bool
	// snapshotLiveScan is the broken mode of the concurrent snapshot test:
	// records are read from the live database a few at a time, not from
	// one point-in-time view, so writes made meanwhile leak in half.
	snapshotLiveScan bool
	// restorePublishFirst is the broken mode of the restore crash test:
	// the namespace's catalog entry is published before its records are
	// written, so a crash in between leaves a partial namespace.
	restorePublishFirst bool
	// checkDecoded makes restores check records of the columns layout as
	// those of rows (values decoded), for comparison.
	checkDecoded bool
	// snapBlockBytes, when set, replaces snapBlockBytes: tests cut small
	// namespaces into many frames.
	snapBlockBytes int
	// snapNoHuff makes snapshots write version 2's sections (zstd with
	// entropy coding where Huffman coding would be used) and columns
	// without a zero mask.
	snapNoHuff bool
}

// noTestHooks is the production behaviour; it is never written.
var noTestHooks testHooks

// hooks returns the index's test hooks (Options.hooks), or the zero ones.
func (idx *Index) hooks() *testHooks {
	if idx.opts.hooks != nil {
		return idx.opts.hooks
	}
	return &noTestHooks
}

// hooks returns the namespace's test hooks (its index's), or the zero ones.
func (st *nsState) hooks() *testHooks {
	if st.th != nil {
		return st.th
	}
	return &noTestHooks
}
