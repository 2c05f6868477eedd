// Plain TS reference for one torch.optim.AdamW step (f64), written from the published algorithm
// (Loshchilov & Hutter, decoupled weight decay; torch's bias-corrected form), independently of
// the kernel. Updates param, m, v in place.

export interface AdamWRefHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

export function adamwStepRef(
  param: Float64Array,
  grad: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  h: AdamWRefHyper,
  gradMultiplier = 1,
): void {
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * gradMultiplier;
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    const mHat = m[i] / bc1;
    const vHat = v[i] / bc2;
    param[i] = param[i] * (1 - h.lr * h.weightDecay) - h.lr * (mHat / (Math.sqrt(vHat) + h.eps));
  }
}
