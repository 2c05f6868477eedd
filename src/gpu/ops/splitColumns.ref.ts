// Plain TS references for splitColumns / mergeColumns: x (N, S) row-major <-> parts (N, W_i)
// with ΣW_i = S, in column order. Float64Array so a finite difference through them is not
// rounded to f32 (the copies themselves are exact either way).
export function splitColumnsRef(x: ArrayLike<number>, N: number, widths: readonly number[]): Float64Array[] {
  const S = widths.reduce((a, b) => a + b, 0);
  const parts = widths.map((w) => new Float64Array(N * w));
  for (let n = 0; n < N; n++) {
    let col = 0;
    widths.forEach((w, i) => {
      for (let j = 0; j < w; j++) parts[i][n * w + j] = x[n * S + col + j];
      col += w;
    });
  }
  return parts;
}

export function mergeColumnsRef(parts: readonly ArrayLike<number>[], N: number, widths: readonly number[]): Float64Array {
  const S = widths.reduce((a, b) => a + b, 0);
  const out = new Float64Array(N * S);
  for (let n = 0; n < N; n++) {
    let col = 0;
    widths.forEach((w, i) => {
      for (let j = 0; j < w; j++) out[n * S + col + j] = parts[i][n * w + j];
      col += w;
    });
  }
  return out;
}
