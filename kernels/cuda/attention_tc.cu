// Attention forward on bfloat16 tensor cores (mma.sync m16n8k16, float32 accumulation), the
// FlashAttention-2 scheme for head size 64: a block of 4 warps owns 64 query rows of one
// (batch, head), each warp 16 rows. K and V tiles of 64 keys are converted to bf16 in shared
// memory (V transposed, so a key pair of one dimension is one 32-bit word). S = Q K^T stays in
// registers; the online softmax works on its rows (a row spread over the 4 threads of a quad);
// P is repacked from the S accumulators into A fragments without touching memory and O += P V.
// Used when the backend's precision is bf16 (the autocast-equivalent path); the float32
// kernels in attention.cu remain the reference. Layout and arguments as attn_fwd_d64.
//
// Fragment layouts (PTX ISA, mma.m16n8k16 .bf16): with g = lane/4 and q = lane%4,
//   A (16x16, row): reg0 = (row g, cols 2q, 2q+1), reg1 = (row g+8, same cols),
//                   reg2 = (row g, cols 2q+8, 2q+9), reg3 = (row g+8, cols 2q+8, 2q+9)
//   B (16x8, col):  reg0 = (rows 2q, 2q+1 of column g), reg1 = (rows 2q+8, 2q+9 of column g)
//   C (16x8, f32):  c0, c1 = (row g, cols 2q, 2q+1), c2, c3 = (row g+8, same cols)
// The lower 16 bits of a register hold the element with the lower index.

#define TC_D 64
#define TC_BK 64
#define TC_PAD 8

__device__ __forceinline__ unsigned bf16_bits(float f) {  // round to nearest even (finite f)
  unsigned u = __float_as_uint(f);
  u += 0x7fffu + ((u >> 16) & 1u);
  return u >> 16;
}
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) { return bf16_bits(lo) | (bf16_bits(hi) << 16); }

__device__ __forceinline__ void mma_bf16_16816(float* c, const unsigned* a, const unsigned* b) {
#if defined(UMT_EMU)
  emu_mma_bf16(c, a, b);
#elif __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

extern "C" __global__ void __launch_bounds__(128) attn_fwd_tc_d64(float* O, float* lse, const float* Q, const float* K,
                                                                  const float* V, const float* keyBias, int H, int Lq,
                                                                  int Lk, int Dh, float scale, i64 qRow, i64 qBatch,
                                                                  i64 kvRow, i64 kvBatch) {
  __shared__ __align__(16) unsigned short Ks[TC_BK][TC_D + TC_PAD];  // [key][dim]
  __shared__ __align__(16) unsigned short Vt[TC_D][TC_BK + TC_PAD];  // [dim][key]
  int bh = blockIdx.y, b = bh / H, h = bh % H;
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  int r0 = blockIdx.x * 64 + warp * 16 + g, r1 = r0 + 8;  // this thread's two query rows
  const float* qb = Q + b * qBatch + h * TC_D;
  const float* q0 = qb + (i64)min(r0, Lq - 1) * qRow;
  const float* q1 = qb + (i64)min(r1, Lq - 1) * qRow;
  unsigned qa[4][4];  // A fragments of Q (scaled) for the 4 k-steps of 16 dims
#pragma unroll
  for (int kk = 0; kk < 4; kk++) {
    int c = kk * 16 + 2 * q;
    qa[kk][0] = pack_bf16(q0[c] * scale, q0[c + 1] * scale);
    qa[kk][1] = pack_bf16(q1[c] * scale, q1[c + 1] * scale);
    qa[kk][2] = pack_bf16(q0[c + 8] * scale, q0[c + 9] * scale);
    qa[kk][3] = pack_bf16(q1[c + 8] * scale, q1[c + 9] * scale);
  }
  float o[8][4];  // O accumulators: 8 tiles of 8 dims
#pragma unroll
  for (int t = 0; t < 8; t++) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // l: this thread's partial row sums
  const float* kb = K + b * kvBatch + h * TC_D;
  const float* vb = V + b * kvBatch + h * TC_D;
  for (int k0 = 0; k0 < Lk; k0 += TC_BK) {
    int nk = min(TC_BK, Lk - k0);
    __syncthreads();
    for (int e = threadIdx.x; e < TC_BK * TC_D; e += 128) {
      int r = e / TC_D, d = e % TC_D;
      float kv = 0.f, vv = 0.f;
      if (r < nk) {
        kv = kb[(i64)(k0 + r) * kvRow + d];
        vv = vb[(i64)(k0 + r) * kvRow + d];
      }
      Ks[r][d] = (unsigned short)bf16_bits(kv);
      Vt[d][r] = (unsigned short)bf16_bits(vv);
    }
    __syncthreads();
    float s[8][4];  // S tile: 16 rows x 64 keys (8 tiles of 8 keys)
#pragma unroll
    for (int t = 0; t < 8; t++) {
      s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < 4; kk++) {
        unsigned bb[2];
        bb[0] = *reinterpret_cast<const unsigned*>(&Ks[t * 8 + g][kk * 16 + 2 * q]);
        bb[1] = *reinterpret_cast<const unsigned*>(&Ks[t * 8 + g][kk * 16 + 2 * q + 8]);
        mma_bf16_16816(s[t], qa[kk], bb);
      }
    }
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int t = 0; t < 8; t++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int key = t * 8 + 2 * q + (e & 1);
        float v = s[t][e];
        if (key >= nk) {
          v = -INFINITY;
        } else if (keyBias) {
          v += keyBias[(i64)b * Lk + k0 + key];
        }
        s[t][e] = v;
        mx[e >> 1] = fmaxf(mx[e >> 1], v);
      }
#pragma unroll
    for (int r = 0; r < 2; r++) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(FULL_MASK, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(FULL_MASK, mx[r], 2));
      float corr = (m[r] == -INFINITY) ? 0.f : expf(m[r] - mx[r]);
      m[r] = mx[r];
      l[r] *= corr;
#pragma unroll
      for (int t = 0; t < 8; t++) {
        o[t][2 * r] *= corr;
        o[t][2 * r + 1] *= corr;
      }
    }
#pragma unroll
    for (int t = 0; t < 8; t++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        float p = expf(s[t][e] - m[e >> 1]);
        s[t][e] = p;
        l[e >> 1] += p;
      }
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {  // 16 keys per step: S tiles 2kk and 2kk+1
      unsigned pa[4];
      pa[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
      pa[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
      pa[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int t = 0; t < 8; t++) {
        unsigned bb[2];
        bb[0] = *reinterpret_cast<const unsigned*>(&Vt[t * 8 + g][kk * 16 + 2 * q]);
        bb[1] = *reinterpret_cast<const unsigned*>(&Vt[t * 8 + g][kk * 16 + 2 * q + 8]);
        mma_bf16_16816(o[t], pa, bb);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    l[r] += __shfl_xor_sync(FULL_MASK, l[r], 1);
    l[r] += __shfl_xor_sync(FULL_MASK, l[r], 2);
  }
  i64 w = (i64)H * TC_D;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    int row = r == 0 ? r0 : r1;
    if (row >= Lq) continue;
    float inv = 1.0f / l[r];
    float* op = O + ((i64)b * Lq + row) * w + h * TC_D;
#pragma unroll
    for (int t = 0; t < 8; t++) {
      op[t * 8 + 2 * q] = o[t][2 * r] * inv;
      op[t * 8 + 2 * q + 1] = o[t][2 * r + 1] * inv;
    }
    if (lse && q == 0) lse[(i64)bh * Lq + row] = m[r] + logf(l[r]);
  }
}
