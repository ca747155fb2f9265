// Attention forward in the style of FlashAttention: a block owns BQ query rows of one (batch,
// head), one thread per query row holding q and its output accumulator in registers; key and
// value tiles of BK rows stream through shared memory and the softmax is computed online
// (running max m and sum l per row, the accumulator rescaled when m grows). No Lq x Lk matrix
// is written; the log-sum-exp per row (m + log l) is saved when the caller wants Probs or the
// head mean, which separate kernels rebuild from it.
//
// Layout (kernels.Attention): element (b, l, h, d) of Q at b*qBatch + l*qRow + h*Dh + d, K and
// V likewise with kvBatch, kvRow; Out is [B, Lq, H*Dh]. keyBias [B, Lk] is added to the scaled
// scores. DMAX is the register width (Dh <= DMAX, padded lanes hold zeros).

#define ATT_BQ 64
#define ATT_CH 8 // keys per online-softmax update (BK is a multiple of it)

template <int DMAX, int BK>
__device__ __forceinline__ void attn_fwd_impl(float* O, float* lse, const float* Q, const float* K, const float* V,
                                              const float* keyBias, int H, int Lq, int Lk, int Dh, float scale,
                                              i64 qRow, i64 qBatch, i64 kvRow, i64 kvBatch) {
  __shared__ __align__(16) float Ks[BK][DMAX];
  __shared__ __align__(16) float Vs[BK][DMAX];
  int bh = blockIdx.y, b = bh / H, h = bh % H;
  int i = blockIdx.x * ATT_BQ + threadIdx.x;
  bool active = i < Lq;
  float q[DMAX], acc[DMAX];
  const float* qp = Q + b * qBatch + (i64)min(i, Lq - 1) * qRow + h * Dh;
#pragma unroll
  for (int d = 0; d < DMAX; d++) {
    q[d] = (d < Dh) ? qp[d] * scale : 0.f;
    acc[d] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  const float* kb = K + b * kvBatch + h * Dh;
  const float* vb = V + b * kvBatch + h * Dh;
  for (int k0 = 0; k0 < Lk; k0 += BK) {
    int nk = min(BK, Lk - k0);
    __syncthreads();
    for (int e = threadIdx.x; e < BK * DMAX; e += ATT_BQ) {
      int r = e / DMAX, d = e % DMAX;
      bool in = r < nk && d < Dh;
      Ks[r][d] = in ? kb[(i64)(k0 + r) * kvRow + d] : 0.f;
      Vs[r][d] = in ? vb[(i64)(k0 + r) * kvRow + d] : 0.f;
    }
    __syncthreads();
    // Chunks of ATT_CH keys: scores of a chunk in registers, then one online-softmax update.
#pragma unroll 1
    for (int jc = 0; jc < nk; jc += ATT_CH) {
      float s[ATT_CH];
      float mt = m;
#pragma unroll
      for (int jj = 0; jj < ATT_CH; jj++) {
        int j = jc + jj;
        float dot = 0.f;
        const float4* kr = reinterpret_cast<const float4*>(Ks[j]);
#pragma unroll
        for (int d4 = 0; d4 < DMAX / 4; d4++) {
          float4 k4 = kr[d4];
          dot += q[4 * d4] * k4.x + q[4 * d4 + 1] * k4.y + q[4 * d4 + 2] * k4.z + q[4 * d4 + 3] * k4.w;
        }
        if (j < nk) {
          if (keyBias) dot += keyBias[(i64)b * Lk + k0 + j];
          mt = fmaxf(mt, dot);
        } else {
          dot = -INFINITY;
        }
        s[jj] = dot;
      }
      float corr = (m == -INFINITY) ? 0.f : expf(m - mt);
      l *= corr;
#pragma unroll
      for (int d = 0; d < DMAX; d++) acc[d] *= corr;
#pragma unroll
      for (int jj = 0; jj < ATT_CH; jj++) {
        float p = (jc + jj < nk) ? expf(s[jj] - mt) : 0.f;
        l += p;
        const float4* vr = reinterpret_cast<const float4*>(Vs[jc + jj]);
#pragma unroll
        for (int d4 = 0; d4 < DMAX / 4; d4++) {
          float4 v4 = vr[d4];
          acc[4 * d4] += p * v4.x;
          acc[4 * d4 + 1] += p * v4.y;
          acc[4 * d4 + 2] += p * v4.z;
          acc[4 * d4 + 3] += p * v4.w;
        }
      }
      m = mt;
    }
  }
  if (!active) return;
  float inv = 1.0f / l;
  float* op = O + ((i64)b * Lq + i) * ((i64)H * Dh) + h * Dh;
#pragma unroll
  for (int d = 0; d < DMAX; d++)
    if (d < Dh) op[d] = acc[d] * inv;
  if (lse) lse[(i64)bh * Lq + i] = m + logf(l);
}

#define ATT_FWD(DM, BKV)                                                                                      \
  extern "C" __global__ void __launch_bounds__(ATT_BQ) attn_fwd_d##DM(                                         \
      float* O, float* lse, const float* Q, const float* K, const float* V, const float* keyBias, int H, int Lq, \
      int Lk, int Dh, float scale, i64 qRow, i64 qBatch, i64 kvRow, i64 kvBatch) {                             \
    attn_fwd_impl<DM, BKV>(O, lse, Q, K, V, keyBias, H, Lq, Lk, Dh, scale, qRow, qBatch, kvRow, kvBatch);       \
  }
ATT_FWD(32, 32)
ATT_FWD(64, 32)
ATT_FWD(128, 16)

// attn_probs: P[bh, i, j] = exp(scale q_i.k_j + bias_j - lse_i), tiles of 32 queries x 32 keys
// with both operands in shared memory; block (32, 8), each thread 4 rows of one column.
extern "C" __global__ void attn_probs(float* P, const float* lse, const float* Q, const float* K, const float* keyBias,
                                      int H, int Lq, int Lk, int Dh, float scale, i64 qRow, i64 qBatch, i64 kvRow,
                                      i64 kvBatch) {
  __shared__ float Qs[32][33], Ks[32][33];
  int bh = blockIdx.z, b = bh / H, h = bh % H;
  int i0 = blockIdx.y * 32, j0 = blockIdx.x * 32;
  int tx = threadIdx.x, ty = threadIdx.y;
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  for (int d0 = 0; d0 < Dh; d0 += 32) {
    __syncthreads();
    for (int r = ty; r < 32; r += 8) {
      int d = d0 + tx;
      int qi = i0 + r, kj = j0 + r;
      Qs[r][tx] = (qi < Lq && d < Dh) ? Q[b * qBatch + (i64)qi * qRow + h * Dh + d] : 0.f;
      Ks[r][tx] = (kj < Lk && d < Dh) ? K[b * kvBatch + (i64)kj * kvRow + h * Dh + d] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int d = 0; d < 32; d++) {
      float kv = Ks[tx][d];
#pragma unroll
      for (int r = 0; r < 4; r++) acc[r] += Qs[ty + 8 * r][d] * kv;
    }
  }
  int j = j0 + tx;
  if (j >= Lk) return;
  float bias = keyBias ? keyBias[(i64)b * Lk + j] : 0.f;
#pragma unroll
  for (int r = 0; r < 4; r++) {
    int i = i0 + ty + 8 * r;
    if (i < Lq) P[((i64)bh * Lq + i) * Lk + j] = expf(acc[r] * scale + bias - lse[(i64)bh * Lq + i]);
  }
}

// attn_head_mean: M[b, j] = mean_h P[b, h, row, j], rebuilt from the saved lse; one warp per
// key j (lanes over d, coalesced), looping over heads.
extern "C" __global__ void attn_head_mean(float* M, const float* lse, const float* Q, const float* K,
                                          const float* keyBias, int H, int Lq, int Lk, int Dh, float scale, i64 qRow,
                                          i64 qBatch, i64 kvRow, i64 kvBatch, int row) {
  int b = blockIdx.y;
  int j = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (j >= Lk) return;
  const float* qp = Q + b * qBatch + (i64)row * qRow;
  const float* kp = K + b * kvBatch + (i64)j * kvRow;
  float bias = keyBias ? keyBias[(i64)b * Lk + j] : 0.f;
  float sum = 0.f;
  for (int h = 0; h < H; h++) {
    float dot = 0.f;
    for (int d = lane; d < Dh; d += 32) dot += qp[h * Dh + d] * kp[h * Dh + d];
    dot = warp_sum(dot);
    sum += expf(dot * scale + bias - lse[((i64)b * H + h) * Lq + row]);
  }
  if (lane == 0) M[(i64)b * Lk + j] = sum / H;
}
