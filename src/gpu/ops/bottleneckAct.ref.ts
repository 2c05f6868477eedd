// Plain TS reference (f64) of the bottleneck adapter's non-linearity (shaders/bottleneck_act.wgsl).
/** relu, swish: the bottleneck adapters'; tanh: prefix tuning's reparameterisation MLP (PEFT PrefixEncoder). */
export type BottleneckActivation = 'relu' | 'swish' | 'tanh';

function sigmoid(v: number): number {
  return v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
}

export function bottleneckActForwardRef(z: ArrayLike<number>, act: BottleneckActivation): Float64Array {
  const a = new Float64Array(z.length);
  for (let i = 0; i < z.length; i++) a[i] = act === 'relu' ? Math.max(z[i], 0) : act === 'tanh' ? Math.tanh(z[i]) : z[i] * sigmoid(z[i]);
  return a;
}

export function bottleneckActBackwardRef(da: ArrayLike<number>, z: ArrayLike<number>, act: BottleneckActivation): Float64Array {
  const dz = new Float64Array(z.length);
  for (let i = 0; i < z.length; i++) {
    const v = z[i];
    const s = sigmoid(v);
    dz[i] = da[i] * (act === 'relu' ? (v > 0 ? 1 : 0) : act === 'tanh' ? 1 - Math.tanh(v) ** 2 : s * (1 + v * (1 - s)));
  }
  return dz;
}
