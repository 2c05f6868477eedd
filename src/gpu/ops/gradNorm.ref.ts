// Plain TS reference for the global gradient norm and torch.nn.utils.clip_grad_norm_'s clip
// factor (f64 accumulation), written independently of the kernels.

export interface GradNormRef {
  norm: number;
  clip: number;
  nonFinite: 0 | 1 | 2;
  sumSq: number;
}

export function gradNormRef(grads: readonly ArrayLike<number>[], gradScale = 1, maxNorm: number | null = null): GradNormRef {
  let sumSq = 0;
  let bad = false;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) {
      const v = g[i] * gradScale;
      if (!Number.isFinite(g[i])) bad = true;
      sumSq += v * v;
    }
  }
  const norm = Math.sqrt(sumSq);
  // the kernel accumulates in f32, where a sum of squares past ~3.4e38 is already infinite
  const overflow = !bad && !Number.isFinite(Math.fround(sumSq / (gradScale * gradScale)));
  const nonFinite = bad ? 1 : overflow ? 2 : 0;
  let clip = maxNorm === null ? 1 : Math.min(1, maxNorm / (norm + 1e-6));
  if (nonFinite) clip = 0;
  return { norm, clip, nonFinite, sumSq };
}
