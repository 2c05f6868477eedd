// Plain TS reference for y = x · Wᵀ (+ bias), written independently of the kernel.
//   x is (M, K), w is (N, K) (already fp16-rounded values), bias is (N) or null; returns y (M, N).
// Accumulates in f64 so that it is the more accurate side of every comparison.
export function matmulXWtRef(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  M: number,
  N: number,
  K: number,
): Float32Array {
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[m * K + k] * w[n * K + k];
      y[m * N + n] = acc + (bias ? bias[n] : 0);
    }
  }
  return y;
}
