// Phi-3 / Phi-4-mini decoder blocks (HF Phi3ForCausalLM) on our kernels: training forward+backward
// with LoRA on the fused modules as HF and PEFT name them (self_attn.qkv_proj, mlp.gate_up_proj,
// plus o_proj and down_proj) or full fine-tuning's weight gradients, the inference forward and
// KV-cache decode.
//
// Shapes: N = B*T tokens, C hidden, Q = Hq*D, KV = Hkv*D, F intermediate. Per layer:
//   h1 = rmsnorm(x)             qkv = h1·Wqkvᵀ + LoRA (N, Q+2KV) -> q (N,Q) | k (N,KV) | v (N,KV)
//   q,k = rope over the first rotaryDim dims of each head (partial_rotary_factor), rest passed
//   o = attention(q,k,v; config.sliding_window on every layer)
//   x2 = x + (o·Woᵀ + LoRA)     h2 = rmsnorm(x2)
//   gu = h2·Wguᵀ + LoRA (N, 2F) = [gate | up]      m = silu(gate)·up
//   x' = x2 + (m·Wdownᵀ + LoRA)
// The backward merges dq, dk, dv back into d(qkv) (the split's adjoint) for the fused weight's
// backward. qkv itself is scratch (q, k, v are kept); gu is kept for the SwiGLU backward.
import type { GpuContext } from '../gpu/device';
import { attentionBackward, attentionForward } from '../gpu/ops/attention';
import { attentionDecode, kvCacheWrite } from '../gpu/ops/attentionDecode';
import { addInPlace } from '../gpu/ops/elementwise';
import { loraBackward, loraForward } from '../gpu/ops/lora';
import { baseDyW, baseXWt } from '../gpu/ops/baseLinear';
import { rmsnormBackward, rmsnormForward } from '../gpu/ops/rmsnorm';
import { ropeBackward, ropeForward } from '../gpu/ops/rope';
import { mergeColumns, splitColumns } from '../gpu/ops/splitColumns';
import { swigluFusedBackward, swigluFusedForward } from '../gpu/ops/swiglu';
import type { Tensor } from '../gpu/tensor';
import type { ModelConfig } from '../io/hfConfig';
import type { LoraAdapter, LoraModule } from './adapter';
import { doraForward, doraUpstream } from './doraLinear';
import type { LayerCache, ForwardRun, StepInputs, TransformerBlocks } from './blocks';
import { linearWeightGrads } from './fullFinetuneGrads';
import { uploadF32 } from '../gpu/tensor';
import { ropeInvFreqTensor } from './ropeFrequencies';
import type { Workspace } from './workspace';

type Proj = 'qkv_proj' | 'o_proj' | 'gate_up_proj' | 'down_proj';

/**
 * LongRoPE inv_freq in f32 as HF computes it (_compute_longrope_parameters):
 * 1 / (ext_i · theta^(f32(2i/R))), every step rounded to f32.
 */
export function longRopeInvFreq(theta: number, R: number, ext: readonly number[]): Float32Array {
  const f = Math.fround;
  return Float32Array.from({ length: R / 2 }, (_, i) => f(1 / f(f(ext[i]) * f(Math.pow(theta, f((2 * i) / R))))));
}

// LongRoPE frequencies per device (two per model: short and long), kept for the device's lifetime
const longRopeCache = new WeakMap<GpuContext, Map<string, Tensor>>();
const PROJS: Proj[] = ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'];

export class Phi3Blocks implements TransformerBlocks {
  readonly c: ModelConfig;
  constructor(
    private ctx: GpuContext,
    config: ModelConfig,
    private w: Map<string, Tensor>,
  ) {
    this.c = config;
  }

  private weight(name: string): Tensor {
    const t = this.w.get(name);
    if (!t) throw new Error(`model weight ${name} is not loaded`);
    return t;
  }

  private path(i: number, p: Proj): string {
    return `model.layers.${i}.${p === 'qkv_proj' || p === 'o_proj' ? 'self_attn' : 'mlp'}.${p}`;
  }

  private lora(run: ForwardRun | null, i: number, p: Proj): LoraModule | null {
    return run?.adapter?.modules.get(this.path(i, p)) ?? null;
  }

  private dropout(adapter: LoraAdapter, run: ForwardRun, i: number, p: Proj) {
    const pDrop = run.training ? adapter.spec.dropout : 0;
    if (pDrop <= 0) return null;
    // one stream per (step, layer, module), identical in forward, recomputation and backward
    return { p: pDrop, seed: (Math.imul(run.seed, 0x9e3779b1) ^ Math.imul(i * 8 + PROJS.indexOf(p) + 1, 0x85ebca6b)) >>> 0 };
  }

  private async linear(ws: Workspace, run: ForwardRun | null, i: number, p: Proj, x: Tensor, y: Tensor, key: string): Promise<void> {
    await baseXWt(this.ctx, x, this.weight(`${this.path(i, p)}.weight`), null, { out: y });
    const m = this.lora(run, i, p);
    if (m && run?.adapter) {
      const u = ws.get(`${key}.u`, 'f32', [x.shape[0], m.A.shape[0]]);
      await loraForward(this.ctx, x, m.A, m.B, y, { scale: run.adapter.scale, dropout: this.dropout(run.adapter, run, i, p), u });
      if (m.dora) await doraForward(this.ctx, ws, run.adapter, m, this.weight(`${this.path(i, p)}.weight`), null, y, key);
    }
  }

  private async linearBackward(ws: Workspace, run: ForwardRun | null, i: number, p: Proj, x: Tensor, dy: Tensor, dx: Tensor, accumulate: boolean, key: string) {
    const m = this.lora(run, i, p);
    // DoRA: the base and LoRA paths both take g ⊙ dy
    const up = m?.dora ? await doraUpstream(this.ctx, ws, m, dy, key) : dy;
    await baseDyW(this.ctx, up, this.weight(`${this.path(i, p)}.weight`), { out: dx, accumulate });
    if (m && run?.adapter) {
      const u = ws.get(`${key}.u`, 'f32', [x.shape[0], m.A.shape[0]]);
      const du = ws.get('scratch.du', 'f32', [x.shape[0], m.A.shape[0]]);
      await loraBackward(this.ctx, x, m.A, m.B, u, up, { scale: run.adapter.scale, dropout: this.dropout(run.adapter, run, i, p), du }, { dA: m.dA, dB: m.dB, dx });
    }
    if (run?.weightGrads) await linearWeightGrads(this.ctx, ws, run.weightGrads, this.path(i, p), x, dy);
  }

  private normGrad(run: ForwardRun | null, name: string): { dw?: Tensor; accumulateDw?: boolean } {
    const dw = run?.weightGrads?.get(name);
    return dw ? { dw, accumulateDw: true } : {};
  }

  /** LongRoPE: the long factors once this forward's positions pass the original context. */
  private longRopeFreq(inp: StepInputs, rotaryDim: number): Tensor {
    const c = this.c;
    const lr = c.longRope!;
    if (inp.maxPosition === undefined) throw new Error('LongRoPE needs the largest position of the batch: pass inputs from CausalLM.upload (StepInputs.maxPosition)');
    const long = inp.maxPosition + 1 > lr.originalMaxPositions;
    const ext = long ? lr.longFactor : lr.shortFactor;
    const theta = c.ropeTheta ?? 10000;
    let perCtx = longRopeCache.get(this.ctx);
    if (!perCtx) longRopeCache.set(this.ctx, (perCtx = new Map()));
    const key = `${theta}/${rotaryDim}/${ext.join(',')}`;
    let t = perCtx.get(key);
    if (t && !this.ctx.allocator.usable(t.buffer)) t = undefined;
    if (!t) {
      t = uploadF32(this.ctx, longRopeInvFreq(theta, rotaryDim, ext), [rotaryDim / 2], `longrope inv_freq ${long ? 'long' : 'short'}`);
      perCtx.set(key, t);
    }
    return t;
  }

  /** RoPE over the first rotaryDim dims of each head, with config.rope's (or LongRoPE's) frequencies for them. */
  private rope(inp: StepInputs) {
    const c = this.c;
    const rotaryDim = c.rotaryDim ?? c.headDim;
    if (c.longRope) return { D: c.headDim, rotaryDim, invFreq: this.longRopeFreq(inp, rotaryDim), rotatedScale: c.longRope.attentionFactor };
    const scaling = c.rope ?? { type: 'default' as const };
    if (scaling.type === 'dynamic' && inp.maxPosition === undefined) {
      throw new Error('dynamic RoPE scaling needs the largest position of the batch: pass inputs from CausalLM.upload (StepInputs.maxPosition)');
    }
    const invFreq = ropeInvFreqTensor(this.ctx, c.ropeTheta ?? 10000, rotaryDim, scaling, inp.maxPosition ?? 0);
    return { D: c.headDim, rotaryDim, invFreq };
  }

  private acts(ws: Workspace, key: string, N: number) {
    const c = this.c;
    const Q = c.numHeads * c.headDim;
    const KV = c.numKvHeads * c.headDim;
    const F = c.intermediateSize;
    const C = c.hiddenSize;
    const f = (name: string, shape: number[]) => ws.get(`${key}.${name}`, 'f32', shape);
    return {
      h1: f('h1', [N, C]), rstd1: f('rstd1', [N]),
      q: f('q', [N, Q]), k: f('k', [N, KV]), v: f('v', [N, KV]),
      qr: f('qr', [N, Q]), kr: f('kr', [N, KV]), o: f('o', [N, Q]), lse: f('lse', [N * c.numHeads]),
      x2: f('x2', [N, C]), h2: f('h2', [N, C]), rstd2: f('rstd2', [N]),
      gu: f('gu', [N, 2 * F]), m: f('m', [N, F]),
    };
  }

  async layerForward(ws: Workspace, run: ForwardRun | null, i: number, inp: StepInputs, x: Tensor, xOut: Tensor, key: string, cache?: LayerCache): Promise<void> {
    const c = this.c;
    const N = inp.B * inp.T;
    const a = this.acts(ws, key, N);
    const p = `model.layers.${i}`;
    const Q = c.numHeads * c.headDim;
    const KV = c.numKvHeads * c.headDim;
    await rmsnormForward(this.ctx, x, this.weight(`${p}.input_layernorm.weight`), { eps: c.normEps, out: a.h1, rstdOut: a.rstd1 });
    const qkv = ws.get('scratch.qkv', 'f32', [N, Q + 2 * KV]);
    await this.linear(ws, run, i, 'qkv_proj', a.h1, qkv, `${key}.qkv_proj`);
    await splitColumns(this.ctx, qkv, [a.q, a.k, a.v]);
    const r = this.rope(inp);
    await ropeForward(this.ctx, a.q, inp.positions, { H: c.numHeads, ...r, out: a.qr });
    await ropeForward(this.ctx, a.k, inp.positions, { H: c.numKvHeads, ...r, out: a.kr });
    const window = c.slidingWindow;
    if (cache) {
      kvCacheWrite(this.ctx, a.kr, a.v, cache.k, cache.v, { pos: cache.pos });
      await attentionDecode(this.ctx, a.qr, cache.k, cache.v, { pos: cache.pos, Hq: c.numHeads, window, out: a.o, lse: a.lse });
    } else {
      const shape = { B: inp.B, T: inp.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, docIds: inp.docIds ?? undefined, window };
      await attentionForward(this.ctx, a.qr, a.kr, a.v, { ...shape, out: a.o, lse: a.lse });
    }
    await this.linear(ws, run, i, 'o_proj', a.o, a.x2, `${key}.o_proj`);
    await addInPlace(this.ctx, a.x2, x);
    await rmsnormForward(this.ctx, a.x2, this.weight(`${p}.post_attention_layernorm.weight`), { eps: c.normEps, out: a.h2, rstdOut: a.rstd2 });
    await this.linear(ws, run, i, 'gate_up_proj', a.h2, a.gu, `${key}.gate_up_proj`);
    await swigluFusedForward(this.ctx, a.gu, { out: a.m });
    await this.linear(ws, run, i, 'down_proj', a.m, xOut, `${key}.down_proj`);
    await addInPlace(this.ctx, xOut, a.x2);
  }

  async layerBackward(ws: Workspace, run: ForwardRun | null, i: number, inp: StepInputs, x: Tensor, dX: Tensor, key: string): Promise<void> {
    const c = this.c;
    const N = inp.B * inp.T;
    const C = c.hiddenSize;
    const F = c.intermediateSize;
    const Q = c.numHeads * c.headDim;
    const KV = c.numKvHeads * c.headDim;
    const a = this.acts(ws, key, N);
    const p = `model.layers.${i}`;
    // MLP
    const dm = ws.get('grad.m', 'f32', [N, F]);
    await this.linearBackward(ws, run, i, 'down_proj', a.m, dX, dm, false, `${key}.down_proj`);
    const dgu = ws.get('grad.gu', 'f32', [N, 2 * F]);
    await swigluFusedBackward(this.ctx, dm, a.gu, { out: dgu });
    const dh = ws.get('grad.h', 'f32', [N, C]);
    await this.linearBackward(ws, run, i, 'gate_up_proj', a.h2, dgu, dh, false, `${key}.gate_up_proj`);
    const post = `${p}.post_attention_layernorm.weight`;
    await rmsnormBackward(this.ctx, dh, a.x2, this.weight(post), a.rstd2, { dx: dX, accumulateDx: true, ...this.normGrad(run, post) });
    // attention
    const dO = ws.get('grad.o', 'f32', [N, Q]);
    await this.linearBackward(ws, run, i, 'o_proj', a.o, dX, dO, false, `${key}.o_proj`);
    const shape = { B: inp.B, T: inp.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, docIds: inp.docIds ?? undefined, window: c.slidingWindow };
    const g = await attentionBackward(this.ctx, a.qr, a.kr, a.v, a.o, a.lse, dO, {
      ...shape,
      dq: ws.get('grad.qr', 'f32', [N, Q]),
      dk: ws.get('grad.kr', 'f32', [N, KV]),
      dv: ws.get('grad.v', 'f32', [N, KV]),
      scratch: ws.get('scratch.attn', 'f32', [N * c.numHeads * 2]),
    });
    const r = this.rope(inp);
    const dq = ws.get('grad.q', 'f32', [N, Q]);
    const dk = ws.get('grad.k', 'f32', [N, KV]);
    await ropeBackward(this.ctx, g.dq, inp.positions, { H: c.numHeads, ...r, out: dq });
    await ropeBackward(this.ctx, g.dk, inp.positions, { H: c.numKvHeads, ...r, out: dk });
    const dqkv = ws.get('grad.qkv', 'f32', [N, Q + 2 * KV]);
    await mergeColumns(this.ctx, [dq, dk, g.dv], dqkv);
    await this.linearBackward(ws, run, i, 'qkv_proj', a.h1, dqkv, dh, false, `${key}.qkv_proj`);
    const inNorm = `${p}.input_layernorm.weight`;
    await rmsnormBackward(this.ctx, dh, x, this.weight(inNorm), a.rstd1, { dx: dX, accumulateDx: true, ...this.normGrad(run, inNorm) });
  }

  async finalNorm(ws: Workspace, x: Tensor, N: number): Promise<{ h: Tensor; rstd: Tensor }> {
    const h = ws.get('final.h', 'f32', [N, this.c.hiddenSize]);
    const rstd = ws.get('final.rstd', 'f32', [N]);
    await rmsnormForward(this.ctx, x, this.weight('model.norm.weight'), { eps: this.c.normEps, out: h, rstdOut: rstd });
    return { h, rstd };
  }

  async finalNormBackward(dh: Tensor, x: Tensor, rstd: Tensor, dX: Tensor): Promise<void> {
    await rmsnormBackward(this.ctx, dh, x, this.weight('model.norm.weight'), rstd, { dx: dX });
  }

  async finalNormBackwardWithGrads(dh: Tensor, x: Tensor, rstd: Tensor, dX: Tensor, grads: ReadonlyMap<string, Tensor>): Promise<void> {
    const dw = grads.get('model.norm.weight');
    await rmsnormBackward(this.ctx, dh, x, this.weight('model.norm.weight'), rstd, { dx: dX, ...(dw ? { dw, accumulateDw: true } : {}) });
  }

  embeddingName(): string {
    return 'model.embed_tokens.weight';
  }

  lmHeadName(): string {
    return this.c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  }
}
