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

// dx = dy · W: dy is (M, N), w is (N, K) (already fp16-rounded where it is stored as fp16); returns
// dx (M, K). f64 accumulation.
export function matmulDyWRef(dy: Float32Array, w: Float32Array, M: number, N: number, K: number): Float32Array {
  const dx = new Float32Array(M * K);
  const acc = new Float64Array(K);
  for (let m = 0; m < M; m++) {
    acc.fill(0);
    for (let n = 0; n < N; n++) {
      const d = dy[m * N + n];
      for (let k = 0; k < K; k++) acc[k] += d * w[n * K + k];
    }
    dx.set(acc, m * K);
  }
  return dx;
}

// dW = dyᵀ · x: dy is (M, N), x is (M, K); returns dW (N, K). f64 accumulation.
export function matmulDyTXRef(dy: Float32Array, x: Float32Array, M: number, N: number, K: number): Float32Array {
  const dw = new Float64Array(N * K);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const d = dy[m * N + n];
      for (let k = 0; k < K; k++) dw[n * K + k] += d * x[m * K + k];
    }
  }
  return Float32Array.from(dw);
}
