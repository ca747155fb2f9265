package kernels

import "math"

// AttnScale is 1/sqrt(headDim), the usual Attention.Scale.
func AttnScale(headDim int) float32 { return float32(1 / math.Sqrt(float64(headDim))) }

// Gemm describes a batched, strided matrix product, BLAS sgemm semantics in row-major order:
//
//	for i in [0, Batch): C_i = Alpha * op(A_i) @ op(B_i) + Beta * C_i
//
// op(A_i) is [M, K], op(B_i) is [K, N], C_i is [M, N]. A_i is stored row-major from element
// i*StrideA of A with row stride LDA: [M, K] when TransA is false, [K, M] when true (so
// TransA=true reads A_i^T). Likewise B_i ([K, N], or [N, K] with TransB) and C_i. A PyTorch
// Linear y = x W^T + b with x [rows, in], W [out, in] is Gemm{M: rows, N: out, K: in, A: x,
// B: W, TransB: true, Alpha: 1} followed by AddBias. Batch 0 means 1. Beta == 0 overwrites C
// without reading it (NaNs in C do not propagate). C must not overlap A or B.
type Gemm struct {
	TransA, TransB bool
	M, N, K        int
	Alpha, Beta    float32
	A              Buf
	LDA, StrideA   int
	B              Buf
	LDB, StrideB   int
	C              Buf
	LDC, StrideC   int
	Batch          int
}

// Attention describes batched multi-head scaled dot-product attention:
//
//	for b, h: P[b,h] = softmax(Scale * Q[b,:,h] @ K[b,:,h]^T + KeyBias[b])   // [Lq, Lk]
//	          Out[b,:,h] = P[b,h] @ V[b,:,h]                                // [Lq, Dh]
//
// Element (b, l, h, d) of Q is at Q.Off + b*QBatch + l*QRow + h*Dh + d; K and V share the strides
// KVBatch and KVRow. With a packed qkv tensor [B, L, 3*H*Dh] (one Linear), Q, K and V are views
// starting at 0, H*Dh and 2*H*Dh with QRow = KVRow = 3*H*Dh and QBatch = KVBatch = L*3*H*Dh.
// Out is [B, Lq, H*Dh], contiguous (heads concatenated per row, ready for the output Linear).
//
// Optional outputs (zero Buf = not wanted):
//   - Probs [B, H, Lq, Lk]: the softmax probabilities, kept for the backward pass.
//   - HeadMean [B, Lk]: probabilities of query row HeadMeanRow averaged over heads (the CLIP
//     teacher's CLS->token attention with HeadMeanRow = 0).
//
// Optional input KeyBias [B, Lk] is added to every score row of batch b (a padding mask as 0 /
// -10000, as BERT does). Out must not overlap Q, K or V.
type Attention struct {
	B, H, Lq, Lk, Dh int
	Scale            float32
	Q                Buf
	QRow, QBatch     int
	K, V             Buf
	KVRow, KVBatch   int
	Out              Buf
	KeyBias          Buf
	Probs            Buf
	HeadMean         Buf
	HeadMeanRow      int
}

// Backend is the set of forward operations and memory management every backend provides. See the
// package documentation for the conventions (views, row-major layout, error reporting).
type Backend interface {
	// Name identifies the backend and its configuration, e.g. "cpu(openblas, 2 threads)".
	Name() string

	// Alloc returns a new float32 buffer of n elements, zeroed.
	Alloc(n int) Buf
	// AllocIndex returns a new int32 buffer of n elements, zeroed.
	AllocIndex(n int) Buf
	// Free releases a buffer returned by Alloc or AllocIndex. Freeing a view, the zero Buf or a
	// buffer twice is recorded as an error.
	Free(b Buf)
	// Stats reports live and peak allocation bytes; tests assert LiveBytes returns to zero.
	Stats() MemStats

	// Upload copies len(src) float32 values into dst (len(src) must equal dst.Len()).
	Upload(dst Buf, src []float32)
	// UploadIndex copies len(src) int32 values into an index buffer.
	UploadIndex(dst Buf, src []int32)
	// Download waits for pending work, copies src into dst (len(dst) == src.Len()) and returns
	// the pending error, if any.
	Download(dst []float32, src Buf) error
	// Sync waits for all issued work and returns (and clears) the first error recorded since the
	// previous Sync.
	Sync() error

	// Fill sets every element of x to v.
	Fill(x Buf, v float32)
	// Copy copies src into dst (same length).
	Copy(dst, src Buf)
	// CopyRows copies a [rows, cols] block: dst[r*ldDst+c] = src[r*ldSrc+c]. Use it to split or
	// concatenate along the last axis (dropping the CLS row, taking q out of packed qkv).
	CopyRows(dst Buf, ldDst int, src Buf, ldSrc int, rows, cols int)

	// Gemm runs a batched strided matrix product; see [Gemm].
	Gemm(g Gemm)

	// AddBias adds bias [dim] to every row of x [rows, dim], in place.
	AddBias(x, bias Buf, rows, dim int)
	// Add computes y = a + b elementwise (residual connections); y may alias a or b.
	Add(y, a, b Buf)
	// Scale computes y = alpha * x elementwise.
	Scale(y, x Buf, alpha float32)

	// LayerNorm normalises each row of x [rows, dim]: y = (x - mean) * rstd * gamma + beta with
	// rstd = 1/sqrt(var + eps), var the biased variance. mean and rstd [rows] receive the
	// statistics for the backward pass; pass zero Bufs when not needed.
	LayerNorm(y, x, gamma, beta, mean, rstd Buf, rows, dim int, eps float32)

	// GELU computes y = x * 0.5 * (1 + erf(x / sqrt(2))) (exact, nn.GELU()).
	GELU(y, x Buf)
	// QuickGELU computes y = x * sigmoid(1.702 * x) (OpenAI CLIP).
	QuickGELU(y, x Buf)

	// Softmax computes a numerically stable softmax over each row of x [rows, cols].
	Softmax(y, x Buf, rows, cols int)
	// Attention runs batched multi-head attention; see [Attention].
	Attention(a Attention)

	// L2Normalize divides each row of x [rows, dim] by max(||row||_2, eps) (F.normalize). With
	// eps = 0 it is x / ||x|| as CLIP's x / x.norm(dim=-1, keepdim=True).
	L2Normalize(y, x Buf, rows, dim int, eps float32)

	// GatherRows sets dst[i, :] = src[idx[i], :] for i < idx.Len(); dst [idx.Len(), dim].
	GatherRows(dst, src, idx Buf, dim int)
	// ScatterRows sets dst[idx[i], :] = src[i, :]; indices must be distinct.
	ScatterRows(dst, src, idx Buf, dim int)
	// ScatterAddRows adds dst[idx[i], :] += src[i, :]; repeated indices accumulate.
	ScatterAddRows(dst, src, idx Buf, dim int)
}
