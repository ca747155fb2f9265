// Shared by every kernel program (prepended by compile.go): integer types, warp and block
// reductions. Kernels are extern "C" so the Go side finds them by their plain names.
typedef long long i64;

#define FULL_MASK 0xffffffffu
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
  return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
  return v;
}

// block_sum_d returns the sum of v over the block (blockDim.x a multiple of 32, at most 1024)
// to thread 0; sh must hold 32 doubles.
__device__ __forceinline__ double block_sum_d(double v, double* sh) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  v = warp_sum_d(v);
  if (lane == 0) sh[w] = v;
  __syncthreads();
  int nw = blockDim.x >> 5;
  v = (threadIdx.x < nw) ? sh[threadIdx.x] : 0.0;
  if (w == 0) v = warp_sum_d(v);
  return v;
}

// bad_index records the first out-of-range index (as position+1) for the host to report.
__device__ __forceinline__ void bad_index(int* err, i64 pos) {
  if (err) atomicCAS(err, 0, (int)(pos + 1));
}
