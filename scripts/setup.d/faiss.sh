# transforms/index links FAISS through cgo: Debian 12's libfaiss-dev (1.7.3, a static library
# and headers; it pulls a BLAS). python3-faiss opens our index files in the interop test.
need_pkgs g++ libfaiss-dev libopenblas-dev python3-faiss
