// Reads umt Arrow files with an independent Arrow implementation (apache-arrow for JS) and
// prints one JSON object per file, so Go tests can check that our format is readable outside
// Go. LZ4-frame compressed buffers are decoded with lz4js.
//
// Usage: node read_shard.js FILE.arrow...
'use strict';
const fs = require('fs');
const arrow = require('apache-arrow');
const lz4 = require('lz4js');

arrow.compressionRegistry.set(arrow.CompressionType.LZ4_FRAME, {
  decode: (data) => Uint8Array.from(lz4.decompress(data)),
});

function summarize(path) {
  const table = arrow.tableFromIPC(fs.readFileSync(path));
  const meta = Object.fromEntries(table.schema.metadata);
  const out = {
    path,
    rows: table.numRows,
    batches: table.batches.length,
    schema: meta['umt.schema'],
    schema_version: meta['umt.schema_version'],
    provenance: meta['umt.provenance'] ? JSON.parse(meta['umt.provenance']) : null,
    columns: table.schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable })),
    rows_sample: [],
  };
  if (meta['umt.schema'] !== 'clip') return out;
  for (let i = 0; i < table.numRows; i++) {
    const row = table.get(i);
    const frames = row.frames; // Uint8Array of T*S*S*3
    const feats = row.teacher_features.toArray(); // Uint16Array of float16 bits
    const tokens = row.teacher_tokens.toArray();
    let frameSum = 0;
    for (const b of frames) frameSum += b;
    out.rows_sample.push({
      clip_id: row.clip_id,
      source_uri: row.source_uri,
      span_start_s: row.span_start_s,
      caption: row.caption,
      label: row.label,
      frame_time_s: Array.from(row.frame_time_s.toArray()),
      frame_pts: Array.from(row.frame_pts.toArray(), Number),
      frames_len: frames.length,
      frames_sum: frameSum,
      teacher_layers: Array.from(row.teacher_layers.toArray()),
      teacher_tokens_len: tokens.length,
      teacher_tokens_last: tokens[tokens.length - 1],
      teacher_features_len: feats.length,
      teacher_features_first: Array.from(feats.slice(0, 4)),
      teacher_features_last: feats[feats.length - 1],
      teacher_cls_attn_first: row.teacher_cls_attn.toArray()[0],
      masks_len: row.masks === null ? null : row.masks.length,
    });
    const r = out.rows_sample[out.rows_sample.length - 1];
    if (meta['umt.schema_version'] !== '1') {
      r.padded_frames = row.padded_frames;
      r.damaged_frames = row.damaged_frames;
      r.extra_captions = Array.from(row.extra_captions.toArray());
      if (row.caption_ids !== undefined) {
        r.caption_ids = Array.from(row.caption_ids.toArray());
        r.caption_mask = Array.from(row.caption_mask.toArray());
      }
    }
  }
  return out;
}

for (const path of process.argv.slice(2)) {
  process.stdout.write(JSON.stringify(summarize(path)) + '\n');
}
