// Emulated CUDA driver API (the subset kernels/cuda loads), cuBLASLt (a float64-accumulating
// column-major GEMM that rounds inputs like the requested compute type) and NVRTC (accepts
// everything; the kernels are already compiled into this library). Built into libcuda.so.1,
// libcublasLt.so.12 and libnvrtc.so.12 by emu_test.go.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <ucontext.h>
#include <algorithm>
#include <vector>

#include "cuda_emu.h"

thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

static std::map<std::string, Tramp>& registry() {
  static std::map<std::string, Tramp> r;
  return r;
}
void emu_register(const char* name, Tramp t) { registry()[name] = std::move(t); }

// Each CUDA thread of a block is a fiber (ucontext) on the calling OS thread; a scheduler runs
// every runnable fiber until it blocks at __syncthreads or a warp shuffle or finishes. A warp's
// shuffle completes when all its live lanes wait at one (the scheduler exchanges the values);
// __syncthreads releases when every live thread of the block waits at it. Blocks run in turn.
enum State { RUN, AT_SYNC, AT_SHFL, AT_MMA, DONE };
constexpr size_t kStack = 128 << 10;
struct Fiber {
  ucontext_t ctx;
  State st = RUN;
  int lin = 0;
  dim3 tid;
  std::unique_ptr<char[]> stack;  // uninitialised: only what the fiber touches is paged in
  alignas(8) unsigned char val[8];
  int size = 0, o = 0;
  unsigned ma[4], mb[2];
  float* mc = nullptr;  // the lane's accumulators (on its stack, live while it waits)
};
static ucontext_t g_sched;
static Fiber* g_cur;
static Tramp* g_kernel;
static void** g_params;

void emu_syncthreads() {
  g_cur->st = AT_SYNC;
  swapcontext(&g_cur->ctx, &g_sched);
}
void emu_shfl(void* v, int size, int o) {
  Fiber* f = g_cur;
  std::memcpy(f->val, v, size);
  f->size = size;
  f->o = o;
  f->st = AT_SHFL;
  swapcontext(&f->ctx, &g_sched);
  std::memcpy(v, f->val, size);
}
void emu_mma_bf16(float* c, const unsigned* a, const unsigned* b) {
  Fiber* f = g_cur;
  std::memcpy(f->ma, a, sizeof f->ma);
  std::memcpy(f->mb, b, sizeof f->mb);
  f->mc = c;
  f->st = AT_MMA;
  swapcontext(&f->ctx, &g_sched);
}

static float bf16f(unsigned bits) {
  unsigned u = (bits & 0xffffu) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// warp_mma computes D = A B + C for one warp from its 32 lanes' fragments.
static void warp_mma(Fiber* lanes) {
  float A[16][16], B[16][8], C[16][8];
  for (int L = 0; L < 32; L++) {
    const Fiber& f = lanes[L];
    int g = L >> 2, q = L & 3;
    A[g][2 * q] = bf16f(f.ma[0]), A[g][2 * q + 1] = bf16f(f.ma[0] >> 16);
    A[g + 8][2 * q] = bf16f(f.ma[1]), A[g + 8][2 * q + 1] = bf16f(f.ma[1] >> 16);
    A[g][2 * q + 8] = bf16f(f.ma[2]), A[g][2 * q + 9] = bf16f(f.ma[2] >> 16);
    A[g + 8][2 * q + 8] = bf16f(f.ma[3]), A[g + 8][2 * q + 9] = bf16f(f.ma[3] >> 16);
    B[2 * q][g] = bf16f(f.mb[0]), B[2 * q + 1][g] = bf16f(f.mb[0] >> 16);
    B[2 * q + 8][g] = bf16f(f.mb[1]), B[2 * q + 9][g] = bf16f(f.mb[1] >> 16);
    C[g][2 * q] = f.mc[0], C[g][2 * q + 1] = f.mc[1], C[g + 8][2 * q] = f.mc[2], C[g + 8][2 * q + 1] = f.mc[3];
  }
  for (int L = 0; L < 32; L++) {
    int g = L >> 2, q = L & 3;
    int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * q, 2 * q + 1, 2 * q, 2 * q + 1};
    for (int e = 0; e < 4; e++) {
      double acc = C[rows[e]][cols[e]];
      for (int k = 0; k < 16; k++) acc += double(A[rows[e]][k]) * B[k][cols[e]];
      lanes[L].mc[e] = float(acc);
    }
  }
}

static void fiber_main() {
  (*g_kernel)(g_params);
  g_cur->st = DONE;  // uc_link returns to the scheduler
}

// run_block runs one block of fibers to completion; false on a deadlock (threads waiting at
// different barriers), which a correct kernel never reaches.
static bool run_block(std::vector<Fiber>& fs) {
  for (auto& f : fs) {
    f.st = RUN;
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.get();
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = &g_sched;
    makecontext(&f.ctx, fiber_main, 0);
  }
  int nw = (int(fs.size()) + 31) / 32;
  for (;;) {
    for (auto& f : fs) {
      if (f.st != RUN) continue;
      g_cur = &f;
      threadIdx = f.tid;
      swapcontext(&g_sched, &f.ctx);
    }
    bool released = false;
    for (int w = 0; w < nw; w++) {
      int lo = w * 32, hi = std::min(int(fs.size()), lo + 32), waiting = 0, live = 0, mma = 0;
      for (int i = lo; i < hi; i++) {
        if (fs[i].st != DONE) live++;
        if (fs[i].st == AT_SHFL) waiting++;
        if (fs[i].st == AT_MMA) mma++;
      }
      if (mma == 32) {  // mma.sync needs the whole warp
        warp_mma(&fs[lo]);
        for (int i = lo; i < hi; i++) fs[i].st = RUN;
        released = true;
        continue;
      }
      if (live == 0 || waiting != live) continue;
      unsigned char tmp[32][8];
      for (int i = lo; i < hi; i++) {
        if (fs[i].st != AT_SHFL) continue;
        int src = lo + ((i - lo) ^ fs[i].o);
        const Fiber& from = (src < hi && fs[src].st == AT_SHFL) ? fs[src] : fs[i];
        std::memcpy(tmp[i - lo], from.val, 8);
      }
      for (int i = lo; i < hi; i++)
        if (fs[i].st == AT_SHFL) {
          std::memcpy(fs[i].val, tmp[i - lo], 8);
          fs[i].st = RUN;
        }
      released = true;
    }
    if (released) continue;
    int live = 0, sync = 0;
    for (auto& f : fs) {
      if (f.st != DONE) live++;
      if (f.st == AT_SYNC) sync++;
    }
    if (live == 0) return true;
    if (sync != live) return false;
    for (auto& f : fs)
      if (f.st == AT_SYNC) f.st = RUN;
  }
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
  int n = bx * by * bz;
  if (n <= 0 || n > 1024 || gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535) return 1;  // INVALID_VALUE
  g_kernel = static_cast<Tramp*>(f);
  g_params = params;
  std::vector<Fiber> fs(n);
  for (int t = 0; t < n; t++) {
    fs[t].lin = t;
    fs[t].tid = dim3{unsigned(t % bx), unsigned(t / bx % by), unsigned(t / (bx * by))};
    fs[t].stack.reset(new char[kStack]);
  }
  blockDim = dim3{bx, by, bz};
  gridDim = dim3{gx, gy, gz};
  for (unsigned z = 0; z < gz; z++)
    for (unsigned y = 0; y < gy; y++)
      for (unsigned x = 0; x < gx; x++) {
        blockIdx = dim3{x, y, z};
        if (!run_block(fs)) {
          std::fprintf(stderr, "CUDA emulator: deadlock in block (%u,%u,%u): threads wait at different barriers\n", x, y, z);
          return 719;  // CUDA_ERROR_LAUNCH_FAILED
        }
      }
  return 0;
}
int cuGetErrorName(int, const char** s) { *s = "CUDA_ERROR_EMULATED"; return 0; }
int cuGetErrorString(int, const char** s) { *s = "error in the CPU emulator"; return 0; }
}
