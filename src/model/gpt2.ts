// GPT-2 (GPT2LMHeadModel) blocks on our kernels: a training forward+backward with LoRA on any of
// c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj (or, for full fine-tuning, the gradients of every
// weight, bias and LayerNorm parameter), and the inference / KV-cache forward. The same
// surface as LlamaBlocks (TransformerBlocks), so CausalLM drives either.
//
// Shapes: N = B*T tokens, C hidden = H*D, F inner (n_inner, default 4C). Weights are [out, in]
// (load.ts transposes GPT-2's Conv1D [in, out] at load), biases and LayerNorm params f32.
// Per layer (HF GPT2Block):
//   h1 = ln_1(x)                       qkv = h1·W_c_attnᵀ + b + LoRA      (N, 3C)
//   q | k | v = split(qkv)             o = causal attention(q, k, v), Hq = Hkv = H, no RoPE
//   x2 = x + (o·W_attn.c_projᵀ + b + LoRA)
//   h2 = ln_2(x2)                      f = h2·W_c_fcᵀ + b + LoRA          (N, F)
//   m = gelu_new(f)                    x' = x2 + (m·W_mlp.c_projᵀ + b + LoRA)
// Final ln_f; the LM head is wte (tied) unless the checkpoint has lm_head.weight. Position
// embeddings (wpe) are added by CausalLM's embedding step.
//
// Why c_attn stays fused: its LoRA (PEFT, fan_in_fan_out) is ONE A (r, C) and ONE B (3C, r), so
// the base projection, the LoRA forward/backward, the adapter's tensors, the optimizer and the
// PEFT export all work on the fused module exactly as for any other linear. Only attention wants
// q, k, v apart: a column-block copy (ops/splitColumns) splits qkv after the projection and merges
// dq | dk | dv back into dqkv before c_attn's backward. The alternative (three [C, C] linears
// sharing A with B cut into row blocks) would need B stored as three tensors and reassembled for
// the optimizer, checkpoints and export.
import type { GpuContext } from '../gpu/device';
import { attentionBackward, attentionForward } from '../gpu/ops/attention';
import { attentionDecode, kvCacheWrite } from '../gpu/ops/attentionDecode';
import { addInPlace } from '../gpu/ops/elementwise';
import { geluBackward, geluForward } from '../gpu/ops/gelu';
import { layernormBackward, layernormForward } from '../gpu/ops/layernorm';
import { loraBackward, loraForward } from '../gpu/ops/lora';
import { baseDyW, baseXWt } from '../gpu/ops/baseLinear';
import { mergeColumns, splitColumns } from '../gpu/ops/splitColumns';
import type { Tensor } from '../gpu/tensor';
import type { ModelConfig } from '../io/hfConfig';
import type { LoraAdapter, LoraModule } from './adapter';
import { doraForward, doraUpstream } from './doraLinear';
import type { LayerCache, ForwardRun, StepInputs, TransformerBlocks } from './blocks';
import { linearWeightGrads } from './fullFinetuneGrads';
import type { Workspace } from './workspace';

/** layernormBackward options that accumulate a LayerNorm's weight and bias gradients in full fine-tuning. */
function normGrads(run: Pick<ForwardRun, 'weightGrads'> | null, norm: string): { weightGrads?: { dw: Tensor; db: Tensor }; accumulateWeightGrads?: boolean } {
  const dw = run?.weightGrads?.get(`${norm}.weight`);
  const db = run?.weightGrads?.get(`${norm}.bias`);
  if (!dw && !db) return {};
  if (!dw || !db) throw new Error(`full fine-tuning needs gradients for both ${norm}.weight and ${norm}.bias (the LayerNorm kernel computes them together)`);
  return { weightGrads: { dw, db }, accumulateWeightGrads: true };
}

/** Module paths below transformer.h.{i}, as in linearModules() and PEFT keys. */
type Proj = 'attn.c_attn' | 'attn.c_proj' | 'mlp.c_fc' | 'mlp.c_proj';
const PROJS: Proj[] = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];

export class Gpt2Blocks implements TransformerBlocks {
  readonly c: ModelConfig;
  /** final LayerNorm: rstd buffer -> the mean saved beside it (the interface passes only rstd) */
  private finalMeans = new WeakMap<GPUBuffer, Tensor>();

  constructor(
    private ctx: GpuContext,
    config: ModelConfig,
    private w: Map<string, Tensor>,
  ) {
    if (config.norm !== 'layernorm' || config.positions !== 'learned') throw new Error(`Gpt2Blocks: ${config.hfArchitecture} is not a GPT-2-shaped model (LayerNorm, learned positions)`);
    if (config.hiddenAct !== 'gelu_new') {
      throw new Error(`This GPT-2 config asks for activation_function "${config.hiddenAct}"; Whetstone implements only "gelu_new" (the GPT-2 default).`);
    }
    this.c = config;
  }

  private weight(name: string): Tensor {
    const t = this.w.get(name);
    if (!t) throw new Error(`model weight ${name} is not loaded`);
    return t;
  }

  private path(i: number, p: Proj): string {
    return `transformer.h.${i}.${p}`;
  }

  private lora(run: ForwardRun | null, i: number, p: Proj): LoraModule | null {
    return run?.adapter?.modules.get(this.path(i, p)) ?? null;
  }

  private dropout(adapter: LoraAdapter, run: ForwardRun, i: number, p: Proj) {
    const pDrop = run.training ? adapter.spec.dropout : 0;
    if (pDrop <= 0) return null;
    // one stream per (step, layer, module), identical in forward, recomputation and backward
    return { p: pDrop, seed: (Math.imul(run.seed, 0x9e3779b1) ^ Math.imul(i * 4 + PROJS.indexOf(p) + 1, 0x85ebca6b)) >>> 0 };
  }

  /** y = x·Wᵀ + b (+ LoRA); saves the LoRA u under `${key}.u` when an adapter targets it. */
  private async linear(ws: Workspace, run: ForwardRun | null, i: number, p: Proj, x: Tensor, y: Tensor, key: string): Promise<void> {
    const base = this.path(i, p);
    await baseXWt(this.ctx, x, this.weight(`${base}.weight`), this.weight(`${base}.bias`), { out: y });
    const m = this.lora(run, i, p);
    if (m && run?.adapter) {
      const u = ws.get(`${key}.u`, 'f32', [x.shape[0], m.A.shape[0]]);
      await loraForward(this.ctx, x, m.A, m.B, y, { scale: run.adapter.scale, dropout: this.dropout(run.adapter, run, i, p), u });
      if (m.dora) await doraForward(this.ctx, ws, run.adapter, m, this.weight(`${base}.weight`), this.weight(`${base}.bias`), y, key);
    }
  }

  /**
   * dx (+)= dy·W (+ LoRA backward, which also accumulates dA, dB). The bias is frozen except in
   * full fine-tuning, which accumulates dW and db.
   */
  private async linearBackward(ws: Workspace, run: ForwardRun | null, i: number, p: Proj, x: Tensor, dy: Tensor, dx: Tensor, key: string) {
    const m = this.lora(run, i, p);
    // DoRA: the base and LoRA paths both take g ⊙ dy
    const up = m?.dora ? await doraUpstream(this.ctx, ws, m, dy, key) : dy;
    await baseDyW(this.ctx, up, this.weight(`${this.path(i, p)}.weight`), { out: dx, accumulate: false });
    if (m && run?.adapter) {
      const u = ws.get(`${key}.u`, 'f32', [x.shape[0], m.A.shape[0]]);
      const du = ws.get('scratch.du', 'f32', [x.shape[0], m.A.shape[0]]);
      await loraBackward(this.ctx, x, m.A, m.B, u, up, { scale: run.adapter.scale, dropout: this.dropout(run.adapter, run, i, p), du }, { dA: m.dA, dB: m.dB, dx });
    }
    if (run?.weightGrads) await linearWeightGrads(this.ctx, ws, run.weightGrads, this.path(i, p), x, dy);
  }

  /** Saved activations of layer i under `key` ("L3" normally, "cur" when recomputed). */
  private acts(ws: Workspace, key: string, N: number) {
    const C = this.c.hiddenSize;
    const F = this.c.intermediateSize;
    return {
      h1: ws.get(`${key}.h1`, 'f32', [N, C]),
      mean1: ws.get(`${key}.mean1`, 'f32', [N]),
      rstd1: ws.get(`${key}.rstd1`, 'f32', [N]),
      q: ws.get(`${key}.q`, 'f32', [N, C]),
      k: ws.get(`${key}.k`, 'f32', [N, C]),
      v: ws.get(`${key}.v`, 'f32', [N, C]),
      o: ws.get(`${key}.o`, 'f32', [N, C]),
      lse: ws.get(`${key}.lse`, 'f32', [N * this.c.numHeads]),
      x2: ws.get(`${key}.x2`, 'f32', [N, C]),
      h2: ws.get(`${key}.h2`, 'f32', [N, C]),
      mean2: ws.get(`${key}.mean2`, 'f32', [N]),
      rstd2: ws.get(`${key}.rstd2`, 'f32', [N]),
      f: ws.get(`${key}.f`, 'f32', [N, F]),
      m: ws.get(`${key}.m`, 'f32', [N, F]),
    };
  }

  private shape(inp: StepInputs) {
    const c = this.c;
    return { B: inp.B, T: inp.T, Hq: c.numHeads, Hkv: c.numHeads, D: c.headDim, docIds: inp.docIds ?? undefined };
  }

  async layerForward(ws: Workspace, run: ForwardRun | null, i: number, inp: StepInputs, x: Tensor, xOut: Tensor, key: string, cache?: LayerCache): Promise<void> {
    const c = this.c;
    const N = inp.B * inp.T;
    const C = c.hiddenSize;
    const a = this.acts(ws, key, N);
    const p = `transformer.h.${i}`;
    await layernormForward(this.ctx, x, this.weight(`${p}.ln_1.weight`), this.weight(`${p}.ln_1.bias`), { eps: c.normEps, out: a.h1, meanOut: a.mean1, rstdOut: a.rstd1 });
    // qkv is needed only until it is split (c_attn's backward reads h1 and the LoRA u), so one
    // scratch serves every layer
    const qkv = ws.get('scratch.qkv', 'f32', [N, 3 * C]);
    await this.linear(ws, run, i, 'attn.c_attn', a.h1, qkv, `${key}.c_attn`);
    await splitColumns(this.ctx, qkv, [a.q, a.k, a.v]);
    if (cache) {
      // generation: append this step's keys/values, then attend over the whole cache
      kvCacheWrite(this.ctx, a.k, a.v, cache.k, cache.v, { pos: cache.pos });
      await attentionDecode(this.ctx, a.q, cache.k, cache.v, { pos: cache.pos, Hq: c.numHeads, out: a.o, lse: a.lse });
    } else {
      await attentionForward(this.ctx, a.q, a.k, a.v, { ...this.shape(inp), out: a.o, lse: a.lse });
    }
    await this.linear(ws, run, i, 'attn.c_proj', a.o, a.x2, `${key}.attn_c_proj`);
    await addInPlace(this.ctx, a.x2, x);
    await layernormForward(this.ctx, a.x2, this.weight(`${p}.ln_2.weight`), this.weight(`${p}.ln_2.bias`), { eps: c.normEps, out: a.h2, meanOut: a.mean2, rstdOut: a.rstd2 });
    await this.linear(ws, run, i, 'mlp.c_fc', a.h2, a.f, `${key}.c_fc`);
    await geluForward(this.ctx, a.f, { out: a.m });
    await this.linear(ws, run, i, 'mlp.c_proj', a.m, xOut, `${key}.mlp_c_proj`);
    await addInPlace(this.ctx, xOut, a.x2);
  }

  async layerBackward(ws: Workspace, run: ForwardRun | null, i: number, inp: StepInputs, x: Tensor, dX: Tensor, key: string): Promise<void> {
    const c = this.c;
    const N = inp.B * inp.T;
    const C = c.hiddenSize;
    const F = c.intermediateSize;
    const a = this.acts(ws, key, N);
    const p = `transformer.h.${i}`;
    // MLP: dX is dL/dx' = dL/dx2 through the residual; the LayerNorm path is added onto it
    const dm = ws.get('grad.m', 'f32', [N, F]);
    await this.linearBackward(ws, run, i, 'mlp.c_proj', a.m, dX, dm, `${key}.mlp_c_proj`);
    const df = ws.get('grad.f', 'f32', [N, F]);
    await geluBackward(this.ctx, dm, a.f, { out: df });
    const dh = ws.get('grad.h', 'f32', [N, C]);
    await this.linearBackward(ws, run, i, 'mlp.c_fc', a.h2, df, dh, `${key}.c_fc`);
    await layernormBackward(this.ctx, dh, a.x2, this.weight(`${p}.ln_2.weight`), a.mean2, a.rstd2, { dx: dX, accumulateDx: true, ...normGrads(run, `${p}.ln_2`) });
    // attention
    const dO = ws.get('grad.o', 'f32', [N, C]);
    await this.linearBackward(ws, run, i, 'attn.c_proj', a.o, dX, dO, `${key}.attn_c_proj`);
    const g = await attentionBackward(this.ctx, a.q, a.k, a.v, a.o, a.lse, dO, {
      ...this.shape(inp),
      dq: ws.get('grad.q', 'f32', [N, C]),
      dk: ws.get('grad.k', 'f32', [N, C]),
      dv: ws.get('grad.v', 'f32', [N, C]),
      scratch: ws.get('scratch.attn', 'f32', [N * c.numHeads * 2]),
    });
    const dqkv = ws.get('grad.qkv', 'f32', [N, 3 * C]);
    await mergeColumns(this.ctx, [g.dq, g.dk, g.dv], dqkv);
    await this.linearBackward(ws, run, i, 'attn.c_attn', a.h1, dqkv, dh, `${key}.c_attn`);
    await layernormBackward(this.ctx, dh, x, this.weight(`${p}.ln_1.weight`), a.mean1, a.rstd1, { dx: dX, accumulateDx: true, ...normGrads(run, `${p}.ln_1`) });
  }

  async finalNorm(ws: Workspace, x: Tensor, N: number): Promise<{ h: Tensor; rstd: Tensor }> {
    const C = this.c.hiddenSize;
    const h = ws.get('final.h', 'f32', [N, C]);
    const mean = ws.get('final.mean', 'f32', [N]);
    const rstd = ws.get('final.rstd', 'f32', [N]);
    await layernormForward(this.ctx, x, this.weight('transformer.ln_f.weight'), this.weight('transformer.ln_f.bias'), { eps: this.c.normEps, out: h, meanOut: mean, rstdOut: rstd });
    this.finalMeans.set(rstd.buffer, mean);
    return { h, rstd };
  }

  async finalNormBackward(dh: Tensor, x: Tensor, rstd: Tensor, dX: Tensor): Promise<void> {
    const mean = this.finalMeans.get(rstd.buffer);
    if (!mean) throw new Error('Gpt2Blocks.finalNormBackward: pass the rstd that finalNorm returned (its mean is kept beside it)');
    await layernormBackward(this.ctx, dh, x, this.weight('transformer.ln_f.weight'), mean, rstd, { dx: dX });
  }

  /** finalNormBackward that also accumulates ln_f's weight and bias gradients (full fine-tuning). */
  async finalNormBackwardWithGrads(dh: Tensor, x: Tensor, rstd: Tensor, dX: Tensor, grads: ReadonlyMap<string, Tensor>): Promise<void> {
    const mean = this.finalMeans.get(rstd.buffer);
    if (!mean) throw new Error('Gpt2Blocks.finalNormBackwardWithGrads: pass the rstd that finalNorm returned (its mean is kept beside it)');
    await layernormBackward(this.ctx, dh, x, this.weight('transformer.ln_f.weight'), mean, rstd, { dx: dX, ...normGrads({ weightGrads: grads }, 'transformer.ln_f') });
  }

  embeddingName(): string {
    return 'transformer.wte.weight';
  }

  positionEmbeddingName(): string {
    return 'transformer.wpe.weight';
  }

  lmHeadName(): string {
    return this.c.tieWordEmbeddings ? 'transformer.wte.weight' : 'lm_head.weight';
  }
}
