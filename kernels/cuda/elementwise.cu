// Elementwise kernels over flat float32 arrays: grid-stride loops, any length, outputs may
// alias inputs exactly (each element is read before it is written by the same thread).

extern "C" __global__ void fill_f32(float* y, i64 n, float v) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) y[i] = v;
}

extern "C" __global__ void scale_f32(float* y, const float* x, i64 n, float a) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) y[i] = a * x[i];
}

extern "C" __global__ void add_f32(float* y, const float* a, const float* b, i64 n) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) y[i] = a[i] + b[i];
}

// add_bias: x [rows, dim] += bias [dim] per row.
extern "C" __global__ void add_bias_f32(float* x, const float* bias, i64 rows, int dim) {
  i64 n = rows * dim;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) x[i] += bias[i % dim];
}

// gelu: exact erf GELU, nn.GELU().
extern "C" __global__ void gelu_f32(float* y, const float* x, i64 n) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float v = x[i];
    y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  }
}

// gelu_bwd: dx = dy * (Phi(x) + x * phi(x)) with Phi, phi the normal cdf and pdf.
extern "C" __global__ void gelu_bwd_f32(float* dx, const float* dy, const float* x, i64 n) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float v = x[i];
    float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
    float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

// quick_gelu: x * sigmoid(1.702 x), OpenAI CLIP.
extern "C" __global__ void quick_gelu_f32(float* y, const float* x, i64 n) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float v = x[i];
    y[i] = v / (1.0f + expf(-1.702f * v));
  }
}

// scale_rows: y [rows, dim] = s[r] * x[r, :].
extern "C" __global__ void scale_rows_f32(float* y, const float* x, const float* s, i64 rows, int dim) {
  i64 n = rows * dim;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) y[i] = s[i / dim] * x[i];
}

// copy_rows: dst[r*ldd + c] = src[r*lds + c] for a [rows, cols] block.
extern "C" __global__ void copy_rows_f32(float* dst, i64 ldd, const float* src, i64 lds, i64 rows, int cols) {
  i64 n = rows * cols;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 r = i / cols, c = i % cols;
    dst[r * ldd + c] = src[r * lds + c];
  }
}

// gather_rows: dst [nidx, dim], dst[i] = src[idx[i]]; src has srcRows rows. A bad index is
// recorded in *err and its row is left untouched.
extern "C" __global__ void gather_rows_f32(float* dst, const float* src, const int* idx, i64 nidx, int dim, i64 srcRows, int* err) {
  i64 n = nidx * dim;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 r = i / dim, c = i % dim;
    int s = idx[r];
    if (s < 0 || s >= srcRows) { bad_index(err, r); continue; }
    dst[i] = src[(i64)s * dim + c];
  }
}

// scatter_rows: dst[idx[i]] = src[i] (indices distinct).
extern "C" __global__ void scatter_rows_f32(float* dst, const float* src, const int* idx, i64 nidx, int dim, i64 dstRows, int* err) {
  i64 n = nidx * dim;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 r = i / dim, c = i % dim;
    int d = idx[r];
    if (d < 0 || d >= dstRows) { bad_index(err, r); continue; }
    dst[(i64)d * dim + c] = src[i];
  }
}

// scatter_add_rows: dst[idx[i]] += src[i]; repeated indices accumulate (atomics, so the order
// of additions, and the last bits of a repeated row, vary between runs).
extern "C" __global__ void scatter_add_rows_f32(float* dst, const float* src, const int* idx, i64 nidx, int dim, i64 dstRows, int* err) {
  i64 n = nidx * dim;
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    i64 r = i / dim, c = i % dim;
    int d = idx[r];
    if (d < 0 || d >= dstRows) { bad_index(err, r); continue; }
    atomicAdd(&dst[(i64)d * dim + c], src[i]);
  }
}

// adamw: torch.optim.AdamW over a flat parameter buffer with float32 master weights. lr_bc1 is
// lr / (1 - beta1^t), inv_sqrt_bc2 is 1 / sqrt(1 - beta2^t), both computed on the host in
// float64; decay is 1 - lr * weight_decay; gscale multiplies the gradient first.
extern "C" __global__ void adamw_f32(float* p, const float* g, float* m, float* v, i64 n, float decay, float lr_bc1,
                                     float inv_sqrt_bc2, float b1, float b2, float eps, float gscale) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float gi = g[i] * gscale;
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float pi = p[i] * decay;
    p[i] = pi - lr_bc1 * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
  }
}
