// Attention version 3: the FA2 forward (attentionFa2.ts) with each query row's online softmax
// split over FA2_SG_LANES lanes of a subgroup and merged with subgroupShuffleXor
// (shaders/attention_fa2_sg.wgsl; the K/V tiles are version 2's, fragments/fa2_kv_tile.wgsl).
// The backward is version 2's (it recomputes probabilities from the saved lse and has no
// softmax reduction). Same shapes as ops/attention.ts; head dims up to 128.
// It needs the device's 'subgroups' feature and relies on a lane layout WGSL does not promise,
// so the ops run it only where it is legal and has matched the TS reference on this very device
// (fa2SgChoice: the reason is recorded; otherwise version 2, and where that fails version 1).
import type { GpuContext } from '../device';
import { dispatch } from '../dispatch';
import { ENABLE_SUBGROUPS, FA2_KV_TILE } from '../fragments';
import type { WgslSource } from '../shader';
import sgCode from '../shaders/attention_fa2_sg.wgsl?raw';
import type { Tensor } from '../tensor';
import { type Fa2ForwardDispatch, fa2IllegalReason, fa2Tiles } from './attentionFa2';

export const ATTENTION_FA2_SG_SHADER: WgslSource = { file: 'attention_fa2_sg.wgsl', code: sgCode, fragments: [ENABLE_SUBGROUPS, FA2_KV_TILE] };

/** Lanes per query row (G in the shader): 4 is SwiftShader's subgroup size and divides every GPU's. */
export const FA2_SG_LANES = 4;
/** Largest head dim of version 3 (a lane holds a whole row). */
export const FA2_SG_MAX_D = 128;

/** Why version 3 cannot run this problem on this device (null: it can). */
export function fa2SgIllegalReason(ctx: GpuContext, D: number, rows: number, heads: number): string | null {
  if (!ctx.description.features.subgroups) return "the device has no 'subgroups' feature";
  if (D > FA2_SG_MAX_D) return `head dim ${D} is above ${FA2_SG_MAX_D} (one lane holds a row)`;
  const why = fa2IllegalReason(ctx.description.limits, D, rows, heads);
  if (why) return why;
  const threads = fa2Tiles(D).fwd.br * FA2_SG_LANES;
  const lim = ctx.description.limits;
  if (threads > lim.maxComputeInvocationsPerWorkgroup || threads > lim.maxComputeWorkgroupSizeX) return `needs ${threads} threads per workgroup`;
  return null;
}

/** Records attention_fwd_v3 (out, lse); the caller has checked the tensors and fa2SgIllegalReason. */
export async function recordFa2SgForward(ctx: GpuContext, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, a: Fa2ForwardDispatch): Promise<void> {
  const t = fa2Tiles(a.D);
  const pipeline = await ctx.pipelines.get({
    shader: ATTENTION_FA2_SG_SHADER,
    entryPoint: 'attention_fwd_v3',
    constants: { BR: t.fwd.br, BC: t.fwd.bc, D4: a.D / 4, G: FA2_SG_LANES },
  });
  const params = new ArrayBuffer(48);
  const u = new Uint32Array(params);
  u.set([a.B, a.Tq, a.Tk, a.Hq, a.Hkv, a.qPos0, a.docIds ? 1 : 0]);
  new Float32Array(params)[7] = a.scale;
  u[8] = a.window;
  dispatch(ctx, {
    pipeline,
    bindings: [q, k, v, a.docIds ?? ctx.emptyBuffer, out, lse],
    uniforms: u,
    workgroups: [Math.ceil(a.Tq / t.fwd.br), a.B * a.Hq],
    label: a.label,
  });
}
