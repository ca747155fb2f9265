# kernels/cpu links OpenBLAS through cgo (cblas_sgemm); libopenblas0-pthread also takes over
# libblas.so.3 so that Debian's python3-torch (bench/teacher_cpu.py, the comparison in
# docs/bench/teacher.md) runs its GEMMs on a real BLAS rather than the reference one.
need_pkgs libopenblas-dev libopenblas0-pthread
