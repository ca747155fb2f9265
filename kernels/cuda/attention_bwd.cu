// Attention backward from the saved probabilities P [B, H, Lq, Lk] (kernels.AttentionGrad):
//
//   dP = dO V^T,  D_i = sum_j P_ij dP_ij,  dS = P * (dP - D),
//   dQ = scale dS K,  dK = scale dS^T Q,  dV = P^T dO.
//
// Two kernels, neither writing an Lq x Lk matrix: attn_bwd_dq (a thread per query row, K/V
// tiles in shared memory) writes dQ and D; attn_bwd_dkv (a thread per key row, Q/dO/P tiles in
// shared memory) writes dK and dV. dQ has Q's strides, dK and dV K's, so a packed dqkv works.

#define BWD_ROWS 64
#define BWD_TILE 16

template <int DMAX>
__device__ __forceinline__ void attn_bwd_dq_impl(float* dQ, float* Dout, const float* P, const float* dO,
                                                 const float* K, const float* V, int H, int Lq, int Lk, int Dh,
                                                 float scale, i64 qRow, i64 qBatch, i64 kvRow, i64 kvBatch) {
  __shared__ __align__(16) float Ks[BWD_TILE][DMAX];
  __shared__ __align__(16) float Vs[BWD_TILE][DMAX];
  __shared__ float Ps[BWD_ROWS][BWD_TILE + 1];
  int bh = blockIdx.y, b = bh / H, h = bh % H;
  int i0 = blockIdx.x * BWD_ROWS, i = i0 + threadIdx.x;
  bool active = i < Lq;
  float g[DMAX], dq[DMAX];
  const float* gp = dO + ((i64)b * Lq + min(i, Lq - 1)) * ((i64)H * Dh) + h * Dh;
#pragma unroll
  for (int d = 0; d < DMAX; d++) {
    g[d] = (d < Dh) ? gp[d] : 0.f;
    dq[d] = 0.f;
  }
  const float* Pb = P + (i64)bh * Lq * Lk;
  const float* kb = K + b * kvBatch + h * Dh;
  const float* vb = V + b * kvBatch + h * Dh;
  float D = 0.f;
  for (int pass = 0; pass < 2; pass++) {
    for (int k0 = 0; k0 < Lk; k0 += BWD_TILE) {
      int nk = min(BWD_TILE, Lk - k0);
      __syncthreads();
      for (int e = threadIdx.x; e < BWD_TILE * DMAX; e += BWD_ROWS) {
        int r = e / DMAX, d = e % DMAX;
        bool in = r < nk && d < Dh;
        Vs[r][d] = in ? vb[(i64)(k0 + r) * kvRow + d] : 0.f;
        if (pass == 1) Ks[r][d] = in ? kb[(i64)(k0 + r) * kvRow + d] : 0.f;
      }
      for (int e = threadIdx.x; e < BWD_ROWS * BWD_TILE; e += BWD_ROWS) {
        int r = e / BWD_TILE, c = e % BWD_TILE;
        Ps[r][c] = (i0 + r < Lq && c < nk) ? Pb[(i64)(i0 + r) * Lk + k0 + c] : 0.f;
      }
      __syncthreads();
      for (int j = 0; j < nk; j++) {
        float dp = 0.f;
        const float4* vr = reinterpret_cast<const float4*>(Vs[j]);
#pragma unroll
        for (int d4 = 0; d4 < DMAX / 4; d4++) {
          float4 v4 = vr[d4];
          dp += g[4 * d4] * v4.x + g[4 * d4 + 1] * v4.y + g[4 * d4 + 2] * v4.z + g[4 * d4 + 3] * v4.w;
        }
        float p = Ps[threadIdx.x][j];
        if (pass == 0) {
          D += p * dp;
        } else {
          float ds = p * (dp - D);
          const float4* kr = reinterpret_cast<const float4*>(Ks[j]);
#pragma unroll
          for (int d4 = 0; d4 < DMAX / 4; d4++) {
            float4 k4 = kr[d4];
            dq[4 * d4] += ds * k4.x;
            dq[4 * d4 + 1] += ds * k4.y;
            dq[4 * d4 + 2] += ds * k4.z;
            dq[4 * d4 + 3] += ds * k4.w;
          }
        }
      }
    }
  }
  if (!active) return;
  Dout[(i64)bh * Lq + i] = D;
  float* op = dQ + b * qBatch + (i64)i * qRow + h * Dh;
#pragma unroll
  for (int d = 0; d < DMAX; d++)
    if (d < Dh) op[d] = dq[d] * scale;
}

template <int DMAX>
__device__ __forceinline__ void attn_bwd_dkv_impl(float* dK, float* dV, const float* P, const float* Din,
                                                  const float* dO, const float* Q, const float* V, int H, int Lq,
                                                  int Lk, int Dh, float scale, i64 qRow, i64 qBatch, i64 kvRow,
                                                  i64 kvBatch) {
  __shared__ __align__(16) float Qs[BWD_TILE][DMAX];
  __shared__ __align__(16) float Gs[BWD_TILE][DMAX];
  __shared__ float Ps[BWD_TILE][BWD_ROWS + 1];
  __shared__ float Ds[BWD_TILE];
  int bh = blockIdx.y, b = bh / H, h = bh % H;
  int j0 = blockIdx.x * BWD_ROWS, j = j0 + threadIdx.x;
  bool active = j < Lk;
  float v[DMAX], dk[DMAX], dv[DMAX];
  const float* vp = V + b * kvBatch + (i64)min(j, Lk - 1) * kvRow + h * Dh;
#pragma unroll
  for (int d = 0; d < DMAX; d++) {
    v[d] = (d < Dh) ? vp[d] : 0.f;
    dk[d] = 0.f;
    dv[d] = 0.f;
  }
  const float* Pb = P + (i64)bh * Lq * Lk;
  const float* qb = Q + b * qBatch + h * Dh;
  const float* gb = dO + (i64)b * Lq * H * Dh + h * Dh;
  for (int q0 = 0; q0 < Lq; q0 += BWD_TILE) {
    int nq = min(BWD_TILE, Lq - q0);
    __syncthreads();
    for (int e = threadIdx.x; e < BWD_TILE * DMAX; e += BWD_ROWS) {
      int r = e / DMAX, d = e % DMAX;
      bool in = r < nq && d < Dh;
      Qs[r][d] = in ? qb[(i64)(q0 + r) * qRow + d] : 0.f;
      Gs[r][d] = in ? gb[(i64)(q0 + r) * H * Dh + d] : 0.f;
    }
    for (int e = threadIdx.x; e < BWD_TILE * BWD_ROWS; e += BWD_ROWS) {
      int r = e / BWD_ROWS, c = e % BWD_ROWS;
      Ps[r][c] = (r < nq && j0 + c < Lk) ? Pb[(i64)(q0 + r) * Lk + j0 + c] : 0.f;
    }
    if (threadIdx.x < BWD_TILE) Ds[threadIdx.x] = threadIdx.x < nq ? Din[(i64)bh * Lq + q0 + threadIdx.x] : 0.f;
    __syncthreads();
    for (int r = 0; r < nq; r++) {
      const float4* gr = reinterpret_cast<const float4*>(Gs[r]);
      float dp = 0.f;
#pragma unroll
      for (int d4 = 0; d4 < DMAX / 4; d4++) {
        float4 g4 = gr[d4];
        dp += v[4 * d4] * g4.x + v[4 * d4 + 1] * g4.y + v[4 * d4 + 2] * g4.z + v[4 * d4 + 3] * g4.w;
      }
      float p = Ps[r][threadIdx.x];
      float ds = p * (dp - Ds[r]);
      const float4* qr = reinterpret_cast<const float4*>(Qs[r]);
#pragma unroll
      for (int d4 = 0; d4 < DMAX / 4; d4++) {
        float4 g4 = gr[d4], q4 = qr[d4];
        dv[4 * d4] += p * g4.x;
        dv[4 * d4 + 1] += p * g4.y;
        dv[4 * d4 + 2] += p * g4.z;
        dv[4 * d4 + 3] += p * g4.w;
        dk[4 * d4] += ds * q4.x;
        dk[4 * d4 + 1] += ds * q4.y;
        dk[4 * d4 + 2] += ds * q4.z;
        dk[4 * d4 + 3] += ds * q4.w;
      }
    }
  }
  if (!active) return;
  float* kp = dK + b * kvBatch + (i64)j * kvRow + h * Dh;
  float* vq = dV + b * kvBatch + (i64)j * kvRow + h * Dh;
#pragma unroll
  for (int d = 0; d < DMAX; d++)
    if (d < Dh) {
      kp[d] = dk[d] * scale;
      vq[d] = dv[d];
    }
}

#define ATT_BWD(DM)                                                                                            \
  extern "C" __global__ void __launch_bounds__(BWD_ROWS) attn_bwd_dq_d##DM(                                     \
      float* dQ, float* D, const float* P, const float* dO, const float* K, const float* V, int H, int Lq, int Lk, \
      int Dh, float scale, i64 qRow, i64 qBatch, i64 kvRow, i64 kvBatch) {                                       \
    attn_bwd_dq_impl<DM>(dQ, D, P, dO, K, V, H, Lq, Lk, Dh, scale, qRow, qBatch, kvRow, kvBatch);              \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(BWD_ROWS) attn_bwd_dkv_d##DM(                                    \
      float* dK, float* dV, const float* P, const float* D, const float* dO, const float* Q, const float* V, int H, \
      int Lq, int Lk, int Dh, float scale, i64 qRow, i64 qBatch, i64 kvRow, i64 kvBatch) {                       \
    attn_bwd_dkv_impl<DM>(dK, dV, P, D, dO, Q, V, H, Lq, Lk, Dh, scale, qRow, qBatch, kvRow, kvBatch);         \
  }
ATT_BWD(32)
ATT_BWD(64)
ATT_BWD(128)
