# transforms/shard's interop test reads our Arrow shards with an independent implementation:
# the apache-arrow npm package (plus lz4js for LZ4-frame buffers) under Node.js, and
# pipelines/export's reads the Parquet export with hyparquet; installed
# project-locally into tools/node/node_modules (gitignored) from the committed package-lock.
# Debian 12's nodejs (18.x) is enough; a newer node already on PATH is used as is.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  need_pkgs nodejs npm
fi
node_dir="$root/tools/node"
if [[ ! -d "$node_dir/node_modules/apache-arrow" || ! -d "$node_dir/node_modules/lz4js" || ! -d "$node_dir/node_modules/hyparquet" ||
      "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]]; then
  echo "setup: npm ci in tools/node (apache-arrow and hyparquet for the interop tests)" >&2
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
