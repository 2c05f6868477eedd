// Plain TS reference for LayerNorm (biased variance), written independently of the kernels, in f64.
//   x (N, C), w (C), b (C) (already fp16-rounded where the kernel reads fp16), dy (N, C).
export function layernormForwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  N: number,
  C: number,
  eps: number,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(N * C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += x[n * C + c];
    const m = s / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[n * C + c] - m) ** 2;
    const r = 1 / Math.sqrt(v / C + eps);
    mean[n] = m;
    rstd[n] = r;
    for (let c = 0; c < C; c++) y[n * C + c] = (x[n * C + c] - m) * r * w[c] + b[c];
  }
  return { y, mean, rstd };
}

/** dx (N, C), dw (C), db (C) for the upstream gradient dy (N, C). */
export function layernormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  N: number,
  C: number,
  eps: number,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dx = new Float64Array(N * C);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  const zeros = new Float64Array(C);
  const { mean, rstd } = layernormForwardRef(x, w, zeros, N, C, eps);
  for (let n = 0; n < N; n++) {
    const xhat = (c: number) => (x[n * C + c] - mean[n]) * rstd[n];
    let gMean = 0;
    let gxMean = 0;
    for (let c = 0; c < C; c++) {
      const g = dy[n * C + c] * w[c];
      gMean += g / C;
      gxMean += (g * xhat(c)) / C;
    }
    for (let c = 0; c < C; c++) {
      const i = n * C + c;
      dx[i] = rstd[n] * (dy[i] * w[c] - gMean - xhat(c) * gxMean);
      dw[c] += dy[i] * xhat(c);
      db[c] += dy[i];
    }
  }
  return { dx, dw, db };
}
