// Emulated CUDA driver API (the subset kernels/cuda loads), cuBLASLt (a float64-accumulating
// column-major GEMM that rounds inputs like the requested compute type) and NVRTC (accepts
// everything; the kernels are already compiled into this library). Built into libcuda.so.1,
// libcublasLt.so.12 and libnvrtc.so.12 by emu_test.go.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cuda_emu.h"

thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

static std::map<std::string, Tramp>& registry() {
  static std::map<std::string, Tramp> r;
  return r;
}
void emu_register(const char* name, Tramp t) { registry()[name] = std::move(t); }

struct Warp {
  explicit Warp(int n) : bar(n) {}
  std::barrier<> bar;
  alignas(8) unsigned char buf[32][8];
};
static std::barrier<>* g_block;
static std::vector<std::unique_ptr<Warp>> g_warps;
static thread_local int t_lin;

void emu_syncthreads() { g_block->arrive_and_wait(); }
void emu_shfl(void* v, int size, int o) {
  Warp& w = *g_warps[t_lin / 32];
  int lane = t_lin % 32;
  std::memcpy(w.buf[lane], v, size);
  w.bar.arrive_and_wait();
  std::memcpy(v, w.buf[lane ^ o], size);
  w.bar.arrive_and_wait();
}

extern "C" {
int cuInit(unsigned) { return 0; }
int cuDriverGetVersion(int* v) { *v = 12040; return 0; }
int cuDeviceGetCount(int* n) { *n = 1; return 0; }
int cuDeviceGet(int* d, int) { *d = 0; return 0; }
int cuDeviceGetName(char* s, int n, int) { std::snprintf(s, n, "umt CPU emulator"); return 0; }
int cuDeviceGetAttribute(int* v, int a, int) {
  *v = a == 75 ? 9 : a == 76 ? 0 : a == 16 ? 2 : 0;
  return 0;
}
int cuDeviceTotalMem_v2(size_t* b, int) { *b = size_t(1) << 30; return 0; }
int cuDevicePrimaryCtxRetain(void** c, int) { *c = (void*)0x1; return 0; }
int cuDevicePrimaryCtxRelease_v2(int) { return 0; }
int cuCtxSetCurrent(void*) { return 0; }
int cuCtxSynchronize() { return 0; }
int cuMemGetInfo_v2(size_t* f, size_t* t) { *f = *t = size_t(1) << 30; return 0; }
int cuMemAlloc_v2(uint64_t* p, size_t n) {
  void* m = std::aligned_alloc(256, (n + 255) / 256 * 256);
  if (!m) return 2;  // CUDA_ERROR_OUT_OF_MEMORY
  std::memset(m, 0xff, n);  // garbage, like fresh device memory: Alloc must zero it
  *p = (uint64_t)m;
  return 0;
}
int cuMemFree_v2(uint64_t p) { std::free((void*)p); return 0; }
int cuMemcpyHtoD_v2(uint64_t d, const void* s, size_t n) { std::memcpy((void*)d, s, n); return 0; }
int cuMemcpyDtoH_v2(void* d, uint64_t s, size_t n) { std::memcpy(d, (void*)s, n); return 0; }
int cuMemcpyDtoD_v2(uint64_t d, uint64_t s, size_t n) { std::memmove((void*)d, (void*)s, n); return 0; }
int cuMemsetD32_v2(uint64_t d, unsigned v, size_t n) {
  auto* p = (unsigned*)d;
  for (size_t i = 0; i < n; i++) p[i] = v;
  return 0;
}
int cuModuleLoadData(void** m, const void*) { *m = (void*)0x2; return 0; }
int cuModuleUnload(void*) { return 0; }
int cuModuleGetFunction(void** f, void*, const char* name) {
  auto it = registry().find(name);
  if (it == registry().end()) return 500;  // CUDA_ERROR_NOT_FOUND
  *f = &it->second;
  return 0;
}
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned,
                   void*, void** params, void**) {
  Tramp& k = *static_cast<Tramp*>(f);
  int n = bx * by * bz;
  if (n <= 0 || n > 1024 || gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535) return 1;  // INVALID_VALUE
  std::barrier<> block(n);
  g_block = &block;
  g_warps.clear();
  for (int w = 0; w * 32 < n; w++) g_warps.push_back(std::make_unique<Warp>(std::min(32, n - w * 32)));
  std::vector<std::thread> ts;
  for (int t = 0; t < n; t++) {
    ts.emplace_back([&, t] {
      t_lin = t;
      threadIdx = dim3{unsigned(t % bx), unsigned(t / bx % by), unsigned(t / (bx * by))};
      blockDim = dim3{bx, by, bz};
      gridDim = dim3{gx, gy, gz};
      for (unsigned z = 0; z < gz; z++)
        for (unsigned y = 0; y < gy; y++)
          for (unsigned x = 0; x < gx; x++) {
            blockIdx = dim3{x, y, z};
            k(params);
            block.arrive_and_wait();
          }
    });
  }
  for (auto& t : ts) t.join();
  return 0;
}
int cuGetErrorName(int, const char** s) { *s = "CUDA_ERROR_EMULATED"; return 0; }
int cuGetErrorString(int, const char** s) { *s = "error in the CPU emulator"; return 0; }
}
