// Package cuda is the GPU backend of package kernels: it implements [kernels.Backend] and
// [kernels.Trainer] on one NVIDIA GPU without needing CUDA at build time.
//
// Why this shape: the same umt binary must run on CPU-only hosts (Beam workers, laptops, CI) and
// use the GPU where one is present, and it must build with CGO_ENABLED=0. So nothing here links
// CUDA. [Open] loads the driver (libcuda.so.1), cuBLASLt and NVRTC with purego's Dlopen at run
// time, searching the usual places (see [SearchDirs]; UMT_CUDA_LIB_DIR overrides them), and
// returns an error that says exactly why the GPU is not used when any step fails: a library is
// missing, a symbol is missing, cuInit failed with "no device", the GPU is too old. Importing
// the package only registers the backend with [kernels.Open] (kind "cuda"); nothing panics or
// exits on a machine without a GPU.
//
// Kernels are CUDA C sources embedded in the binary (*.cu beside this file). On first use they
// are compiled by NVRTC for the compute capability of the present GPU (a CUBIN for sm_90 on
// Hopper when NVRTC knows the architecture, otherwise PTX for the newest architecture NVRTC
// knows, which the driver JIT-compiles) and cached on disk under the user cache directory,
// keyed by sha256 of source, options, architecture and NVRTC version (see [CacheKey]).
//
// GEMMs go through cuBLASLt with float32 operands; [Options.Precision] selects the compute
// path: exact float32, TF32 or bfloat16 tensor cores with float32 accumulation. Elementwise
// ops, LayerNorm, softmax, attention (FlashAttention-style: key/value tiles in shared memory,
// online softmax, no Lq×Lk matrix in global memory unless Probs are asked for; on bf16 tensor
// cores with mma.sync for head size 64 in the BF16 precision), gathers and scatters, the
// alignment loss and fused AdamW are the embedded kernels.
//
// Device memory comes from a caching pool ([pool]) with accounting: Stats().LiveBytes counts
// what the caller holds, exactly as kernels/cpu counts it, so tests can assert that it returns
// to zero. Everything runs on the legacy default stream, so operations are ordered; errors
// from asynchronous work surface at Sync or Download, per the kernels conventions.
//
// Programs reach the GPU through kernels.Open ("auto", "cuda", "cuda:N"), which the CLI's
// --device flag feeds; linking this package (a blank import in main) is what makes it openable.
package cuda
