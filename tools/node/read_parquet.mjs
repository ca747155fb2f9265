// Reads a umt Parquet file (an embeddings export shard) with an independent Parquet
// implementation (hyparquet) and prints one JSON object: the row count, the leaf schema, the
// file's key-value metadata and every row (embeddings as arrays of numbers).
//
// Usage: node read_parquet.mjs FILE.parquet
import fs from 'node:fs';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';

const path = process.argv[2];
const buf = fs.readFileSync(path);
const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
const meta = parquetMetadata(file);
const rows = await parquetReadObjects({ file });
const kv = Object.fromEntries((meta.key_value_metadata || []).filter((e) => e.key !== 'ARROW:schema').map((e) => [e.key, e.value]));
const schema = meta.schema.map((s) => ({ name: s.name, type: s.type ?? null, repetition: s.repetition_type ?? null, logical: s.converted_type ?? null, logical_type: s.logical_type?.type ?? null }));
process.stdout.write(JSON.stringify({
  rows: Number(meta.num_rows), schema, metadata: kv,
  data: rows.map((r) => ({ clip_id: r.clip_id, source_uri: r.source_uri, span_start_s: r.span_start_s, span_end_s: r.span_end_s, caption: r.caption ?? null, embedding: Array.from(r.embedding),
    frame_embeddings: r.frame_embeddings ? Array.from(r.frame_embeddings) : null,
    text_embedding: r.text_embedding ? Array.from(r.text_embedding) : null })),
}));
