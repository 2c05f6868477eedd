// Plain TS reference for gelu_new (tanh approximation) in f64.
const K = Math.sqrt(2 / Math.PI);
const C = 0.044715;

export function geluForwardRef(x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    y[i] = 0.5 * v * (1 + Math.tanh(K * (v + C * v ** 3)));
  }
  return y;
}

export function geluBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const t = Math.tanh(K * (v + C * v ** 3));
    // product rule on 0.5·v·(1 + t), with dt/dv = (1 - t²)·K·(1 + 3C·v²)
    const slope = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * K * (1 + 3 * C * v * v);
    dx[i] = dy[i] * (Number.isFinite(slope) ? slope : v > 0 ? 1 : 0);
  }
  return dx;
}
