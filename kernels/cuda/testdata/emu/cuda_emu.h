// A CPU emulation of the CUDA C subset the kernels use, so the kernel sources compile with a
// host C++20 compiler and run on the CPU in tests (kernels/cuda/emu_test.go). Every CUDA
// thread is a fiber scheduled by driver.cc; blocks run one after another, so __shared__ can be
// a function-local static; __syncthreads waits for every live thread of the block and a warp
// shuffle for every live lane of the warp. Not a performance model: a correctness one.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
extern thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

#define UMT_EMU 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(n)
#define __align__(n) __attribute__((aligned(n)))

struct alignas(16) float4 {
  float x, y, z, w;
};

void emu_syncthreads();
void emu_shfl(void* v, int size, int lanemask);
inline void __syncthreads() { emu_syncthreads(); }

template <class T>
inline T __shfl_xor_sync(unsigned, T v, int o) {
  emu_shfl(&v, sizeof(T), o);
  return v;
}

inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
// A warp-wide mma.sync.m16n8k16 bf16 -> f32: every lane passes its fragments (PTX layouts,
// see attention_tc.cu); the scheduler runs the product once all 32 lanes have arrived.
void emu_mma_bf16(float* c, const unsigned* a, const unsigned* b);
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }

template <class A, class B>
inline auto min(A a, B b) -> decltype(a + b) { return a < b ? a : b; }
template <class A, class B>
inline auto max(A a, B b) -> decltype(a + b) { return a > b ? a : b; }

inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline int atomicCAS(int* p, int cmp, int val) {
  std::atomic_ref<int>(*p).compare_exchange_strong(cmp, val);
  return cmp;
}

// Kernel registry: each program's translation unit registers its kernels with a trampoline
// that unpacks cuLaunchKernel's void** parameters into a typed call.
using Tramp = std::function<void(void**)>;
void emu_register(const char* name, Tramp t);

template <class... A, std::size_t... I>
void emu_call(void (*f)(A...), void** p, std::index_sequence<I...>) {
  f(*static_cast<std::remove_reference_t<A>*>(p[I])...);
}
template <class... A>
Tramp emu_tramp(void (*f)(A...)) {
  return [f](void** p) { emu_call(f, p, std::index_sequence_for<A...>{}); };
}
struct EmuReg {
  EmuReg(const char* n, Tramp t) { emu_register(n, std::move(t)); }
};
