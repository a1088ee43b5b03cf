#!/usr/bin/env bash
# The seeds' REST calls, as curl, against `larch serve`:
# multitenancy (create an index, upsert per tenant, update, query one
# tenant, offboard a tenant), replacing a document's chunks, dedicated read
# capacity, index stats, a bulk import, integrated embedding, and a backup
# restored into a new index.
#
# Start a server first (see README.md next to this file), then:
#   bash examples/serve/walkthrough.sh
# Env: CONTROL (default http://127.0.0.1:5080), PINECONE_API_KEY (if the
# server was started with -api-key), IMPORT_DIR (optional: a directory of
# namespace folders of Parquet files to import).
set -euo pipefail
CONTROL="${CONTROL:-http://127.0.0.1:5080}"
KEY="${PINECONE_API_KEY:-}"
H=(-H "Content-Type: application/json" -H "Api-Key: $KEY" -H "X-Pinecone-API-Version: 2025-10")
say() { printf '\n# %s\n' "$*"; }
call() { curl -sS --fail-with-body "${H[@]}" "$@"; echo; }

say "1. Create a serverless index (seed 000)"
call "$CONTROL/indexes" -d '{
  "name": "multitenant-app", "dimension": 8, "metric": "cosine",
  "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}}
}'

say "Its host (each index has its own port; the scheme is included)"
INDEX_HOST=$(curl -sS "${H[@]}" "$CONTROL/indexes/multitenant-app" | sed -n 's/.*"host":"\([^"]*\)".*/\1/p')
echo "$INDEX_HOST"

say "2. Upsert tenant1's and tenant2's records, one namespace each"
call "$INDEX_HOST/vectors/upsert" -d '{
  "namespace": "tenant1",
  "vectors": [
    {"id": "A", "values": [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]},
    {"id": "B", "values": [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]},
    {"id": "C", "values": [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]},
    {"id": "D", "values": [0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]}
  ]
}'
call "$INDEX_HOST/vectors/upsert" -d '{
  "namespace": "tenant2",
  "vectors": [
    {"id": "E", "values": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]},
    {"id": "F", "values": [0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]},
    {"id": "G", "values": [0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]},
    {"id": "H", "values": [0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]}
  ]
}'

say "Update record A's values in tenant1"
call "$INDEX_HOST/vectors/update" -d '{
  "id": "A", "values": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "namespace": "tenant1"
}'

say "3. Query tenant2 only"
call "$INDEX_HOST/query" -d '{
  "namespace": "tenant2", "vector": [0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7],
  "topK": 3, "includeValues": true
}'

say "4. Offboard tenant1: delete all its records, then the namespace"
call "$INDEX_HOST/vectors/delete" -d '{"deleteAll": true, "namespace": "tenant1"}'
call -X DELETE "$INDEX_HOST/namespaces/tenant1"
call "$INDEX_HOST/namespaces"

say "Replace a document's chunks (seed 001): upsert, delete by metadata, upsert the new version"
call "$INDEX_HOST/vectors/upsert" -d '{
  "namespace": "docs",
  "vectors": [
    {"id": "doc1#chunk1", "values": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "metadata": {"document_id": "doc1", "version": 1}},
    {"id": "doc1#chunk2", "values": [0.2, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "metadata": {"document_id": "doc1", "version": 1}},
    {"id": "doc2#chunk1", "values": [0.9, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "metadata": {"document_id": "doc2", "version": 1}}
  ]
}'
call "$INDEX_HOST/vectors/list?namespace=docs&prefix=doc1%23"
call "$INDEX_HOST/vectors/delete" -d '{"namespace": "docs", "filter": {"document_id": {"$eq": "doc1"}}}'
call "$INDEX_HOST/vectors/upsert" -d '{
  "namespace": "docs",
  "vectors": [
    {"id": "doc1#chunk1", "values": [0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "metadata": {"document_id": "doc1", "version": 2}}
  ]
}'
call "$INDEX_HOST/query" -d '{
  "namespace": "docs", "vector": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], "topK": 5,
  "filter": {"document_id": {"$eq": "doc1"}}, "includeMetadata": true
}'
call "$INDEX_HOST/vectors/update" -d '{
  "namespace": "docs", "filter": {"document_id": {"$eq": "doc1"}}, "setMetadata": {"reviewed": true}, "dryRun": true
}'
call "$INDEX_HOST/vectors/fetch?namespace=docs&ids=doc1%23chunk1&ids=doc2%23chunk1"
call "$INDEX_HOST/vectors/fetch_by_metadata" -d '{"namespace": "docs", "filter": {"version": {"$gte": 2}}, "limit": 10}'

say "Index stats (a filter is a larch extension)"
call -X POST "$INDEX_HOST/describe_index_stats"
call "$INDEX_HOST/describe_index_stats" -d '{"filter": {"document_id": "doc2"}}'

say "Dedicated read capacity (seed 001): 2 shards, 1 replica; then 0 replicas pauses the index"
call -X PATCH "$CONTROL/indexes/multitenant-app" -d '{
  "spec": {"serverless": {"read_capacity": {"mode": "Dedicated",
    "dedicated": {"node_type": "b1", "scaling": "Manual", "manual": {"shards": 2, "replicas": 1}}}}}
}'
call -X PATCH "$CONTROL/indexes/multitenant-app" -d '{
  "spec": {"serverless": {"read_capacity": {"mode": "Dedicated", "dedicated": {"manual": {"replicas": 0}}}}}
}'
echo "a query while paused is refused (412):"
curl -sS "${H[@]}" "$INDEX_HOST/query" -d '{"namespace": "docs", "vector": [1,1,1,1,1,1,1,1], "topK": 1}'; echo
call -X PATCH "$CONTROL/indexes/multitenant-app" -d '{"read_capacity": {"mode": "OnDemand"}}'

if [ -n "${IMPORT_DIR:-}" ]; then
  say "Bulk import from $IMPORT_DIR (<dir>/<namespace>/*.parquet)"
  ID=$(curl -sS --fail-with-body "${H[@]}" "$INDEX_HOST/bulk/imports" \
    -d "{\"uri\": \"file://$IMPORT_DIR\", \"errorMode\": {\"onError\": \"continue\"}}" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  echo "import $ID started"
  for _ in $(seq 100); do   # follow it until it ends
    JOB=$(curl -sS "${H[@]}" "$INDEX_HOST/bulk/imports/$ID")
    case "$JOB" in *'"status":"Completed"'*|*'"status":"Failed"'*|*'"status":"Cancelled"'*) break ;; esac
    sleep 0.2
  done
  echo "$JOB"
  call "$INDEX_HOST/bulk/imports"
fi

say "Integrated embedding (seed 001): an index for a model, text in, text out"
# bm25 is larch's BM25 encoder; start the server with
# -bm25-models pinecone-sparse-english-v0 to accept that name for it, or
# -embed-model NAME=URL for a dense model served by an embeddings server.
TEXT_HOST=$(curl -sS --fail-with-body "${H[@]}" "$CONTROL/indexes/create-for-model" -d '{
  "name": "text-app", "cloud": "aws", "region": "us-east-1",
  "embed": {"model": "bm25", "field_map": {"text": "chunk_text"}}
}' | sed -n 's/.*"host":"\([^"]*\)".*/\1/p')
curl -sS --fail-with-body -H "Api-Key: $KEY" -H "Content-Type: application/x-ndjson" \
  "$TEXT_HOST/records/namespaces/docs/upsert" --data-binary '{"_id": "r1", "chunk_text": "Apple pie with cinnamon and apple slices", "category": "dessert"}
{"_id": "r2", "chunk_text": "Banana bread recipe", "category": "dessert"}
{"_id": "r3", "chunk_text": "Apple cider vinegar dressing", "category": "salad"}'
call "$TEXT_HOST/records/namespaces/docs/search" -d '{
  "query": {"inputs": {"text": "apple"}, "top_k": 2, "filter": {"category": "dessert"}},
  "fields": ["chunk_text"]
}'
call -X DELETE "$CONTROL/indexes/text-app"

say "Back up the index while it serves, restore it into a new index"
BACKUP=$(curl -sS --fail-with-body "${H[@]}" "$CONTROL/indexes/multitenant-app/backups" \
  -d '{"name": "nightly", "description": "before offboarding"}' | sed -n 's/.*"backup_id":"\([^"]*\)".*/\1/p')
call "$CONTROL/indexes/multitenant-app/backups"
JOB=$(curl -sS --fail-with-body "${H[@]}" "$CONTROL/backups/$BACKUP/create-index" \
  -d '{"name": "multitenant-restored", "deletion_protection": "disabled"}' | sed -n 's/.*"restore_job_id":"\([^"]*\)".*/\1/p')
# The job runs on after the call: wait until it is no longer Pending or InProgress.
for _ in $(seq 300); do
  curl -sS "${H[@]}" "$CONTROL/restore-jobs/$JOB" | grep -q '"status":"\(Pending\|InProgress\)"' || break
  sleep 0.1
done
call "$CONTROL/restore-jobs/$JOB"
RESTORED_HOST=$(curl -sS "${H[@]}" "$CONTROL/indexes/multitenant-restored" | sed -n 's/.*"host":"\([^"]*\)".*/\1/p')
call "$RESTORED_HOST/describe_index_stats" -d '{}'
call -X DELETE "$CONTROL/indexes/multitenant-restored"
call -X DELETE "$CONTROL/backups/$BACKUP"

say "Delete the index"
call -X DELETE "$CONTROL/indexes/multitenant-app"
call "$CONTROL/indexes"
