// The Llama family (Llama 2/3, SmolLM, TinyLlama, Qwen2 with q/k/v biases, Mistral with its
// sliding window) on our kernels: a training forward+backward with LoRA on any linear module (or,
// for full fine-tuning, the gradients of every weight: dW += dyᵀ·x and db += Σ dy per linear, the
// RMSNorm weights' dw), and an inference forward for logits and generation.
//
// Shapes: N = B*T tokens, C hidden, Q = Hq*D, KV = Hkv*D, F intermediate, V vocab.
// Per layer:  h1 = rmsnorm(x)                 q,k,v = h1·W{q,k,v}ᵀ (+b) + LoRA
//             (Qwen3, config.qkNorm: q,k = rmsnorm over D of every head with q_norm / k_norm)
//             q,k = rope(q,k)                 o = attention(q,k,v)
//             x2 = x + (o·Woᵀ + LoRA)         h2 = rmsnorm(x2)
//             g,u = h2·W{gate,up}ᵀ + LoRA     m = silu(g)·u
//             x' = x2 + (m·Wdownᵀ + LoRA)
// RoPE uses the inverse frequencies config.rope asks for (ropeFrequencies.ts: default, linear,
// llama3, dynamic), in training and in decode.
// Backward runs the same in reverse; the residual stream's gradient dX is one buffer updated
// in place through every layer. With activation checkpointing only each layer's input is kept
// and the layer is recomputed right before its backward.
import type { GpuContext } from '../gpu/device';
import { addInPlace } from '../gpu/ops/elementwise';
import { loraBackward, loraForward } from '../gpu/ops/lora';
import { baseDyW, baseXWt } from '../gpu/ops/baseLinear';
import { rmsnormBackward, rmsnormForward } from '../gpu/ops/rmsnorm';
import { ropeBackward, ropeForward } from '../gpu/ops/rope';
import { attentionBackward, attentionForward } from '../gpu/ops/attention';
import { attentionDecode, kvCacheWrite } from '../gpu/ops/attentionDecode';
import { swigluBackward, swigluForward } from '../gpu/ops/swiglu';
import type { Tensor } from '../gpu/tensor';
import type { ModelConfig } from '../io/hfConfig';
import type { LoraAdapter, LoraModule } from './adapter';
import { doraForward, doraUpstream } from './doraLinear';
import { bottleneckAt, bottleneckBackward, bottleneckForward, type BottleneckLocation, type BottleneckStage } from './bottleneck';
import { ia3LinearBackward, ia3LinearForward } from './ia3';
import { prefixLayerBackward, prefixLayerForward } from './prefixTuning';
import type { ForwardRun, LayerCache, StepInputs, TransformerBlocks } from './blocks';
import { linearWeightGrads } from './fullFinetuneGrads';
import { ropeInvFreqTensor } from './ropeFrequencies';
import type { Workspace } from './workspace';

/** rmsnormBackward options that accumulate the norm weight's gradient when full fine-tuning asks for it. */
function normGrad(run: Pick<ForwardRun, 'weightGrads'> | null, name: string): { dw?: Tensor; accumulateDw?: boolean } {
  const dw = run?.weightGrads?.get(name);
  return dw ? { dw, accumulateDw: true } : {};
}

type Proj = 'q_proj' | 'k_proj' | 'v_proj' | 'o_proj' | 'gate_proj' | 'up_proj' | 'down_proj';
const ATTN: Proj[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];

export class LlamaBlocks implements TransformerBlocks {
  readonly c: ModelConfig;
  readonly supportsIa3 = true;
  readonly supportsBottleneck = true;
  readonly supportsPrefix = true;
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

  private lora(run: ForwardRun | null, i: number, p: Proj): LoraModule | null {
    return run?.adapter?.modules.get(this.path(i, p)) ?? null;
  }

  private dropout(adapter: LoraAdapter, run: ForwardRun, i: number, p: Proj) {
    const pDrop = run.training ? adapter.spec.dropout : 0;
    if (pDrop <= 0) return null;
    // one stream per (step, layer, module), identical in forward, recomputation and backward
    return { p: pDrop, seed: (Math.imul(run.seed, 0x9e3779b1) ^ Math.imul(i * 8 + ATTN.concat(['gate_proj', 'up_proj', 'down_proj']).indexOf(p) + 1, 0x85ebca6b)) >>> 0 };
  }

  /** y = x·Wᵀ (+b) (+ LoRA); saves the LoRA u under `${key}.u` when training. */
  private async linear(ws: Workspace, run: ForwardRun | null, i: number, p: Proj, x: Tensor, y: Tensor, key: string): Promise<void> {
    const base = this.path(i, p);
    const ia3 = run?.ia3?.modules.get(base);
    if (ia3) return ia3LinearForward(this.ctx, ws, ia3, x, this.weight(`${base}.weight`), this.w.get(`${base}.bias`) ?? null, y, key);
    await baseXWt(this.ctx, x, this.weight(`${base}.weight`), this.w.get(`${base}.bias`) ?? null, { out: y });
    const m = this.lora(run, i, p);
    if (m && run?.adapter) {
      const u = ws.get(`${key}.u`, 'f32', [x.shape[0], m.A.shape[0]]);
      await loraForward(this.ctx, x, m.A, m.B, y, { scale: run.adapter.scale, dropout: this.dropout(run.adapter, run, i, p), u });
      if (m.dora) await doraForward(this.ctx, ws, run.adapter, m, this.weight(`${base}.weight`), this.w.get(`${base}.bias`) ?? null, y, key);
    }
  }

  /** dx (+)= dy·W (+ LoRA backward, which also accumulates dA, dB; full fine-tuning: dW, db). */
  private async linearBackward(ws: Workspace, run: ForwardRun | null, i: number, p: Proj, x: Tensor, dy: Tensor, dx: Tensor, accumulate: boolean, key: string) {
    const ia3 = run?.ia3?.modules.get(this.path(i, p));
    if (ia3) return ia3LinearBackward(this.ctx, ws, ia3, x, this.weight(`${this.path(i, p)}.weight`), dy, dx, accumulate, key);
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

  /** Bottleneck adapters (bottleneck.ts): y ← y + g(y) where the run has a module at this point of layer i. */
  private async bottleneck(ws: Workspace, run: ForwardRun | null, i: number, loc: BottleneckLocation, stage: BottleneckStage, y: Tensor, key: string): Promise<void> {
    const m = bottleneckAt(run?.bottleneck, i, loc, stage);
    if (m && run?.bottleneck) await bottleneckForward(this.ctx, ws, run.bottleneck, m, y, key);
  }

  /** Backward of that point: the gradient at its input (dy itself where there is no module; in place after a residual add, where nothing else reads dy). */
  private async bottleneckGrad(ws: Workspace, run: ForwardRun | null, i: number, loc: BottleneckLocation, stage: BottleneckStage, dy: Tensor, key: string): Promise<Tensor> {
    const m = bottleneckAt(run?.bottleneck, i, loc, stage);
    if (!m || !run?.bottleneck) return dy;
    const dIn = stage === 'residual' ? dy : ws.get(`grad.bn.${loc}`, 'f32', dy.shape);
    await bottleneckBackward(this.ctx, ws, run.bottleneck, m, dy, dIn, key);
    return dIn;
  }

  /** Names of the saved activations of layer i ("L3" normally, "cur" when recomputed). */
  private acts(ws: Workspace, key: string, N: number) {
    const c = this.c;
    const Q = c.numHeads * c.headDim;
    const KV = c.numKvHeads * c.headDim;
    const F = c.intermediateSize;
    const C = c.hiddenSize;
    return {
      h1: ws.get(`${key}.h1`, 'f32', [N, C]),
      rstd1: ws.get(`${key}.rstd1`, 'f32', [N]),
      q: ws.get(`${key}.q`, 'f32', [N, Q]),
      k: ws.get(`${key}.k`, 'f32', [N, KV]),
      v: ws.get(`${key}.v`, 'f32', [N, KV]),
      qr: ws.get(`${key}.qr`, 'f32', [N, Q]),
      kr: ws.get(`${key}.kr`, 'f32', [N, KV]),
      o: ws.get(`${key}.o`, 'f32', [N, Q]),
      lse: ws.get(`${key}.lse`, 'f32', [N * c.numHeads]),
      x2: ws.get(`${key}.x2`, 'f32', [N, C]),
      h2: ws.get(`${key}.h2`, 'f32', [N, C]),
      rstd2: ws.get(`${key}.rstd2`, 'f32', [N]),
      g: ws.get(`${key}.g`, 'f32', [N, F]),
      u: ws.get(`${key}.up`, 'f32', [N, F]),
      m: ws.get(`${key}.m`, 'f32', [N, F]),
      // Qwen3: q, k after their per-head RMSNorm, and its rstd per (token, head)
      qn: c.qkNorm ? ws.get(`${key}.qn`, 'f32', [N, Q]) : null,
      kn: c.qkNorm ? ws.get(`${key}.kn`, 'f32', [N, KV]) : null,
      qrstd: c.qkNorm ? ws.get(`${key}.qrstd`, 'f32', [N * c.numHeads]) : null,
      krstd: c.qkNorm ? ws.get(`${key}.krstd`, 'f32', [N * c.numKvHeads]) : null,
    };
  }

  /** Sliding window of layer i (Mistral: every layer; Qwen2/3: layer_types), null: full attention. */
  private window(i: number): number | null {
    return this.c.layerWindows ? this.c.layerWindows[i] : this.c.slidingWindow;
  }

  /** inv_freq of this forward's positions (config.rope; dynamic scaling depends on the largest position). */
  private invFreq(inp: StepInputs): Tensor {
    const c = this.c;
    const scaling = c.rope ?? { type: 'default' as const };
    if (scaling.type === 'dynamic' && inp.maxPosition === undefined) {
      throw new Error('dynamic RoPE scaling needs the largest position of the batch: pass inputs from CausalLM.upload (StepInputs.maxPosition)');
    }
    return ropeInvFreqTensor(this.ctx, c.ropeTheta ?? 10000, c.headDim, scaling, inp.maxPosition ?? 0);
  }

  /** (N, H*D) viewed as (N*H, D) rows: the per-head RMSNorm of q/k normalizes each row. */
  private heads(t: Tensor, H: number): Tensor {
    const rows = t.shape[0] * H;
    return { ...t, shape: [rows, this.c.headDim] };
  }

  /** Layer i: x (N, C) -> xOut (N, C), keeping activations under `key`. */
  async layerForward(ws: Workspace, run: ForwardRun | null, i: number, inp: StepInputs, x: Tensor, xOut: Tensor, key: string, cache?: LayerCache): Promise<void> {
    const c = this.c;
    const N = inp.B * inp.T;
    const a = this.acts(ws, key, N);
    const p = `model.layers.${i}`;
    await rmsnormForward(this.ctx, x, this.weight(`${p}.input_layernorm.weight`), { eps: c.normEps, out: a.h1, rstdOut: a.rstd1 });
    await this.linear(ws, run, i, 'q_proj', a.h1, a.q, `${key}.q_proj`);
    await this.linear(ws, run, i, 'k_proj', a.h1, a.k, `${key}.k_proj`);
    await this.linear(ws, run, i, 'v_proj', a.h1, a.v, `${key}.v_proj`);
    let q = a.q;
    let k = a.k;
    if (a.qn && a.kn && a.qrstd && a.krstd) {
      await rmsnormForward(this.ctx, this.heads(a.q, c.numHeads), this.weight(`${p}.self_attn.q_norm.weight`), { eps: c.normEps, out: this.heads(a.qn, c.numHeads), rstdOut: a.qrstd });
      await rmsnormForward(this.ctx, this.heads(a.k, c.numKvHeads), this.weight(`${p}.self_attn.k_norm.weight`), { eps: c.normEps, out: this.heads(a.kn, c.numKvHeads), rstdOut: a.krstd });
      q = a.qn;
      k = a.kn;
    }
    const invFreq = this.invFreq(inp);
    await ropeForward(this.ctx, q, inp.positions, { H: c.numHeads, D: c.headDim, invFreq, out: a.qr });
    await ropeForward(this.ctx, k, inp.positions, { H: c.numKvHeads, D: c.headDim, invFreq, out: a.kr });
    if (cache) {
      // generation: append this step's keys/values, then attend over the whole cache
      kvCacheWrite(this.ctx, a.kr, a.v, cache.k, cache.v, { pos: cache.pos });
      await attentionDecode(this.ctx, a.qr, cache.k, cache.v, { pos: cache.pos, Hq: c.numHeads, window: this.window(i), out: a.o, lse: a.lse });
    } else if (run?.prefix) {
      // prefix tuning: every query also sees the layer's prefix keys/values (no RoPE on them)
      const shape = { B: inp.B, T: inp.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, window: this.window(i) };
      await prefixLayerForward(this.ctx, ws, run.prefix, i, key, { q: a.qr, k: a.kr, v: a.v, out: a.o, docIds: inp.docIds }, shape);
    } else {
      const shape = { B: inp.B, T: inp.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, docIds: inp.docIds ?? undefined, window: this.window(i) };
      await attentionForward(this.ctx, a.qr, a.kr, a.v, { ...shape, out: a.o, lse: a.lse });
    }
    await this.linear(ws, run, i, 'o_proj', a.o, a.x2, `${key}.o_proj`);
    await this.bottleneck(ws, run, i, 'attention', 'sublayer', a.x2, key);
    await addInPlace(this.ctx, a.x2, x);
    await this.bottleneck(ws, run, i, 'attention', 'residual', a.x2, key);
    await rmsnormForward(this.ctx, a.x2, this.weight(`${p}.post_attention_layernorm.weight`), { eps: c.normEps, out: a.h2, rstdOut: a.rstd2 });
    await this.linear(ws, run, i, 'gate_proj', a.h2, a.g, `${key}.gate_proj`);
    await this.linear(ws, run, i, 'up_proj', a.h2, a.u, `${key}.up_proj`);
    await swigluForward(this.ctx, a.g, a.u, { out: a.m });
    await this.linear(ws, run, i, 'down_proj', a.m, xOut, `${key}.down_proj`);
    await this.bottleneck(ws, run, i, 'output', 'sublayer', xOut, key);
    await addInPlace(this.ctx, xOut, a.x2);
    await this.bottleneck(ws, run, i, 'output', 'residual', xOut, key);
  }

  /**
   * Backward of layer i. dX (N, C) holds dL/d(layer output) on entry and dL/d(layer input) on
   * return. x is the layer's input; activations are read from `key`.
   */
  async layerBackward(ws: Workspace, run: ForwardRun | null, i: number, inp: StepInputs, x: Tensor, dX: Tensor, key: string): Promise<void> {
    const c = this.c;
    const N = inp.B * inp.T;
    const C = c.hiddenSize;
    const a = this.acts(ws, key, N);
    const p = `model.layers.${i}`;
    const F = c.intermediateSize;
    const Q = c.numHeads * c.headDim;
    const KV = c.numKvHeads * c.headDim;
    // MLP (bottleneck adapters: through the output adapter first)
    await this.bottleneckGrad(ws, run, i, 'output', 'residual', dX, key);
    const dDown = await this.bottleneckGrad(ws, run, i, 'output', 'sublayer', dX, key);
    const dm = ws.get('grad.m', 'f32', [N, F]);
    await this.linearBackward(ws, run, i, 'down_proj', a.m, dDown, dm, false, `${key}.down_proj`);
    const dg = ws.get('grad.g', 'f32', [N, F]);
    const du = ws.get('grad.up', 'f32', [N, F]);
    await swigluBackward(this.ctx, dm, a.g, a.u, { dgate: dg, dup: du });
    const dh = ws.get('grad.h', 'f32', [N, C]);
    await this.linearBackward(ws, run, i, 'gate_proj', a.h2, dg, dh, false, `${key}.gate_proj`);
    await this.linearBackward(ws, run, i, 'up_proj', a.h2, du, dh, true, `${key}.up_proj`);
    await rmsnormBackward(this.ctx, dh, a.x2, this.weight(`${p}.post_attention_layernorm.weight`), a.rstd2, { dx: dX, accumulateDx: true, ...normGrad(run, `${p}.post_attention_layernorm.weight`) });
    // attention (bottleneck adapters: through the attention adapter first)
    await this.bottleneckGrad(ws, run, i, 'attention', 'residual', dX, key);
    const dAttn = await this.bottleneckGrad(ws, run, i, 'attention', 'sublayer', dX, key);
    const dO = ws.get('grad.o', 'f32', [N, Q]);
    await this.linearBackward(ws, run, i, 'o_proj', a.o, dAttn, dO, false, `${key}.o_proj`);
    const shape = { B: inp.B, T: inp.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, docIds: inp.docIds ?? undefined, window: this.window(i) };
    const g = { dq: ws.get('grad.qr', 'f32', [N, Q]), dk: ws.get('grad.kr', 'f32', [N, KV]), dv: ws.get('grad.v', 'f32', [N, KV]) };
    if (run?.prefix) {
      await prefixLayerBackward(this.ctx, ws, run.prefix, i, key, dO, g, { B: inp.B, T: inp.T, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, window: this.window(i) });
    } else {
      await attentionBackward(this.ctx, a.qr, a.kr, a.v, a.o, a.lse, dO, { ...shape, ...g, scratch: ws.get('scratch.attn', 'f32', [N * c.numHeads * 2]) });
    }
    const invFreq = this.invFreq(inp);
    const dq = ws.get('grad.q', 'f32', [N, Q]);
    const dk = ws.get('grad.k', 'f32', [N, KV]);
    if (a.qn && a.kn && a.qrstd && a.krstd) {
      // rope backward into d(qn), d(kn), then the per-head RMSNorm's backward into dq, dk
      const dqn = ws.get('grad.qn', 'f32', [N, Q]);
      const dkn = ws.get('grad.kn', 'f32', [N, KV]);
      await ropeBackward(this.ctx, g.dq, inp.positions, { H: c.numHeads, D: c.headDim, invFreq, out: dqn });
      await ropeBackward(this.ctx, g.dk, inp.positions, { H: c.numKvHeads, D: c.headDim, invFreq, out: dkn });
      const qw = `${p}.self_attn.q_norm.weight`;
      const kw = `${p}.self_attn.k_norm.weight`;
      await rmsnormBackward(this.ctx, this.heads(dqn, c.numHeads), this.heads(a.q, c.numHeads), this.weight(qw), a.qrstd, { dx: this.heads(dq, c.numHeads), ...normGrad(run, qw) });
      await rmsnormBackward(this.ctx, this.heads(dkn, c.numKvHeads), this.heads(a.k, c.numKvHeads), this.weight(kw), a.krstd, { dx: this.heads(dk, c.numKvHeads), ...normGrad(run, kw) });
    } else {
      await ropeBackward(this.ctx, g.dq, inp.positions, { H: c.numHeads, D: c.headDim, invFreq, out: dq });
      await ropeBackward(this.ctx, g.dk, inp.positions, { H: c.numKvHeads, D: c.headDim, invFreq, out: dk });
    }
    await this.linearBackward(ws, run, i, 'q_proj', a.h1, dq, dh, false, `${key}.q_proj`);
    await this.linearBackward(ws, run, i, 'k_proj', a.h1, dk, dh, true, `${key}.k_proj`);
    await this.linearBackward(ws, run, i, 'v_proj', a.h1, g.dv, dh, true, `${key}.v_proj`);
    await rmsnormBackward(this.ctx, dh, x, this.weight(`${p}.input_layernorm.weight`), a.rstd1, { dx: dX, accumulateDx: true, ...normGrad(run, `${p}.input_layernorm.weight`) });
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

  /** finalNormBackward that also accumulates the norm weight's gradient (full fine-tuning). */
  async finalNormBackwardWithGrads(dh: Tensor, x: Tensor, rstd: Tensor, dX: Tensor, grads: ReadonlyMap<string, Tensor>): Promise<void> {
    await rmsnormBackward(this.ctx, dh, x, this.weight('model.norm.weight'), rstd, { dx: dX, ...normGrad({ weightGrads: grads }, 'model.norm.weight') });
  }

  embeddingName(): string {
    return 'model.embed_tokens.weight';
  }

  lmHeadName(): string {
    return this.c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  }
}
