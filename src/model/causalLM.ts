// A causal language model on the GPU: embedding -> blocks -> final norm -> LM head, with the
// training step (forward, chunked fused cross-entropy, backward into the LoRA gradients) and the
// inference forward used by generation.
import type { GpuContext } from '../gpu/device';
import { copyTensor, zeroTensor } from '../gpu/ops/elementwise';
import { crossEntropyForwardBackward, crossEntropyLossOnly } from '../gpu/ops/crossEntropy';
import { embeddingForward } from '../gpu/ops/embedding';
import { matmulXWt } from '../gpu/ops/matmul';
import { matmulDyW } from '../gpu/ops/matmulDyW';
import type { Tensor } from '../gpu/tensor';
import { logitsChunkRows } from '../train/memory';
import type { TransformerBlocks } from './blocks';
import { Gpt2Blocks } from './gpt2';
import { LlamaBlocks, type LayerCache, type LoraRun, type StepInputs } from './llama';
import type { ModelAssets } from './load';
import { Workspace } from './workspace';

export interface HostBatch {
  B: number;
  T: number;
  tokens: Int32Array;
  positions: Int32Array;
  /** null: one causal document per row */
  docIds: Int32Array | null;
  labels?: Int32Array;
}

export interface TrainStepOptions {
  run: LoraRun | null;
  /** denominator of the mean loss: counted tokens of the whole optimizer step (all micro-batches) */
  countedTokens: number;
  labelSmoothing: number;
  activationCheckpointing: boolean;
}

export class CausalLM {
  readonly blocks: TransformerBlocks;
  readonly ws: Workspace;

  constructor(
    readonly ctx: GpuContext,
    readonly assets: ModelAssets,
    readonly weights: Map<string, Tensor>,
  ) {
    this.blocks = assets.config.architecture === 'gpt2' ? new Gpt2Blocks(ctx, assets.config, weights) : new LlamaBlocks(ctx, assets.config, weights);
    this.ws = new Workspace(ctx);
  }

  get config() {
    return this.assets.config;
  }

  private weight(name: string): Tensor {
    const t = this.weights.get(name);
    if (!t) throw new Error(`model weight ${name} is not loaded`);
    return t;
  }

  /** Copy a host batch into persistent GPU buffers (queue writes, no allocation after the first). */
  upload(b: HostBatch, prefix = 'in'): StepInputs & { labels: Tensor | null } {
    const N = b.B * b.T;
    const V = this.config.vocabSize;
    for (let i = 0; i < N; i++) {
      if (b.tokens[i] < 0 || b.tokens[i] >= V) throw new Error(`token id ${b.tokens[i]} at position ${i} is outside the vocabulary (0..${V - 1})`);
    }
    if (this.config.positions === 'learned') {
      // a learned position table has no rows past maxPositions (the lookup would clamp silently)
      const P = this.config.maxPositions;
      for (let i = 0; i < N; i++) {
        if (b.positions[i] < 0 || b.positions[i] >= P) throw new Error(`position ${b.positions[i]} at token ${i} is outside this model's ${P} learned positions; use sequences of at most ${P} tokens`);
      }
    }
    const put = (name: string, data: Int32Array) => {
      const t = this.ws.get(`${prefix}.${name}`, 'i32', [N]);
      this.ctx.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
      return t;
    };
    return {
      B: b.B,
      T: b.T,
      tokens: put('tokens', b.tokens),
      positions: put('positions', b.positions),
      docIds: b.docIds ? put('docIds', b.docIds) : null,
      labels: b.labels ? put('labels', b.labels) : null,
    };
  }

  private async embed(inp: StepInputs, out: Tensor): Promise<void> {
    await embeddingForward(this.ctx, this.weight(this.blocks.embeddingName()), inp.tokens, { out });
    if (this.config.positions === 'learned') {
      const wpe = this.blocks.positionEmbeddingName?.();
      if (!wpe) throw new Error(`${this.config.hfArchitecture} has learned positions but its blocks name no position table`);
      await embeddingForward(this.ctx, this.weight(wpe), inp.positions, { out, accumulate: true });
    }
  }

  private residual(i: number, N: number): Tensor {
    return this.ws.get(`x.${i}`, 'f32', [N, this.config.hiddenSize]);
  }

  /**
   * Forward and backward of one micro-batch. The loss (sum over this batch's counted tokens,
   * divided by opts.countedTokens) is ADDED to `lossAcc` (1) f32, and LoRA gradients are ADDED
   * to the adapter's dA/dB, so micro-batches accumulate. Nothing is read back.
   */
  async trainStep(inp: StepInputs & { labels: Tensor | null }, lossAcc: Tensor, opts: TrainStepOptions): Promise<void> {
    if (!inp.labels) throw new Error('trainStep needs labels');
    const c = this.config;
    const N = inp.B * inp.T;
    const L = c.numLayers;
    const ws = this.ws;
    await this.embed(inp, this.residual(0, N));
    for (let i = 0; i < L; i++) {
      await this.blocks.layerForward(ws, opts.run, i, inp, this.residual(i, N), this.residual(i + 1, N), opts.activationCheckpointing ? 'cur' : `L${i}`);
    }
    const xL = this.residual(L, N);
    const { h, rstd } = await this.blocks.finalNorm(ws, xL, N);
    const dh = ws.get('grad.final', 'f32', [N, c.hiddenSize]);
    await this.lossAndGrad(h, inp.labels, dh, lossAcc, opts);
    const dX = ws.get('grad.x', 'f32', [N, c.hiddenSize]);
    await this.blocks.finalNormBackward(dh, xL, rstd, dX);
    for (let i = L - 1; i >= 0; i--) {
      const key = opts.activationCheckpointing ? 'cur' : `L${i}`;
      if (opts.activationCheckpointing) {
        await this.blocks.layerForward(ws, opts.run, i, inp, this.residual(i, N), ws.get('recompute.out', 'f32', [N, c.hiddenSize]), key);
      }
      await this.blocks.layerBackward(ws, opts.run, i, inp, this.residual(i, N), dX, key);
    }
  }

  /** LM head + fused softmax cross-entropy in row chunks: loss into lossAcc, dL/dh into dh. */
  private async lossAndGrad(h: Tensor, labels: Tensor, dh: Tensor, lossAcc: Tensor, opts: TrainStepOptions): Promise<void> {
    const c = this.config;
    const N = h.shape[0];
    const C = c.hiddenSize;
    const V = c.vocabSize;
    const head = this.weight(this.blocks.lmHeadName());
    const rows = logitsChunkRows(V, N);
    for (let r0 = 0; r0 < N; r0 += rows) {
      const n = Math.min(rows, N - r0);
      const whole = n === N;
      const hChunk = whole ? h : copyTensor(this.ctx, h, this.ws.get('chunk.h', 'f32', [n, C]), { srcOffset: r0 * C, count: n * C });
      const logits = this.ws.get('chunk.logits', 'f32', [n, V]);
      await matmulXWt(this.ctx, hChunk, head, null, { out: logits });
      await crossEntropyForwardBackward(this.ctx, logits, labels, {
        smoothing: opts.labelSmoothing,
        countedTokens: opts.countedTokens,
        lossOut: lossAcc,
        lossMode: 'accumulate',
        rowOffset: r0,
        dlogits: 'inPlace',
      });
      const dhChunk = whole ? dh : this.ws.get('chunk.dh', 'f32', [n, C]);
      await matmulDyW(this.ctx, logits, head, { out: dhChunk });
      if (!whole) copyTensor(this.ctx, dhChunk, dh, { dstOffset: r0 * C, count: n * C });
    }
  }

  /** Forward only: adds this batch's summed loss / countedTokens to lossAcc. */
  async evalLoss(inp: StepInputs & { labels: Tensor | null }, lossAcc: Tensor, opts: { run: LoraRun | null; countedTokens: number }): Promise<void> {
    if (!inp.labels) throw new Error('evalLoss needs labels');
    const c = this.config;
    const N = inp.B * inp.T;
    const h = await this.hidden(inp, opts.run);
    const head = this.weight(this.blocks.lmHeadName());
    const rows = logitsChunkRows(c.vocabSize, N);
    for (let r0 = 0; r0 < N; r0 += rows) {
      const n = Math.min(rows, N - r0);
      const whole = n === N;
      const hChunk = whole ? h : copyTensor(this.ctx, h, this.ws.get('chunk.h', 'f32', [n, c.hiddenSize]), { srcOffset: r0 * c.hiddenSize, count: n * c.hiddenSize });
      const logits = this.ws.get('chunk.logits', 'f32', [n, c.vocabSize]);
      await matmulXWt(this.ctx, hChunk, head, null, { out: logits });
      await crossEntropyLossOnly(this.ctx, logits, inp.labels, { countedTokens: opts.countedTokens, lossOut: lossAcc, lossMode: 'accumulate', rowOffset: r0 });
    }
  }

  /** Key/value caches for generation, one pair per layer, for up to `tmax` positions. */
  kvCache(tmax: number): { k: Tensor; v: Tensor }[] {
    const c = this.config;
    return Array.from({ length: c.numLayers }, (_, i) => ({
      k: this.ws.get(`kv.${i}.k`, 'f32', [1, tmax, c.numKvHeads, c.headDim]),
      v: this.ws.get(`kv.${i}.v`, 'f32', [1, tmax, c.numKvHeads, c.headDim]),
    }));
  }

  /**
   * Generation step: run `ids` (positions pos ..) through the model against the KV cache, append
   * their keys/values, and return the logits of the last one (1, V).
   */
  async decode(ids: number[], pos: number, cache: { k: Tensor; v: Tensor }[], run: LoraRun | null): Promise<Tensor> {
    const T = ids.length;
    const inp = this.upload({ B: 1, T, tokens: Int32Array.from(ids), positions: Int32Array.from({ length: T }, (_, i) => pos + i), docIds: null }, 'dec');
    return this.lastLogitsOf(inp, run, (i) => ({ ...cache[i], pos }));
  }

  /** Final-norm hidden states (N, C) of an inference forward. */
  private async hidden(inp: StepInputs, run: LoraRun | null, cacheOf?: (layer: number) => LayerCache): Promise<Tensor> {
    const c = this.config;
    const N = inp.B * inp.T;
    const ws = this.ws;
    const x = ws.get('inf.x0', 'f32', [N, c.hiddenSize]);
    const y = ws.get('inf.x1', 'f32', [N, c.hiddenSize]);
    await this.embed(inp, x);
    let cur = x;
    let next = y;
    for (let i = 0; i < c.numLayers; i++) {
      await this.blocks.layerForward(ws, run, i, inp, cur, next, 'inf', cacheOf?.(i));
      [cur, next] = [next, cur];
    }
    return (await this.blocks.finalNorm(ws, cur, N)).h;
  }

  /**
   * Inference forward over a whole sequence batch; returns the logits of the LAST position of
   * each row: (B, V). Activations go to a shared 'inf' scratch.
   */
  async lastLogits(inp: StepInputs, run: LoraRun | null): Promise<Tensor> {
    return this.lastLogitsOf(inp, run);
  }

  private async lastLogitsOf(inp: StepInputs, run: LoraRun | null, cacheOf?: (layer: number) => LayerCache): Promise<Tensor> {
    const c = this.config;
    const ws = this.ws;
    const h = await this.hidden(inp, run, cacheOf);
    const last = ws.get('inf.last', 'f32', [inp.B, c.hiddenSize]);
    for (let b = 0; b < inp.B; b++) {
      copyTensor(this.ctx, h, last, { srcOffset: (b * inp.T + inp.T - 1) * c.hiddenSize, dstOffset: b * c.hiddenSize, count: c.hiddenSize });
    }
    const logits = ws.get('inf.logits', 'f32', [inp.B, c.vocabSize]);
    await matmulXWt(this.ctx, last, this.weight(this.blocks.lmHeadName()), null, { out: logits });
    return logits;
  }

  zero(t: Tensor): void {
    zeroTensor(this.ctx, t);
  }

  release(): void {
    this.ws.release();
  }
}
