// Plain TS (f64) reference of one DoRA linear, written from the paper (Liu et al. 2024, eq. 5 and
// section 4.3) as PEFT computes it for nn.Linear without dropout:
//   W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖ (norm of each output row of the (OUT, IN) weight)
//   y = x·W'ᵀ + b, with the norm treated as a constant in backward (detached)
// Shapes: x (N, IN), W (OUT, IN), A (r, IN), B (OUT, r), m (OUT), b (OUT) or null, dy (N, OUT).

export function doraRowNormRef(W: ArrayLike<number>, A: ArrayLike<number>, B: ArrayLike<number>, OUT: number, IN: number, r: number, s: number): Float64Array {
  const norm = new Float64Array(OUT);
  for (let j = 0; j < OUT; j++) {
    let acc = 0;
    for (let k = 0; k < IN; k++) {
      let ba = 0;
      for (let q = 0; q < r; q++) ba += B[j * r + q] * A[q * IN + k];
      const w = W[j * IN + k] + s * ba;
      acc += w * w;
    }
    norm[j] = Math.sqrt(acc);
  }
  return norm;
}

export interface DoraRefInputs {
  x: ArrayLike<number>;
  W: ArrayLike<number>;
  A: ArrayLike<number>;
  B: ArrayLike<number>;
  m: ArrayLike<number>;
  bias: ArrayLike<number> | null;
  N: number;
  IN: number;
  OUT: number;
  r: number;
  s: number;
}

/** z = x·(W + s·B·A)ᵀ, y = g ⊙ z + b; returns y, z, norm. */
export function doraForwardRef(p: DoraRefInputs): { y: Float64Array; z: Float64Array; norm: Float64Array } {
  const { x, W, A, B, m, bias, N, IN, OUT, r, s } = p;
  const norm = doraRowNormRef(W, A, B, OUT, IN, r, s);
  const z = new Float64Array(N * OUT);
  const y = new Float64Array(N * OUT);
  for (let j = 0; j < OUT; j++) {
    const row = new Float64Array(IN);
    for (let k = 0; k < IN; k++) {
      let ba = 0;
      for (let q = 0; q < r; q++) ba += B[j * r + q] * A[q * IN + k];
      row[k] = W[j * IN + k] + s * ba;
    }
    const g = m[j] / norm[j];
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < IN; k++) acc += x[n * IN + k] * row[k];
      z[n * OUT + j] = acc;
      y[n * OUT + j] = g * acc + (bias ? bias[j] : 0);
    }
  }
  return { y, z, norm };
}

/** Gradients of sum(dy ⊙ y) with the norm detached: dx, dA, dB, dm. */
export function doraBackwardRef(p: DoraRefInputs, dy: ArrayLike<number>): { dx: Float64Array; dA: Float64Array; dB: Float64Array; dm: Float64Array } {
  const { x, W, A, B, m, N, IN, OUT, r, s } = p;
  const { z, norm } = doraForwardRef(p);
  const dm = new Float64Array(OUT);
  const dz = new Float64Array(N * OUT);
  for (let j = 0; j < OUT; j++) {
    const g = m[j] / norm[j];
    for (let n = 0; n < N; n++) {
      dm[j] += (dy[n * OUT + j] * z[n * OUT + j]) / norm[j];
      dz[n * OUT + j] = g * dy[n * OUT + j];
    }
  }
  // z = x·Wᵀ + s·(x·Aᵀ)·Bᵀ
  const u = new Float64Array(N * r);
  for (let n = 0; n < N; n++) for (let q = 0; q < r; q++) for (let k = 0; k < IN; k++) u[n * r + q] += x[n * IN + k] * A[q * IN + k];
  const du = new Float64Array(N * r);
  for (let n = 0; n < N; n++) for (let q = 0; q < r; q++) for (let j = 0; j < OUT; j++) du[n * r + q] += s * dz[n * OUT + j] * B[j * r + q];
  const dB = new Float64Array(OUT * r);
  for (let j = 0; j < OUT; j++) for (let q = 0; q < r; q++) for (let n = 0; n < N; n++) dB[j * r + q] += s * dz[n * OUT + j] * u[n * r + q];
  const dA = new Float64Array(r * IN);
  for (let q = 0; q < r; q++) for (let k = 0; k < IN; k++) for (let n = 0; n < N; n++) dA[q * IN + k] += du[n * r + q] * x[n * IN + k];
  const dx = new Float64Array(N * IN);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < IN; k++) {
      let acc = 0;
      for (let j = 0; j < OUT; j++) acc += dz[n * OUT + j] * W[j * IN + k];
      for (let q = 0; q < r; q++) acc += du[n * r + q] * A[q * IN + k];
      dx[n * IN + k] = acc;
    }
  }
  return { dx, dA, dB, dm };
}
