// End-to-end script for the official TypeScript client (@pinecone-database/pinecone
// 9.0.0) against `larch serve`, run by TestTypeScriptClient (tsclient_test.go).
// It follows the seeds' multitenancy walkthrough and document-replacement flow and
// checks every answer; any failed check throws and the process exits non-zero.
//
// Env: PINECONE_PKG (path of the installed package), PINECONE_CONTROLLER_HOST,
// PINECONE_API_KEY, IMPORT_URI (a directory of namespace folders of Parquet files).
'use strict';
const { Pinecone } = require(process.env.PINECONE_PKG);

let checks = 0;
function check(cond, what, got) {
  if (!cond) {
    throw new Error(`FAIL ${what}: got ${JSON.stringify(got)}`);
  }
  checks++;
  console.log(`ok ${what}`);
}
const near = (a, b) => Math.abs(a - b) < 1e-5;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const v8 = (x) => Array(8).fill(x);

async function expectError(p, name, what) {
  try {
    await p;
  } catch (e) {
    check(e.name === name, `${what} throws ${name}`, `${e.name}: ${e.message}`);
    return e;
  }
  check(false, `${what} throws ${name}`, 'no error');
}

async function main() {
  const pc = new Pinecone({
    apiKey: process.env.PINECONE_API_KEY,
    controllerHostUrl: process.env.PINECONE_CONTROLLER_HOST,
  });

  // 1. Create a serverless index (seed 000, step 1).
  const created = await pc.createIndex({
    name: 'multitenant-app', dimension: 8, metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    waitUntilReady: true,
  });
  check(created.status.ready === true, 'create index: ready', created.status);
  const desc = await pc.describeIndex('multitenant-app');
  check(desc.dimension === 8 && desc.metric === 'cosine' && desc.vectorType === 'dense', 'describe: dimension, metric, vector type', desc);
  check(desc.host.startsWith('http://127.0.0.1:'), 'describe: host with http://', desc.host);
  check(desc.spec.serverless.cloud === 'aws', 'describe: spec.serverless (legacy accessor)', desc.spec);
  const list = await pc.listIndexes();
  check(list.indexes.length === 1 && list.indexes[0].name === 'multitenant-app', 'list indexes', list);
  await expectError(pc.createIndex({ name: 'multitenant-app', dimension: 8, metric: 'cosine',
    spec: { serverless: { cloud: 'aws', region: 'us-east-1' } } }), 'PineconeConflictError', 'create existing index');
  await expectError(pc.describeIndex('no-such-index'), 'PineconeNotFoundError', 'describe missing index');

  // 2. Isolate tenant data: one namespace per tenant.
  const index = pc.index({ name: 'multitenant-app' });
  const t1 = index.namespace('tenant1');
  const t2 = index.namespace('tenant2');
  await t1.upsert({ records: [
    { id: 'A', values: v8(0.1) }, { id: 'B', values: v8(0.2) },
    { id: 'C', values: v8(0.3) }, { id: 'D', values: v8(0.4) }] });
  await t2.upsert({ records: [
    { id: 'E', values: v8(0.5) }, { id: 'F', values: v8(0.6) },
    { id: 'G', values: v8(0.7) }, { id: 'H', values: v8(0.8) }] });
  let stats = await index.describeIndexStats();
  check(stats.namespaces.tenant1.recordCount === 4 && stats.namespaces.tenant2.recordCount === 4 && stats.totalRecordCount === 8,
    'stats after upserts (read-your-writes)', stats);
  check(stats.dimension === 8, 'stats: dimension', stats);

  // Update record A's dense values in tenant1.
  const newA = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
  await t1.update({ id: 'A', values: newA });
  let f = await t1.fetch({ ids: ['A', 'E'] });
  check(Object.keys(f.records).join() === 'A' && f.records.A.values.every((x, i) => near(x, newA[i])),
    'update then fetch in tenant1 (E belongs to tenant2: absent)', f.records);

  // 3. Query one tenant.
  const q = await t2.query({ vector: v8(0.7), topK: 3, includeValues: true });
  check(q.matches.length === 3, 'query tenant2: 3 matches', q.matches);
  check(q.matches.every((m) => ['E', 'F', 'G', 'H'].includes(m.id) && near(m.score, 1) && m.values.length === 8),
    'query tenant2: only tenant2 ids, cosine 1, values included', q.matches);
  check(q.usage && q.usage.readUnits >= 1, 'query usage', q.usage);
  const qid = await t1.query({ id: 'A', topK: 4, includeMetadata: true });
  check(qid.matches[0].id === 'A' && near(qid.matches[0].score, 1) && qid.matches.length === 4, 'query by id', qid.matches);

  // 4. Offboard tenant1.
  await t1.deleteAll();
  stats = await index.describeIndexStats();
  check(!stats.namespaces.tenant1 || stats.namespaces.tenant1.recordCount === 0, 'tenant1 emptied', stats.namespaces);
  await index.deleteNamespace('tenant1');
  let nss = await index.listNamespaces();
  check(nss.namespaces.map((n) => n.name).join() === 'tenant2' && nss.totalCount === 1, 'tenant1 namespace deleted', nss);
  await expectError(index.describeNamespace('tenant1'), 'PineconeNotFoundError', 'describe deleted namespace');
  const d2 = await index.describeNamespace('tenant2');
  check(d2.name === 'tenant2' && Number(d2.recordCount) === 4, 'describe namespace tenant2', d2);

  // Document replacement (seed 001): chunks carry document_id; replace by
  // deleting by filter, then upserting the new chunks.
  const docs = index.namespace('docs');
  const chunk = (doc, n, version, x) => ({ id: `${doc}#chunk${n}`, values: v8(x).map((y, i) => y + i * 0.01 * n),
    metadata: { document_id: doc, version, tags: ['a', 'b'] } });
  await docs.upsert({ records: [chunk('doc1', 1, 1, 0.1), chunk('doc1', 2, 1, 0.2), chunk('doc1', 3, 1, 0.3), chunk('doc2', 1, 1, 0.9)] });
  let ids = await docs.listPaginated({ prefix: 'doc1#' });
  check(ids.vectors.map((v) => v.id).join() === 'doc1#chunk1,doc1#chunk2,doc1#chunk3', 'list ids by prefix', ids);
  const page1 = await docs.listPaginated({ limit: 2 });
  check(page1.vectors.length === 2 && page1.pagination && page1.pagination.next, 'list page 1 with a token', page1);
  const page2 = await docs.listPaginated({ limit: 2, paginationToken: page1.pagination.next });
  check(page2.vectors.map((v) => v.id).join() === 'doc1#chunk3,doc2#chunk1' && !page2.pagination, 'list page 2, last', page2);
  await docs.deleteMany({ filter: { document_id: { $eq: 'doc1' } } });
  ids = await docs.listPaginated({ prefix: 'doc1#' });
  check(ids.vectors.length === 0, 'delete by filter removed doc1 chunks', ids);
  await docs.upsert({ records: [chunk('doc1', 1, 2, 0.15), chunk('doc1', 2, 2, 0.25)] });
  const qd = await docs.query({ vector: v8(0.2), topK: 10, filter: { document_id: 'doc1' }, includeMetadata: true });
  check(qd.matches.length === 2 && qd.matches.every((m) => m.metadata.version === 2 && m.metadata.document_id === 'doc1'),
    'filtered query sees only the new chunks', qd.matches);
  await docs.update({ filter: { document_id: { $eq: 'doc1' } }, metadata: { reviewed: true } });
  const fm = await docs.fetchByMetadata({ filter: { reviewed: { $eq: true } } });
  check(Object.keys(fm.records).sort().join() === 'doc1#chunk1,doc1#chunk2' && fm.records['doc1#chunk1'].metadata.version === 2,
    'update by filter, then fetch by metadata', fm.records);
  await docs.update({ id: 'doc2#chunk1', metadata: { version: 3 } });
  f = await docs.fetch({ ids: ['doc2#chunk1'] });
  const md = f.records['doc2#chunk1'].metadata;
  check(md.version === 3 && md.document_id === 'doc2' && md.tags.join() === 'a,b', 'set_metadata merges', md);
  await docs.deleteOne({ id: 'doc2#chunk1' });
  await docs.deleteMany({ ids: ['doc1#chunk2', 'does-not-exist'] });
  ids = await docs.listPaginated();
  check(ids.vectors.map((v) => v.id).join() === 'doc1#chunk1', 'delete by ids', ids);
  stats = await index.describeIndexStats({ filter: { document_id: 'doc1' } });
  check(stats.namespaces.docs.recordCount === 1 && stats.namespaces.tenant2.recordCount === 0, 'stats with a filter (larch extension)', stats.namespaces);

  // Errors the client maps: a dimension mismatch is a 400.
  await expectError(t2.upsert({ records: [{ id: 'bad', values: [1, 2, 3] }] }), 'PineconeBadRequestError', 'upsert with a wrong dimension');
  await expectError(index.createNamespace({ name: 'tenant2' }), 'PineconeConflictError', 'create existing namespace');
  const ns3 = await index.createNamespace({ name: 'tenant3', schema: { fields: { genre: { filterable: true } } } });
  check(ns3.name === 'tenant3' && ns3.schema.fields.genre.filterable === true, 'create namespace answers its schema', ns3);
  const d3 = await index.describeNamespace('tenant3');
  check(d3.schema.fields.genre.filterable === true && d3.indexedFields.fields.join() === 'genre', 'describe namespace keeps its schema', d3);
  nss = await index.listNamespaces({ prefix: 'tenant' });
  check(nss.namespaces.map((n) => n.name).join() === 'tenant2,tenant3', 'create namespace with schema; list by prefix', nss);

  // Bulk import from a local Parquet directory.
  const imp = await index.startImport({ uri: process.env.IMPORT_URI, errorMode: 'abort' });
  check(typeof imp.id === 'string' && imp.id.length > 0, 'start import', imp);
  let job;
  for (let i = 0; i < 200; i++) {
    job = await index.describeImport(imp.id);
    if (['Completed', 'Failed', 'Cancelled'].includes(job.status)) break;
    await sleep(50);
  }
  check(job.status === 'Completed' && job.recordsImported === 50 && job.percentComplete === 100, 'import completed', job);
  check(job.createdAt instanceof Date && !isNaN(job.createdAt) && job.finishedAt instanceof Date, 'import dates', job);
  const imps = await index.listImports();
  check(imps.data.length === 1 && imps.data[0].id === imp.id, 'list imports', imps);
  stats = await index.describeIndexStats();
  check(stats.namespaces.imported.recordCount === 50, 'imported namespace counted', stats.namespaces);
  const qi = await index.namespace('imported').query({ id: 'imp-7', topK: 1 });
  check(qi.matches.length === 1 && qi.matches[0].id === 'imp-7', 'query an imported record', qi);

  // Integrated embedding (seed 001): an index for a model, text records
  // in, text searches out. The server maps pinecone-sparse-english-v0 to
  // larch's BM25 encoder (Config.BM25Models).
  const tfm = await pc.createIndexForModel({
    name: 'text-app', cloud: 'aws', region: 'us-east-1',
    embed: { model: 'pinecone-sparse-english-v0', fieldMap: { text: 'chunk_text' } },
    waitUntilReady: true,
  });
  check(tfm.embed.model === 'pinecone-sparse-english-v0' && tfm.embed.fieldMap.text === 'chunk_text' && tfm.vectorType === 'sparse',
    'create index for a model', { embed: tfm.embed, schema: tfm.schema });
  const ti = pc.index({ name: 'text-app' });
  await ti.upsertRecords({ namespace: 'docs', records: [
    { _id: 'r1', chunk_text: 'Apple pie with cinnamon and apple slices', category: 'dessert' },
    { id: 'r2', chunk_text: 'Banana bread recipe', category: 'dessert' },
    { _id: 'r3', chunk_text: 'Apple cider vinegar dressing', category: 'salad' },
  ] });
  const sr = await ti.searchRecords({ namespace: 'docs', query: { topK: 5, inputs: { text: 'apple' } }, fields: ['category'] });
  check(sr.result.hits.map((h) => h._id).join() === 'r1,r3' && sr.result.hits[0]._score > 0 && sr.result.hits[0].fields.category === 'dessert'
    && sr.result.hits[0].fields.chunk_text === undefined, 'search records by text', sr.result);
  const sf = await ti.searchRecords({ namespace: 'docs', query: { topK: 5, inputs: { text: 'apple banana' }, filter: { category: 'dessert' } } });
  check(sf.result.hits.map((h) => h._id).sort().join() === 'r1,r2' && sf.result.hits.every((h) => typeof h.fields.chunk_text === 'string'),
    'search records with a filter, all fields', sf.result);
  await expectError(index.upsertRecords({ namespace: 'docs', records: [{ _id: 'x', chunk_text: 'no model here' }] }),
    'PineconeBadRequestError', 'upsert records into an index without a model');
  await pc.deleteIndex('text-app');

  // Backups and restore jobs: a backup of the whole index while it
  // serves, an index created from it serving the backup's records.
  const before = await index.describeIndexStats();
  const qBefore = await t2.query({ vector: v8(0.7), topK: 3 });
  const bk = await pc.createBackup({ indexName: 'multitenant-app', name: 'nightly', description: 'before cleanup' });
  check(typeof bk.backupId === 'string' && bk.backupId.length === 36 && bk.status === 'Ready' && bk.sourceIndexName === 'multitenant-app'
    && bk.name === 'nightly' && bk.recordCount === before.totalRecordCount && bk.createdAt instanceof Date, 'create backup', bk);
  await t2.upsert({ records: [{ id: 'after-backup', values: v8(0.7) }] });
  const bl = await pc.listBackups({ indexName: 'multitenant-app' });
  check(bl.data.length === 1 && bl.data[0].backupId === bk.backupId, 'list index backups', bl);
  const pl = await pc.backups.list();
  check(pl.data.length === 1 && pl.data[0].description === 'before cleanup', 'list project backups', pl);
  const bd = await pc.describeBackup(bk.backupId);
  check(bd.backupId === bk.backupId && bd.namespaceCount === Object.keys(before.namespaces).length, 'describe backup', bd);
  await expectError(pc.describeBackup('00000000-0000-4000-8000-000000000000'), 'PineconeNotFoundError', 'describe a missing backup');
  await expectError(pc.createIndexFromBackup({ backupId: bk.backupId, name: 'multitenant-app' }), 'PineconeConflictError',
    'create an index from a backup under an existing name');
  const rj = await pc.createIndexFromBackup({ backupId: bk.backupId, name: 'restored-app', tags: { env: 'restored' } });
  check(typeof rj.restoreJobId === 'string' && rj.indexId === 'restored-app', 'create index from backup', rj);
  // The job runs on after the call, as hosted: poll it.
  let job2 = await pc.describeRestoreJob(rj.restoreJobId);
  for (let i = 0; i < 3000 && (job2.status === 'Pending' || job2.status === 'InProgress'); i++) {
    await new Promise((r) => setTimeout(r, 10));
    job2 = await pc.describeRestoreJob(rj.restoreJobId);
  }
  check(job2.status === 'Completed' && job2.percentComplete === 100 && job2.backupId === bk.backupId
    && job2.targetIndexName === 'restored-app' && job2.completedAt instanceof Date, 'describe restore job', job2);
  const rjl = await pc.restoreJobs.list();
  check(rjl.data.length === 1 && rjl.data[0].restoreJobId === rj.restoreJobId, 'list restore jobs', rjl);
  const rdesc = await pc.describeIndex('restored-app');
  check(rdesc.host !== desc.host && rdesc.dimension === 8 && rdesc.tags.env === 'restored', 'restored index: own host, settings', rdesc);
  const restored = pc.index({ name: 'restored-app' });
  const rstats = await restored.describeIndexStats();
  check(rstats.totalRecordCount === before.totalRecordCount, 'restored index: the backup\'s record count', rstats);
  const rq = await restored.namespace('tenant2').query({ vector: v8(0.7), topK: 3 });
  check(rq.matches.map((m) => m.id).join() === qBefore.matches.map((m) => m.id).join()
    && rq.matches.every((m, i) => near(m.score, qBefore.matches[i].score)), 'query the restored index: the source\'s answers at backup time', rq.matches);
  const rf = await restored.namespace('tenant2').fetch({ ids: ['after-backup', 'E'] });
  check(Object.keys(rf.records).join() === 'E', 'a write after the backup is not in the restored index', rf.records);
  await pc.deleteBackup(bk.backupId);
  await expectError(pc.describeBackup(bk.backupId), 'PineconeNotFoundError', 'describe a deleted backup');
  check((await restored.describeIndexStats()).totalRecordCount === before.totalRecordCount, 'restored index outlives its backup', null);
  await pc.deleteIndex('restored-app');

  // Configure and delete the index.
  const conf = await pc.indexes.configure('multitenant-app', { deletionProtection: 'enabled', tags: { env: 'test' } });
  check(conf.deletionProtection === 'enabled' && conf.tags.env === 'test', 'configure index', conf);
  await expectError(pc.deleteIndex('multitenant-app'), 'PineconeBadRequestError', 'delete a protected index');
  await pc.configureIndex({ name: 'multitenant-app', deletionProtection: 'disabled' });
  await pc.deleteIndex('multitenant-app');
  const after = await pc.listIndexes();
  check(after.indexes.length === 0, 'index deleted', after);
  console.log(`${checks} checks passed`);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  console.log(`${checks} checks passed before the failure`);
  process.exit(1);
});
