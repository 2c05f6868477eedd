// The RoPE inverse frequencies a model's config asks for, computed on the CPU in f32 the way
// Hugging Face computes them (modeling_rope_utils: default, linear, dynamic, llama3; every step
// rounded to f32 as torch does with f32 tensors and Python scalars), and uploaded once per device
// and setting (the rope op takes them as its invFreq tensor).
//
//   default  inv[i] = 1 / theta^(2i/D)
//   linear   inv[i] / factor
//   llama3   wavelen = 2π / inv[i]; wavelen < L/high: kept; wavelen > L/low: inv / factor; between:
//            (1 - s)·inv/factor + s·inv with s = (L / wavelen - low) / (high - low),
//            L = original_max_position_embeddings
//   dynamic  (NTK) a forward whose positions reach seq = max(position) + 1 > maxPositions uses the
//            base theta·(factor·seq/maxPositions - (factor - 1))^(D/(D-2)); otherwise default.
//            As in HF generation, keys already in the KV cache keep the frequencies they were
//            rotated with; each new token uses those of its own position (HF keeps the grown
//            frequencies as module state across calls; here each forward uses its own positions,
//            which is what HF computes for a fresh model and for every step of one generation).
import type { GpuContext } from '../gpu/device';
import { ropeInvFreq } from '../gpu/ops/rope';
import { releaseTensor, uploadF32, type Tensor } from '../gpu/tensor';
import type { RopeScaling } from '../io/hfConfig';

const f = Math.fround;

/** f32 inverse frequencies (D/2) for `scaling`; `seqLen` = max position + 1 of the forward (dynamic only). */
export function scaledInvFreq(theta: number, D: number, scaling: RopeScaling, seqLen = 0): Float32Array {
  switch (scaling.type) {
    case 'default':
      return ropeInvFreq(theta, D);
    case 'linear': {
      const inv = ropeInvFreq(theta, D);
      const factor = f(scaling.factor);
      return inv.map((x) => f(x / factor));
    }
    case 'llama3': {
      const inv = ropeInvFreq(theta, D);
      const { lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: L } = scaling;
      const factor = f(scaling.factor);
      const lowFreqWavelen = f(L / low);
      const highFreqWavelen = f(L / high);
      const twoPi = f(2 * Math.PI);
      return inv.map((x) => {
        const wavelen = f(twoPi / x);
        const scaled = wavelen > lowFreqWavelen ? f(x / factor) : x;
        if (wavelen < highFreqWavelen || wavelen > lowFreqWavelen) return scaled;
        const smooth = f(f(f(f(L) / wavelen) - f(low)) / f(high - low));
        return f(f(f(f(1 - smooth) * scaled) / factor) + f(smooth * scaled));
      });
    }
    case 'dynamic': {
      if (seqLen <= scaling.maxPositions) return ropeInvFreq(theta, D);
      const factor = f(scaling.factor);
      const growth = f(f(f(f(factor * seqLen) / scaling.maxPositions) - f(scaling.factor - 1)));
      const base = f(f(theta) * f(Math.pow(growth, f(D / (D - 2)))));
      const inv = new Float32Array(D / 2);
      for (let i = 0; i < D / 2; i++) inv[i] = 1 / f(Math.pow(base, f((2 * i) / D)));
      return inv;
    }
  }
}

/** The seqLen scaledInvFreq needs, or 0 when the frequencies do not depend on it. */
function effectiveSeqLen(scaling: RopeScaling, maxPosition: number): number {
  if (scaling.type !== 'dynamic') return 0;
  const seq = maxPosition + 1;
  return seq > scaling.maxPositions ? seq : 0;
}

// uploaded frequencies per device and setting, kept for the device's lifetime (D/2 floats each; a
// dynamic model adds one per length beyond its maximum that a forward meets: 256 bytes per
// generated token at D = 128). Never released while the device lives, so a tensor recorded in a
// pending command stays valid.
const cache = new WeakMap<GpuContext, Map<string, Tensor>>();

/**
 * The (D/2) f32 inv_freq tensor of this RoPE setting for a forward whose largest position is
 * `maxPosition`, uploaded once per device. `theta` is the base (rope_theta, or a layer's own base).
 */
export function ropeInvFreqTensor(ctx: GpuContext, theta: number, D: number, scaling: RopeScaling, maxPosition: number): Tensor {
  let perCtx = cache.get(ctx);
  if (!perCtx) {
    perCtx = new Map();
    cache.set(ctx, perCtx);
  }
  const seq = effectiveSeqLen(scaling, maxPosition);
  const key = `${theta}/${D}/${JSON.stringify(scaling)}/${seq}`;
  let t = perCtx.get(key);
  // one whose allocation ran out of memory (reported after a failed run) is made again
  if (t && !ctx.allocator.usable(t.buffer)) {
    releaseTensor(ctx, t);
    perCtx.delete(key);
    t = undefined;
  }
  if (!t) {
    t = uploadF32(ctx, scaledInvFreq(theta, D, scaling, seq), [D / 2], `rope inv_freq ${scaling.type} theta=${theta} D=${D}${seq ? ` seq=${seq}` : ''}`);
    perCtx.set(key, t);
  }
  return t;
}
