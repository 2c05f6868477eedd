// Plain TS (f64) reference of one (IA)³ linear as PEFT's IA3 Linear computes it (no dropout):
//   output scaling (is_feedforward false):  y = l ⊙ (x·Wᵀ + b)        (PEFT: base_layer(x) * ia3_l)
//   input scaling (is_feedforward true):    y = (x ⊙ l)·Wᵀ + b        (PEFT: base_layer(x * ia3_l))
// and its gradients for upstream dy. Shapes: x (N, IN), W (OUT, IN), b (OUT) or null, l (OUT) for
// output scaling or (IN) for input scaling, dy (N, OUT).

export interface Ia3RefInputs {
  x: ArrayLike<number>;
  W: ArrayLike<number>;
  bias: ArrayLike<number> | null;
  l: ArrayLike<number>;
  feedforward: boolean;
  N: number;
  IN: number;
  OUT: number;
}

export function ia3LinearRef(p: Ia3RefInputs, dy: ArrayLike<number>): { y: Float64Array; dx: Float64Array; dl: Float64Array } {
  const { x, W, bias, l, feedforward, N, IN, OUT } = p;
  const y = new Float64Array(N * OUT);
  const dx = new Float64Array(N * IN);
  const dl = new Float64Array(feedforward ? IN : OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let z = bias ? bias[o] : 0;
      for (let i = 0; i < IN; i++) z += (feedforward ? x[n * IN + i] * l[i] : x[n * IN + i]) * W[o * IN + i];
      y[n * OUT + o] = feedforward ? z : z * l[o];
      if (!feedforward) dl[o] += dy[n * OUT + o] * z;
    }
    for (let i = 0; i < IN; i++) {
      let g = 0;
      for (let o = 0; o < OUT; o++) g += (feedforward ? dy[n * OUT + o] : dy[n * OUT + o] * l[o]) * W[o * IN + i];
      if (feedforward) {
        dl[i] += g * x[n * IN + i];
        dx[n * IN + i] = g * l[i];
      } else {
        dx[n * IN + i] = g;
      }
    }
  }
  return { y, dx, dl };
}

/** out = x ⊙ l per column of an (N, K) x. */
export function ia3ScaleRef(x: ArrayLike<number>, l: ArrayLike<number>, N: number, K: number): Float64Array {
  const out = new Float64Array(N * K);
  for (let n = 0; n < N; n++) for (let j = 0; j < K; j++) out[n * K + j] = x[n * K + j] * l[j];
  return out;
}

/** Σ_n a_nj · b_nj per column of (N, K) a and b. */
export function ia3ColumnDotRef(a: ArrayLike<number>, b: ArrayLike<number>, N: number, K: number): Float64Array {
  const out = new Float64Array(K);
  for (let n = 0; n < N; n++) for (let j = 0; j < K; j++) out[j] += a[n * K + j] * b[n * K + j];
  return out;
}
