// Plain TS reference for RMSNorm, written independently of the kernels, in f64.
//   x (N, C), w (C) (already fp16-rounded when the kernel reads fp16), dy (N, C).
//   y = x / sqrt(mean(x²) + eps) * (w + offset);  rstd (N) = 1/sqrt(mean(x²) + eps)
//   offset is 0 (Llama) or 1 (Gemma's (1 + w)); dw is the gradient of the stored w either way.
export function rmsnormForwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  N: number,
  C: number,
  eps: number,
  offset = 0,
): { y: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(N * C);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[n * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) y[n * C + c] = x[n * C + c] * r * (w[c] + offset);
  }
  return { y, rstd };
}

/** dx (N, C) and dw (C) for the upstream gradient dy (N, C). */
export function rmsnormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  N: number,
  C: number,
  eps: number,
  offset = 0,
): { dx: Float64Array; dw: Float64Array } {
  const dx = new Float64Array(N * C);
  const dw = new Float64Array(C);
  const { rstd } = rmsnormForwardRef(x, w, N, C, eps);
  for (let n = 0; n < N; n++) {
    const r = rstd[n];
    // y_c = x_c r w_c with dr/dx_j = -r³ x_j / C
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dy[n * C + c] * (w[c] + offset) * x[n * C + c];
    for (let c = 0; c < C; c++) {
      const i = n * C + c;
      dx[i] = r * dy[i] * (w[c] + offset) - (r ** 3 * x[i] * dot) / C;
      dw[c] += dy[i] * x[i] * r;
    }
  }
  return { dx, dw };
}
