// Plain TS reference for the LoRA adapter term, written independently of the kernels (direct
// loops over the math, f64 accumulation).
//   x (N, IN), A (r, IN), B (OUT, r), y (N, OUT) = s·(drop(x)·Aᵀ)·Bᵀ, u = drop(x)·Aᵀ (N, r).
// The dropout mask is the same counter-based hash the kernel uses (bit-exact u32 arithmetic), so
// the reference and the GPU drop the same elements.

/** PCG hash (Jarzynski & Olano 2020), a bijection on u32; mirrors pcg_hash in lora.wgsl. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Multiplier of element e of x under dropout p with seed: 0 (dropped) or 1/(1-p). */
export function dropFactor(seed: number, e: number, p: number): number {
  if (p === 0) return 1;
  const bits = pcgHash((seed ^ pcgHash(e)) >>> 0) >>> 8;
  return bits >= Math.round(p * 2 ** 24) ? Math.fround(1 / (1 - p)) : 0;
}

export interface LoraRefDims {
  N: number;
  IN: number;
  OUT: number;
  r: number;
}

export interface LoraRefDropout {
  p: number;
  seed: number;
}

/** drop(x) as f64 values. */
export function dropRef(x: ArrayLike<number>, dropout: LoraRefDropout | null): Float64Array {
  const out = new Float64Array(x.length);
  for (let e = 0; e < x.length; e++) out[e] = dropout ? x[e] * dropFactor(dropout.seed, e, dropout.p) : x[e];
  return out;
}

/** u = drop(x)·Aᵀ (N, r) and the adapter output s·u·Bᵀ (N, OUT), both f64. */
export function loraForwardRef(
  x: ArrayLike<number>,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  d: LoraRefDims,
  scale: number,
  dropout: LoraRefDropout | null,
): { u: Float64Array; y: Float64Array } {
  const { N, IN, OUT, r } = d;
  const xd = dropRef(x, dropout);
  const u = new Float64Array(N * r);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let k = 0; k < IN; k++) acc += xd[n * IN + k] * A[j * IN + k];
      u[n * r + j] = acc;
    }
  }
  const y = new Float64Array(N * OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let acc = 0;
      for (let j = 0; j < r; j++) acc += u[n * r + j] * B[o * r + j];
      y[n * OUT + o] = scale * acc;
    }
  }
  return { u, y };
}

/** Gradients of sum(dy ⊙ adapter output) with respect to x, A and B (f64, not accumulated). */
export function loraBackwardRef(
  x: ArrayLike<number>,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  dy: ArrayLike<number>,
  d: LoraRefDims,
  scale: number,
  dropout: LoraRefDropout | null,
): { dx: Float64Array; dA: Float64Array; dB: Float64Array } {
  const { N, IN, OUT, r } = d;
  const xd = dropRef(x, dropout);
  const { u } = loraForwardRef(x, A, B, d, scale, dropout);
  // g = dy·B (N, r), so d(out)/du = s·g
  const g = new Float64Array(N * r);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let o = 0; o < OUT; o++) acc += dy[n * OUT + o] * B[o * r + j];
      g[n * r + j] = scale * acc;
    }
  }
  const dB = new Float64Array(OUT * r);
  for (let o = 0; o < OUT; o++) {
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let n = 0; n < N; n++) acc += dy[n * OUT + o] * u[n * r + j];
      dB[o * r + j] = scale * acc;
    }
  }
  const dA = new Float64Array(r * IN);
  for (let j = 0; j < r; j++) {
    for (let k = 0; k < IN; k++) {
      let acc = 0;
      for (let n = 0; n < N; n++) acc += g[n * r + j] * xd[n * IN + k];
      dA[j * IN + k] = acc;
    }
  }
  const dx = new Float64Array(N * IN);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < IN; k++) {
      let acc = 0;
      for (let j = 0; j < r; j++) acc += g[n * r + j] * A[j * IN + k];
      const e = n * IN + k;
      dx[e] = dropout ? acc * dropFactor(dropout.seed, e, dropout.p) : acc;
    }
  }
  return { dx, dA, dB };
}
