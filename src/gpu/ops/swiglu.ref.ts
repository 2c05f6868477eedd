// Plain TS reference for SwiGLU in f64: h = silu(g)·u, silu(g) = g/(1 + e^-g).
//   gate, up, dh are flat (N·F) arrays; the fused layout is handled by the caller (tests split it).
const sigmoid = (g: number) => 1 / (1 + Math.exp(-g));

export function swigluForwardRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  const h = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) h[i] = gate[i] * sigmoid(gate[i]) * up[i];
  return h;
}

export function swigluBackwardRef(
  dh: ArrayLike<number>,
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
): { dgate: Float64Array; dup: Float64Array } {
  const dgate = new Float64Array(gate.length);
  const dup = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const s = sigmoid(gate[i]);
    // d silu/dg = s + g·s·(1 - s)
    dgate[i] = dh[i] * up[i] * (s + gate[i] * s * (1 - s));
    dup[i] = dh[i] * gate[i] * s;
  }
  return { dgate, dup };
}
