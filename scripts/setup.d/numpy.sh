# pipelines/export's interop test reads the --npy view (emb/*.npy) with numpy, as
# embedding-reader and autofaiss do: Debian 12's python3-numpy under /usr/bin/python3.
need_pkgs python3-numpy
