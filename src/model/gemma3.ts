// Gemma 3 text decoder blocks (HF Gemma3ForCausalLM / Gemma3TextModel) on our kernels: training
// forward+backward with LoRA on any linear module (or full fine-tuning's weight gradients), the
// inference forward and KV-cache decode.
//
// Shapes: N = B*T tokens, C hidden, Q = Hq*D, KV = Hkv*D, F intermediate. Every norm is Gemma's
// RMSNorm x·rstd·(1 + w) (rmsnorm op, weightOffset 1). Per layer i:
//   (layer 0) x = x · embeddingScale     (Gemma3TextScaledWordEmbedding; virtual prompt-tuning
//                                          rows are left unscaled, as PEFT passes them as inputs_embeds)
//   h1 = norm_in(x)                       q,k,v = h1·W{q,k,v}ᵀ + LoRA
//   qn,kn = q_norm, k_norm over D of every head      qr,kr = rope(qn,kn)  (local layers:
//                                          rope_local_base_freq, plain; global: rope_theta + rope_scaling)
//   o = attention(qr,kr,v; scale query_pre_attn_scalar^-0.5; window on sliding layers)
//   ao = o·Woᵀ + LoRA                     x2 = x + norm_post_attn(ao)
//   h2 = norm_pre_ff(x2)                  g,u = h2·W{gate,up}ᵀ + LoRA    m = gelu_tanh(g)·u
//   dn = m·Wdownᵀ + LoRA                  x' = x2 + norm_post_ff(dn)
// Final norm (1 + w); the LM head is the embedding table (tied). Backward runs the same in
// reverse with the residual gradient dX updated in place; activation checkpointing recomputes a
// layer from its input under the key 'cur'.
import type { GpuContext } from '../gpu/device';
import { attentionBackward, attentionForward } from '../gpu/ops/attention';
import { attentionDecode, kvCacheWrite } from '../gpu/ops/attentionDecode';
import { addInPlace, copyTensor, scaleInPlace, scaleTensor } from '../gpu/ops/elementwise';
import { gegluBackward, gegluForward } from '../gpu/ops/geglu';
import { loraBackward, loraForward } from '../gpu/ops/lora';
import { baseDyW, baseXWt } from '../gpu/ops/baseLinear';
import { rmsnormBackward, rmsnormForward } from '../gpu/ops/rmsnorm';
import { ropeBackward, ropeForward } from '../gpu/ops/rope';
import type { Tensor } from '../gpu/tensor';
import type { ModelConfig } from '../io/hfConfig';
import type { LoraAdapter, LoraModule } from './adapter';
import { doraForward, doraUpstream } from './doraLinear';
import type { LayerCache, ForwardRun, StepInputs, TransformerBlocks } from './blocks';
import { linearWeightGrads } from './fullFinetuneGrads';
import { ropeInvFreqTensor } from './ropeFrequencies';
import type { Workspace } from './workspace';

type Proj = 'q_proj' | 'k_proj' | 'v_proj' | 'o_proj' | 'gate_proj' | 'up_proj' | 'down_proj';
const PROJS: Proj[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const ATTN: Proj[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
/** Gemma's RMSNorm scales by (1 + w). */
const ONE_PLUS_W = 1;

export class Gemma3Blocks implements TransformerBlocks {
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
    return `model.layers.${i}.${ATTN.includes(p) ? 'self_attn' : 'mlp'}.${p}`;
  }

  /** The sliding window of layer i, or null for a global (full attention) layer. */
  private window(i: number): number | null {
    return this.c.layerWindows?.[i] ?? this.c.slidingWindow;
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

  /** y = norm(x)·(1 + w) with rstd saved; Gemma's RMSNorm. */
  private norm(x: Tensor, name: string, y: Tensor, rstd: Tensor) {
    return rmsnormForward(this.ctx, x, this.weight(name), { eps: this.c.normEps, weightOffset: ONE_PLUS_W, out: y, rstdOut: rstd });
  }

  /** dx (+)= the norm's input gradient; full fine-tuning also accumulates the weight's. */
  private normBackward(run: ForwardRun | null, dy: Tensor, x: Tensor, name: string, rstd: Tensor, dx: Tensor, accumulateDx: boolean) {
    const dw = run?.weightGrads?.get(name);
    return rmsnormBackward(this.ctx, dy, x, this.weight(name), rstd, { weightOffset: ONE_PLUS_W, dx, accumulateDx, ...(dw ? { dw, accumulateDw: true } : {}) });
  }

  /** (N, H*D) viewed as (N*H, D): the per-head q/k norms normalize each row. */
  private heads(t: Tensor, H: number): Tensor {
    return { ...t, shape: [t.shape[0] * H, this.c.headDim] };
  }

  /** inv_freq of layer i: local (sliding) layers plain RoPE at rope_local_base_freq, global ones config.rope. */
  private invFreq(i: number, inp: StepInputs): Tensor {
    const c = this.c;
    if (this.window(i) !== null && c.localRopeTheta !== undefined) {
      return ropeInvFreqTensor(this.ctx, c.localRopeTheta, c.headDim, { type: 'default' }, inp.maxPosition ?? 0);
    }
    const scaling = c.rope ?? { type: 'default' as const };
    if (scaling.type === 'dynamic' && inp.maxPosition === undefined) {
      throw new Error('dynamic RoPE scaling needs the largest position of the batch: pass inputs from CausalLM.upload (StepInputs.maxPosition)');
    }
    return ropeInvFreqTensor(this.ctx, c.ropeTheta ?? 10000, c.headDim, scaling, inp.maxPosition ?? 0);
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
      qn: f('qn', [N, Q]), kn: f('kn', [N, KV]), qrstd: f('qrstd', [N * c.numHeads]), krstd: f('krstd', [N * c.numKvHeads]),
      qr: f('qr', [N, Q]), kr: f('kr', [N, KV]), o: f('o', [N, Q]), lse: f('lse', [N * c.numHeads]),
      ao: f('ao', [N, C]), rstd2: f('rstd2', [N]), x2: f('x2', [N, C]),
      h2: f('h2', [N, C]), rstd3: f('rstd3', [N]),
      g: f('g', [N, F]), u: f('up', [N, F]), m: f('m', [N, F]),
      dn: f('dn', [N, C]), rstd4: f('rstd4', [N]),
    };
  }

  /** Rows of every sequence the embedding scale leaves alone: prompt tuning's virtual tokens (prefill only). */
  private unscaledRows(run: ForwardRun | null, cache?: LayerCache): number {
    const prompt = run?.prompt?.embeddings;
    if (!prompt || (cache && cache.pos !== 0)) return 0;
    return prompt.shape[0];
  }

  /** Layer 0's input: the scaled token embeddings (a copy; x itself stays the embedding output). */
  private async scaledInput(ws: Workspace, run: ForwardRun | null, inp: StepInputs, x: Tensor, key: string, cache?: LayerCache): Promise<Tensor> {
    const s = this.c.embeddingScale ?? 1;
    const xs = ws.get(`${key}.x0s`, 'f32', x.shape);
    await scaleTensor(this.ctx, x, s, xs);
    const n = this.unscaledRows(run, cache);
    const C = this.c.hiddenSize;
    for (let b = 0; b < inp.B && n > 0; b++) copyTensor(this.ctx, x, xs, { srcOffset: b * inp.T * C, dstOffset: b * inp.T * C, count: n * C });
    return xs;
  }

  async layerForward(ws: Workspace, run: ForwardRun | null, i: number, inp: StepInputs, x: Tensor, xOut: Tensor, key: string, cache?: LayerCache): Promise<void> {
    const c = this.c;
    const N = inp.B * inp.T;
    const a = this.acts(ws, key, N);
    const p = `model.layers.${i}`;
    const base = i === 0 ? await this.scaledInput(ws, run, inp, x, key, cache) : x;
    await this.norm(base, `${p}.input_layernorm.weight`, a.h1, a.rstd1);
    await this.linear(ws, run, i, 'q_proj', a.h1, a.q, `${key}.q_proj`);
    await this.linear(ws, run, i, 'k_proj', a.h1, a.k, `${key}.k_proj`);
    await this.linear(ws, run, i, 'v_proj', a.h1, a.v, `${key}.v_proj`);
    await this.norm(this.heads(a.q, c.numHeads), `${p}.self_attn.q_norm.weight`, this.heads(a.qn, c.numHeads), a.qrstd);
    await this.norm(this.heads(a.k, c.numKvHeads), `${p}.self_attn.k_norm.weight`, this.heads(a.kn, c.numKvHeads), a.krstd);
    const invFreq = this.invFreq(i, inp);
    await ropeForward(this.ctx, a.qn, inp.positions, { H: c.numHeads, D: c.headDim, invFreq, out: a.qr });
    await ropeForward(this.ctx, a.kn, inp.positions, { H: c.numKvHeads, D: c.headDim, invFreq, out: a.kr });
    const window = this.window(i);
    const scale = c.attentionScale;
    if (cache) {
      kvCacheWrite(this.ctx, a.kr, a.v, cache.k, cache.v, { pos: cache.pos });
      await attentionDecode(this.ctx, a.qr, cache.k, cache.v, { pos: cache.pos, Hq: c.numHeads, scale, window, out: a.o, lse: a.lse });
    } else {
      const shape = { B: inp.B, T: inp.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, docIds: inp.docIds ?? undefined, scale, window };
      await attentionForward(this.ctx, a.qr, a.kr, a.v, { ...shape, out: a.o, lse: a.lse });
    }
    await this.linear(ws, run, i, 'o_proj', a.o, a.ao, `${key}.o_proj`);
    await this.norm(a.ao, `${p}.post_attention_layernorm.weight`, a.x2, a.rstd2);
    await addInPlace(this.ctx, a.x2, base);
    await this.norm(a.x2, `${p}.pre_feedforward_layernorm.weight`, a.h2, a.rstd3);
    await this.linear(ws, run, i, 'gate_proj', a.h2, a.g, `${key}.gate_proj`);
    await this.linear(ws, run, i, 'up_proj', a.h2, a.u, `${key}.up_proj`);
    await gegluForward(this.ctx, a.g, a.u, { out: a.m });
    await this.linear(ws, run, i, 'down_proj', a.m, a.dn, `${key}.down_proj`);
    await this.norm(a.dn, `${p}.post_feedforward_layernorm.weight`, xOut, a.rstd4);
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
    const base = i === 0 ? ws.get(`${key}.x0s`, 'f32', [N, C]) : x;
    const dc = ws.get('grad.c', 'f32', [N, C]);
    // MLP branch: x' = x2 + norm_post_ff(dn)
    await this.normBackward(run, dX, a.dn, `${p}.post_feedforward_layernorm.weight`, a.rstd4, dc, false);
    const dm = ws.get('grad.m', 'f32', [N, F]);
    await this.linearBackward(ws, run, i, 'down_proj', a.m, dc, dm, false, `${key}.down_proj`);
    const dg = ws.get('grad.g', 'f32', [N, F]);
    const du = ws.get('grad.up', 'f32', [N, F]);
    await gegluBackward(this.ctx, dm, a.g, a.u, { dgate: dg, dup: du });
    const dh = ws.get('grad.h', 'f32', [N, C]);
    await this.linearBackward(ws, run, i, 'gate_proj', a.h2, dg, dh, false, `${key}.gate_proj`);
    await this.linearBackward(ws, run, i, 'up_proj', a.h2, du, dh, true, `${key}.up_proj`);
    await this.normBackward(run, dh, a.x2, `${p}.pre_feedforward_layernorm.weight`, a.rstd3, dX, true);
    // attention branch: x2 = x + norm_post_attn(ao)
    await this.normBackward(run, dX, a.ao, `${p}.post_attention_layernorm.weight`, a.rstd2, dc, false);
    const dO = ws.get('grad.o', 'f32', [N, Q]);
    await this.linearBackward(ws, run, i, 'o_proj', a.o, dc, dO, false, `${key}.o_proj`);
    const shape = { B: inp.B, T: inp.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, docIds: inp.docIds ?? undefined, scale: c.attentionScale, window: this.window(i) };
    const g = await attentionBackward(this.ctx, a.qr, a.kr, a.v, a.o, a.lse, dO, {
      ...shape,
      dq: ws.get('grad.qr', 'f32', [N, Q]),
      dk: ws.get('grad.kr', 'f32', [N, KV]),
      dv: ws.get('grad.v', 'f32', [N, KV]),
      scratch: ws.get('scratch.attn', 'f32', [N * c.numHeads * 2]),
    });
    const invFreq = this.invFreq(i, inp);
    const dqn = ws.get('grad.qn', 'f32', [N, Q]);
    const dkn = ws.get('grad.kn', 'f32', [N, KV]);
    await ropeBackward(this.ctx, g.dq, inp.positions, { H: c.numHeads, D: c.headDim, invFreq, out: dqn });
    await ropeBackward(this.ctx, g.dk, inp.positions, { H: c.numKvHeads, D: c.headDim, invFreq, out: dkn });
    const dq = ws.get('grad.q', 'f32', [N, Q]);
    const dk = ws.get('grad.k', 'f32', [N, KV]);
    await this.normBackward(run, this.heads(dqn, c.numHeads), this.heads(a.q, c.numHeads), `${p}.self_attn.q_norm.weight`, a.qrstd, this.heads(dq, c.numHeads), false);
    await this.normBackward(run, this.heads(dkn, c.numKvHeads), this.heads(a.k, c.numKvHeads), `${p}.self_attn.k_norm.weight`, a.krstd, this.heads(dk, c.numKvHeads), false);
    await this.linearBackward(ws, run, i, 'q_proj', a.h1, dq, dh, false, `${key}.q_proj`);
    await this.linearBackward(ws, run, i, 'k_proj', a.h1, dk, dh, true, `${key}.k_proj`);
    await this.linearBackward(ws, run, i, 'v_proj', a.h1, g.dv, dh, true, `${key}.v_proj`);
    await this.normBackward(run, dh, base, `${p}.input_layernorm.weight`, a.rstd1, dX, true);
    if (i === 0) await this.unscaleGradient(run, inp, dX, ws);
  }

  /** dX = dL/d(scaled input) -> dL/d(embedding output): times the scale, except the unscaled prompt rows. */
  private async unscaleGradient(run: ForwardRun | null, inp: StepInputs, dX: Tensor, ws: Workspace): Promise<void> {
    const s = this.c.embeddingScale ?? 1;
    const n = this.unscaledRows(run);
    const C = this.c.hiddenSize;
    const keep = n > 0 ? ws.get('grad.promptRows', 'f32', [inp.B * n, C]) : null;
    for (let b = 0; keep && b < inp.B; b++) copyTensor(this.ctx, dX, keep, { srcOffset: b * inp.T * C, dstOffset: b * n * C, count: n * C });
    await scaleInPlace(this.ctx, dX, s);
    for (let b = 0; keep && b < inp.B; b++) copyTensor(this.ctx, keep, dX, { srcOffset: b * n * C, dstOffset: b * inp.T * C, count: n * C });
  }

  async finalNorm(ws: Workspace, x: Tensor, N: number): Promise<{ h: Tensor; rstd: Tensor }> {
    const h = ws.get('final.h', 'f32', [N, this.c.hiddenSize]);
    const rstd = ws.get('final.rstd', 'f32', [N]);
    await this.norm(x, 'model.norm.weight', h, rstd);
    return { h, rstd };
  }

  async finalNormBackward(dh: Tensor, x: Tensor, rstd: Tensor, dX: Tensor): Promise<void> {
    await this.normBackward(null, dh, x, 'model.norm.weight', rstd, dX, false);
  }

  async finalNormBackwardWithGrads(dh: Tensor, x: Tensor, rstd: Tensor, dX: Tensor, grads: ReadonlyMap<string, Tensor>): Promise<void> {
    await this.normBackward({ weightGrads: grads, seed: 0, training: true }, dh, x, 'model.norm.weight', rstd, dX, false);
  }

  embeddingName(): string {
    return 'model.embed_tokens.weight';
  }

  lmHeadName(): string {
    return this.c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  }
}
