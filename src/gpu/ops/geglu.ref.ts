// Plain TS reference for GeGLU with the tanh GELU (Gemma) in f64, written from the formula:
//   h = gelu_tanh(g)·u,  gelu_tanh(g) = 0.5·g·(1 + tanh(sqrt(2/pi)·(g + 0.044715·g³)))
// gate, up, dh are flat (N·F) arrays.
const K = Math.sqrt(2 / Math.PI);
const C3 = 0.044715;

function geluTanh(g: number): { y: number; dydg: number } {
  const t = Math.tanh(K * (g + C3 * g ** 3));
  return { y: 0.5 * g * (1 + t), dydg: 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * K * (1 + 3 * C3 * g * g) };
}

export function gegluForwardRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  return Float64Array.from(gate, (g, i) => geluTanh(g).y * up[i]);
}

export function gegluBackwardRef(dh: ArrayLike<number>, gate: ArrayLike<number>, up: ArrayLike<number>): { dgate: Float64Array; dup: Float64Array } {
  const dgate = new Float64Array(gate.length);
  const dup = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const { y, dydg } = geluTanh(gate[i]);
    dgate[i] = dh[i] * up[i] * dydg;
    dup[i] = dh[i] * y;
  }
  return { dgate, dup };
}
