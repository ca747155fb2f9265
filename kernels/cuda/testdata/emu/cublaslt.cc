// Emulated cuBLASLt: enough of the API for kernels/cuda's GEMMs, computing column-major
// D = alpha op(A) op(B) + beta C (+ bias per row) in float64 after rounding the inputs as the
// compute type would (bf16: 8-bit mantissa, tf32: 11-bit, round to nearest even).
#include <cstdint>
#include <cstring>

struct Desc {
  int compute = 68, transa = 0, transb = 0;
  unsigned epilogue = 1;
  const float* bias = nullptr;
};
struct Layout {
  uint64_t rows, cols;
  int64_t ld, stride = 0;
  int batch = 1;
};

static float round_bits(float x, int keep) {  // keep mantissa bits (of 23), nearest even
  uint32_t u;
  std::memcpy(&u, &x, 4);
  int drop = 23 - keep;
  uint32_t half = 1u << (drop - 1), lsb = (u >> drop) & 1u;
  u = (u + half - 1 + lsb) & ~((1u << drop) - 1);
  std::memcpy(&x, &u, 4);
  return x;
}

extern "C" {
int cublasLtCreate(void** h) { *h = (void*)0x3; return 0; }
int cublasLtDestroy(void*) { return 0; }
size_t cublasLtGetVersion() { return 120000; }
int cublasLtMatmulDescCreate(Desc** d, int compute, int) {
  *d = new Desc;
  (*d)->compute = compute;
  return 0;
}
int cublasLtMatmulDescDestroy(Desc* d) { delete d; return 0; }
int cublasLtMatmulDescSetAttribute(Desc* d, int attr, const void* buf, size_t) {
  switch (attr) {
    case 3: d->transa = *(const int32_t*)buf; break;
    case 4: d->transb = *(const int32_t*)buf; break;
    case 7: d->epilogue = *(const uint32_t*)buf; break;
    case 8: d->bias = *(const float* const*)buf; break;
    default: return 7;  // INVALID_VALUE: an attribute the backend should not be setting
  }
  return 0;
}
int cublasLtMatrixLayoutCreate(Layout** l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
  if (type != 0 || ld < (int64_t)rows) return 7;
  *l = new Layout{rows, cols, ld};
  return 0;
}
int cublasLtMatrixLayoutDestroy(Layout* l) { delete l; return 0; }
int cublasLtMatrixLayoutSetAttribute(Layout* l, int attr, const void* buf, size_t) {
  if (attr == 5) l->batch = *(const int32_t*)buf;
  else if (attr == 6) l->stride = *(const int64_t*)buf;
  else return 7;
  return 0;
}
int cublasLtMatmulPreferenceCreate(void** p) { *p = (void*)0x4; return 0; }
int cublasLtMatmulPreferenceDestroy(void*) { return 0; }
int cublasLtMatmulPreferenceSetAttribute(void*, int, const void*, size_t) { return 0; }
int cublasLtMatmulAlgoGetHeuristic(void*, Desc*, Layout*, Layout*, Layout*, Layout*, void*, int, void* res, int* n) {
  std::memset(res, 0, 96);
  *n = 1;
  return 0;
}
int cublasLtMatmul(void*, Desc* d, const float* alpha, const float* A, Layout* la, const float* B, Layout* lb,
                   const float* beta, const float* C, Layout* lc, float* D, Layout*, const void*, void*, size_t,
                   void*) {
  int64_t m = lc->rows, n = lc->cols, k = d->transa ? la->rows : la->cols;
  int keep = d->compute == 75 ? 7 : d->compute == 77 ? 10 : 23;
  auto rd = [&](float x) { return keep < 23 ? round_bits(x, keep) : x; };
  for (int b = 0; b < lc->batch; b++) {
    const float* a = A + b * la->stride;
    const float* bb = B + b * lb->stride;
    const float* c = C + b * lc->stride;
    float* dd = D + b * lc->stride;
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double acc = 0;
        for (int64_t p = 0; p < k; p++) {
          float av = d->transa ? a[p + i * la->ld] : a[i + p * la->ld];
          float bv = d->transb ? bb[j + p * lb->ld] : bb[p + j * lb->ld];
          acc += double(rd(av)) * double(rd(bv));
        }
        double v = double(*alpha) * acc;
        if (*beta != 0) v += double(*beta) * c[i + j * lc->ld];
        if (d->epilogue == 4) v += d->bias[i];
        dd[i + j * lc->ld] = float(v);
      }
  }
  return 0;
}
}
