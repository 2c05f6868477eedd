// Plain TS reference for RoPE in the Hugging Face rotate_half layout, written independently of the
// kernel. x is (N, H, D), positions (N); for i < D/2 the pair (i, i + D/2) turns by
// angle = pos * inv_freq_i. Like HF, inv_freq_i = 1 / theta^(2i/D) and the angle are rounded to
// f32; cos, sin and the rotation itself are then evaluated in f64. `inverse` rotates by -angle
// (the backward). With rotaryDim R < D (partial rotary, HF Phi-3): only dims 0..R-1 rotate, as a
// head of width R (pairs (i, i + R/2), inv_freq over R); dims R..D-1 are copied.
export interface RopeRefConfig {
  H: number;
  D: number;
  theta: number;
  rotaryDim?: number;
  /** inverse frequencies to use instead of theta's (R/2 values) */
  invFreq?: ArrayLike<number>;
  /** multiplies cos and sin (LongRoPE's attention factor) */
  rotatedScale?: number;
  inverse?: boolean;
  /** when false, inv_freq and the angle stay in f64 (the textbook formula) */
  f32Angles?: boolean;
}

export function ropeRef(x: ArrayLike<number>, positions: ArrayLike<number>, c: RopeRefConfig): Float64Array {
  const { H, D, theta } = c;
  const R = c.rotaryDim ?? D;
  const half = R / 2;
  const f32 = c.f32Angles ?? true;
  const round = f32 ? Math.fround : (v: number) => v;
  const sign = c.inverse ? -1 : 1;
  const y = Float64Array.from(x); // pass-through dims keep x
  for (let n = 0; n < positions.length; n++) {
    for (let i = 0; i < half; i++) {
      const invFreq = c.invFreq ? c.invFreq[i] : round(1 / round(theta ** round((2 * i) / R)));
      const angle = round(positions[n] * invFreq);
      const cos = Math.cos(angle) * (c.rotatedScale ?? 1);
      const sin = sign * Math.sin(angle) * (c.rotatedScale ?? 1);
      for (let h = 0; h < H; h++) {
        const o = (n * H + h) * D;
        const a = x[o + i];
        const b = x[o + i + half];
        y[o + i] = a * cos - b * sin;
        y[o + i + half] = b * cos + a * sin;
      }
    }
  }
  return y;
}
