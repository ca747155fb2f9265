// Row-wise kernels: one warp per row (ROWS_PER_BLOCK warps per block), for LayerNorm, softmax
// and L2 normalisation forward and backward, plus the column reductions their parameter
// gradients need. Outputs may alias inputs exactly: a warp reads all of its row before the
// final pass writes it, element by element at the same index.

// layernorm_fwd: y = (x - mean) * rstd * gamma + beta over rows of x [rows, dim]; mean and
// rstd [rows] are written when non-null. Two passes for the variance (no cancellation).
extern "C" __global__ void layernorm_fwd(float* y, const float* x, const float* gamma, const float* beta,
                                         float* mean, float* rstd, int rows, int dim, float eps) {
  int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + (i64)row * dim;
  float* yr = y + (i64)row * dim;
  float s = 0.f;
  for (int i = lane; i < dim; i += 32) s += xr[i];
  float mu = warp_sum(s) / dim;
  float v = 0.f;
  for (int i = lane; i < dim; i += 32) {
    float d = xr[i] - mu;
    v += d * d;
  }
  float rs = rsqrtf(warp_sum(v) / dim + eps);
  for (int i = lane; i < dim; i += 32) yr[i] = (xr[i] - mu) * rs * gamma[i] + beta[i];
  if (lane == 0) {
    if (mean) mean[row] = mu;
    if (rstd) rstd[row] = rs;
  }
}

// layernorm_bwd_dx: dx = rstd * (g*dy - mean(g*dy) - xhat * mean(g*dy*xhat)).
extern "C" __global__ void layernorm_bwd_dx(float* dx, const float* dy, const float* x, const float* gamma,
                                            const float* mean, const float* rstd, int rows, int dim) {
  int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + (i64)row * dim;
  const float* dyr = dy + (i64)row * dim;
  float* dxr = dx + (i64)row * dim;
  float mu = mean[row], rs = rstd[row];
  float a = 0.f, b = 0.f;
  for (int i = lane; i < dim; i += 32) {
    float gdy = gamma[i] * dyr[i];
    a += gdy;
    b += gdy * (xr[i] - mu) * rs;
  }
  a = warp_sum(a) / dim;
  b = warp_sum(b) / dim;
  for (int i = lane; i < dim; i += 32) {
    float xh = (xr[i] - mu) * rs;
    dxr[i] = rs * (gamma[i] * dyr[i] - a - xh * b);
  }
}

// Column reductions: block (32, 8) covers 32 columns and rowsPerBlock rows (grid.y splits the
// rows); each block adds its partial column sums with atomicAdd, so parameter gradients
// accumulate (+=) as the kernels.Trainer contract says.

// layernorm_bwd_params: dgamma += sum_r dy*xhat, dbeta += sum_r dy (either may be null).
extern "C" __global__ void layernorm_bwd_params(float* dgamma, float* dbeta, const float* dy, const float* x,
                                                const float* mean, const float* rstd, int rows, int dim,
                                                int rowsPerBlock) {
  __shared__ float sg[8][33], sb[8][33];
  int c = blockIdx.x * 32 + threadIdx.x;
  int r0 = blockIdx.y * rowsPerBlock, r1 = min(rows, r0 + rowsPerBlock);
  float g = 0.f, b = 0.f;
  if (c < dim) {
    for (int r = r0 + threadIdx.y; r < r1; r += 8) {
      float d = dy[(i64)r * dim + c];
      b += d;
      g += d * (x[(i64)r * dim + c] - mean[r]) * rstd[r];
    }
  }
  sg[threadIdx.y][threadIdx.x] = g;
  sb[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y == 0 && c < dim) {
    for (int k = 1; k < 8; k++) {
      g += sg[k][threadIdx.x];
      b += sb[k][threadIdx.x];
    }
    if (dgamma) atomicAdd(&dgamma[c], g);
    if (dbeta) atomicAdd(&dbeta[c], b);
  }
}

// sum_rows: dst [dim] += column sums of x [rows, dim] (bias gradients).
extern "C" __global__ void sum_rows_f32(float* dst, const float* x, int rows, int dim, int rowsPerBlock) {
  __shared__ float s[8][33];
  int c = blockIdx.x * 32 + threadIdx.x;
  int r0 = blockIdx.y * rowsPerBlock, r1 = min(rows, r0 + rowsPerBlock);
  float a = 0.f;
  if (c < dim)
    for (int r = r0 + threadIdx.y; r < r1; r += 8) a += x[(i64)r * dim + c];
  s[threadIdx.y][threadIdx.x] = a;
  __syncthreads();
  if (threadIdx.y == 0 && c < dim) {
    for (int k = 1; k < 8; k++) a += s[k][threadIdx.x];
    atomicAdd(&dst[c], a);
  }
}

// softmax_rows: numerically stable softmax over each row of x [rows, cols].
extern "C" __global__ void softmax_rows(float* y, const float* x, int rows, int cols) {
  int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + (i64)row * cols;
  float* yr = y + (i64)row * cols;
  float m = -INFINITY;
  for (int i = lane; i < cols; i += 32) m = fmaxf(m, xr[i]);
  m = warp_max(m);
  float s = 0.f;
  for (int i = lane; i < cols; i += 32) s += expf(xr[i] - m);
  float inv = 1.0f / warp_sum(s);
  for (int i = lane; i < cols; i += 32) yr[i] = expf(xr[i] - m) * inv;
}

// l2norm_fwd: y = x / max(||x||, eps) per row.
extern "C" __global__ void l2norm_fwd(float* y, const float* x, int rows, int dim, float eps) {
  int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + (i64)row * dim;
  float* yr = y + (i64)row * dim;
  float s = 0.f;
  for (int i = lane; i < dim; i += 32) s += xr[i] * xr[i];
  float inv = 1.0f / fmaxf(sqrtf(warp_sum(s)), eps);
  for (int i = lane; i < dim; i += 32) yr[i] = xr[i] * inv;
}

// l2norm_bwd: with n = ||x||: dx = (dy - x (x.dy)/n^2) / n when n > eps, else dx = dy/eps (the
// clamp makes the norm a constant there). Sums and the per-element combination in float64:
// dy and x (x.dy)/n^2 nearly cancel when dy is almost parallel to x (always, at dim 1).
extern "C" __global__ void l2norm_bwd(float* dx, const float* dy, const float* x, int rows, int dim, float eps) {
  int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + (i64)row * dim;
  const float* dyr = dy + (i64)row * dim;
  float* dxr = dx + (i64)row * dim;
  double ss = 0.0, xd = 0.0;
  for (int i = lane; i < dim; i += 32) {
    ss += (double)xr[i] * xr[i];
    xd += (double)xr[i] * dyr[i];
  }
  double n = sqrt(warp_sum_d(ss));
  xd = warp_sum_d(xd);
  if (n > eps) {
    double inv = 1.0 / n, c = xd * inv * inv;
    for (int i = lane; i < dim; i += 32) dxr[i] = (float)((dyr[i] - xr[i] * c) * inv);
  } else {
    double inv = 1.0 / eps;
    for (int i = lane; i < dim; i += 32) dxr[i] = (float)(dyr[i] * inv);
  }
}

// align_loss_partial: per row r, ds[r] = -2 t[r] / rows, and each block writes
// sum_r (2 - 2 <s_r, t_r>) over its rows, in float64, to partial[blockIdx.x].
extern "C" __global__ void align_loss_partial(double* partial, float* ds, const float* s, const float* t,
                                              int rows, int dim) {
  __shared__ double sh[32];
  int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  double term = 0.0;
  if (row < rows) {
    const float* sr = s + (i64)row * dim;
    const float* tr = t + (i64)row * dim;
    float* dr = ds + (i64)row * dim;
    float k = -2.0f / rows;
    double dot = 0.0;
    for (int i = lane; i < dim; i += 32) {
      dot += (double)sr[i] * (double)tr[i];
      dr[i] = k * tr[i];
    }
    dot = warp_sum_d(dot);
    if (lane == 0) term = 2.0 - 2.0 * dot;
  }
  double tot = block_sum_d(term, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = tot;
}

// sumsq_partial: each block writes the float64 sum of x^2 over its grid-stride share.
extern "C" __global__ void sumsq_partial(double* partial, const float* x, i64 n) {
  __shared__ double sh[32];
  double a = 0.0;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    double v = x[i];
    a += v * v;
  }
  double tot = block_sum_d(a, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = tot;
}

// finish_sum: out[0] = mul * sum(partial[0:n]), one block, float64 throughout (deterministic).
extern "C" __global__ void finish_sum(float* out, const double* partial, int n, double mul) {
  __shared__ double sh[32];
  double a = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) a += partial[i];
  double tot = block_sum_d(a, sh);
  if (threadIdx.x == 0) out[0] = (float)(tot * mul);
}
