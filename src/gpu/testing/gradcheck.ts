// Central finite differences for checking backward kernels against their forward reference.
// Central, not one-sided: the truncation error is h²/6·|f'''| instead of h/2·|f''|, so a step of
// 1e-4..1e-3 gives ~1e-8 accuracy on smooth functions, and linear or quadratic ones are exact up
// to rounding. Everything is f64 so that the rounding error, ~eps·|loss|/h, stays far below the f32
// kernels' own error that the tests measure.

/**
 * ∂loss/∂v by central differences: g[i] = (loss(v + h·eᵢ) − loss(v − h·eᵢ)) / 2h.
 * `loss` gets one f64 copy of v, perturbed in place between calls: it must not keep or change it.
 * `v` itself is never modified.
 */
export function centralDiffGrad(loss: (v: Float64Array) => number, v: ArrayLike<number>, h: number): Float64Array {
  if (!(h > 0 && Number.isFinite(h))) throw new Error(`centralDiffGrad: step h must be a finite number > 0, got ${h}`);
  const p = Float64Array.from(v);
  const g = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const keep = p[i];
    p[i] = keep + h;
    const up = loss(p);
    p[i] = keep - h;
    const down = loss(p);
    p[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/**
 * The vector-Jacobian product dyᵀ·∂f/∂v, i.e. ∂(Σⱼ dyⱼ·f(v)ⱼ)/∂v, by central differences: what a
 * backward pass returns for the upstream gradient dy.
 */
export function centralDiffVjp(
  f: (v: Float64Array) => ArrayLike<number>,
  v: ArrayLike<number>,
  dy: ArrayLike<number>,
  h: number,
): Float64Array {
  return centralDiffGrad(
    (p) => {
      const y = f(p);
      if (y.length !== dy.length) {
        throw new Error(`centralDiffVjp: f returned ${y.length} values but dy has ${dy.length}; pass a dy shaped like f's output`);
      }
      let s = 0;
      for (let j = 0; j < y.length; j++) s += y[j] * dy[j];
      return s;
    },
    v,
    h,
  );
}
