// A causal language model on the GPU: embedding -> blocks -> final norm -> LM head, with the
// training step (forward, chunked fused cross-entropy, backward into the trainable gradients) and
// the inference forward used by generation. What is trained comes with the run (ForwardRun): a LoRA
// adapter, every weight (full fine-tuning: run.weightGrads), or virtual tokens (prompt tuning:
// run.prompt, written over the first n rows of every sequence; their gradient is the residual
// stream's gradient at those rows after layer 0's backward, summed over the batch's rows).
import type { GpuContext } from '../gpu/device';
import { addInPlace, copyTensor, zeroTensor } from '../gpu/ops/elementwise';
import { crossEntropyForwardBackward, crossEntropyLossOnly } from '../gpu/ops/crossEntropy';
import { embeddingForward } from '../gpu/ops/embedding';
import { matmulXWt } from '../gpu/ops/matmul';
import { matmulDyW } from '../gpu/ops/matmulDyW';
import { matmulDyTX } from '../gpu/ops/matmulDyTX';
import type { Tensor } from '../gpu/tensor';
import { archOf } from '../arch/registry';
import type { TransformerBlocks } from './blocks';
import { embeddingWeightGrad } from './fullFinetuneGrads';
import type { ForwardRun, LayerCache, StepInputs } from './blocks';
import { logitsChunkRows } from './logitsChunk';
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

/** Inputs on the GPU plus the host ids they came from (full fine-tuning's embedding gradient groups them on the CPU). */
export type UploadedInputs = StepInputs & { labels: Tensor | null; host: HostBatch };

export interface TrainStepOptions {
  run: ForwardRun | null;
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
    this.blocks = archOf(assets.config).createBlocks(ctx, assets.config, weights);
    this.ws = new Workspace(ctx);
  }

  get config() {
    return this.assets.config;
  }

  /**
   * A (rows, cols) scratch chunk: the buffer is sized for `full` rows and a shorter last chunk is
   * a view over it, so a short final chunk does not free and re-create the buffer every step.
   */
  private chunk(name: string, dtype: 'f32', full: number, rows: number, cols: number): Tensor {
    const t = this.ws.get(name, dtype, [full, cols]);
    return rows === full ? t : { ...t, shape: [rows, cols] };
  }

  private weight(name: string): Tensor {
    const t = this.weights.get(name);
    if (!t) throw new Error(`model weight ${name} is not loaded`);
    return t;
  }

  /** Copy a host batch into persistent GPU buffers (queue writes, no allocation after the first). */
  upload(b: HostBatch, prefix = 'in'): UploadedInputs {
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
    let maxPosition = 0;
    for (let i = 0; i < N; i++) if (b.positions[i] > maxPosition) maxPosition = b.positions[i];
    return {
      B: b.B,
      T: b.T,
      maxPosition,
      tokens: put('tokens', b.tokens),
      positions: put('positions', b.positions),
      docIds: b.docIds ? put('docIds', b.docIds) : null,
      labels: b.labels ? put('labels', b.labels) : null,
      host: b,
    };
  }

  /** x0 = token embeddings (with `prompt`: its n rows over the first n of every sequence) + learned positions. */
  private async embed(inp: StepInputs, out: Tensor, prompt?: Tensor | null): Promise<void> {
    await embeddingForward(this.ctx, this.weight(this.blocks.embeddingName()), inp.tokens, { out });
    if (prompt) this.writePrompt(inp, out, prompt);
    if (this.config.positions === 'learned') {
      const wpe = this.blocks.positionEmbeddingName?.();
      if (!wpe) throw new Error(`${this.config.hfArchitecture} has learned positions but its blocks name no position table`);
      await embeddingForward(this.ctx, this.weight(wpe), inp.positions, { out, accumulate: true });
    }
  }

  private promptRows(inp: StepInputs, prompt: Tensor): number {
    const C = this.config.hiddenSize;
    const n = prompt.shape[0];
    if (prompt.dtype !== 'f32' || prompt.shape.length !== 2 || prompt.shape[1] !== C) {
      throw new Error(`prompt embeddings (${prompt.label}) must be f32 [n, ${C}], got ${prompt.dtype} [${prompt.shape.join(',')}]`);
    }
    if (n > inp.T) throw new Error(`${n} virtual tokens do not fit sequences of ${inp.T} positions: the batch must start with them`);
    return n;
  }

  private writePrompt(inp: StepInputs, x: Tensor, prompt: Tensor): void {
    const C = this.config.hiddenSize;
    const n = this.promptRows(inp, prompt);
    for (let b = 0; b < inp.B; b++) copyTensor(this.ctx, prompt, x, { dstOffset: b * inp.T * C, count: n * C });
  }

  /** grad (n, C) += Σ_b dX[b, 0..n-1, :]: the gradient of the virtual tokens' embeddings. */
  private async accumulatePromptGrad(inp: StepInputs, dX: Tensor, prompt: Tensor, grad: Tensor): Promise<void> {
    const C = this.config.hiddenSize;
    const n = this.promptRows(inp, prompt);
    const rows = this.ws.get('prompt.rows', 'f32', [n, C]);
    for (let b = 0; b < inp.B; b++) {
      copyTensor(this.ctx, dX, rows, { srcOffset: b * inp.T * C, count: n * C });
      await addInPlace(this.ctx, grad, rows);
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
  async trainStep(inp: StepInputs & { labels: Tensor | null; host?: HostBatch }, lossAcc: Tensor, opts: TrainStepOptions): Promise<void> {
    if (!inp.labels) throw new Error('trainStep needs labels');
    const c = this.config;
    const N = inp.B * inp.T;
    const L = c.numLayers;
    const ws = this.ws;
    const prompt = opts.run?.prompt ?? null;
    const grads = opts.run?.weightGrads ?? null;
    await this.embed(inp, this.residual(0, N), prompt?.embeddings);
    for (let i = 0; i < L; i++) {
      await this.blocks.layerForward(ws, opts.run, i, inp, this.residual(i, N), this.residual(i + 1, N), opts.activationCheckpointing ? 'cur' : `L${i}`);
    }
    const xL = this.residual(L, N);
    const { h, rstd } = await this.blocks.finalNorm(ws, xL, N);
    const dh = ws.get('grad.final', 'f32', [N, c.hiddenSize]);
    await this.lossAndGrad(h, inp.labels, dh, lossAcc, opts);
    const dX = ws.get('grad.x', 'f32', [N, c.hiddenSize]);
    if (grads) await this.blocks.finalNormBackwardWithGrads(dh, xL, rstd, dX, grads);
    else await this.blocks.finalNormBackward(dh, xL, rstd, dX);
    for (let i = L - 1; i >= 0; i--) {
      const key = opts.activationCheckpointing ? 'cur' : `L${i}`;
      if (opts.activationCheckpointing) {
        await this.blocks.layerForward(ws, opts.run, i, inp, this.residual(i, N), ws.get('recompute.out', 'f32', [N, c.hiddenSize]), key);
      }
      await this.blocks.layerBackward(ws, opts.run, i, inp, this.residual(i, N), dX, key);
    }
    // dX is now dL/dx0, the gradient at the embedding output
    if (prompt?.grad) await this.accumulatePromptGrad(inp, dX, prompt.embeddings, prompt.grad);
    if (grads) await this.embeddingGrads(inp, dX, grads);
  }

  /** Full fine-tuning: the token table (and GPT-2's position table) get the scatter of dL/dx0. */
  private async embeddingGrads(inp: StepInputs & { host?: HostBatch }, dX: Tensor, grads: ReadonlyMap<string, Tensor>): Promise<void> {
    const table = grads.get(this.blocks.embeddingName());
    const wpe = this.config.positions === 'learned' ? this.blocks.positionEmbeddingName?.() : undefined;
    const posTable = wpe ? grads.get(wpe) : undefined;
    if (!table && !posTable) return;
    if (!inp.host) throw new Error('full fine-tuning needs the host token ids of the batch: pass the inputs upload() returned');
    if (table) await embeddingWeightGrad(this.ctx, this.ws, 'full.plan.tokens', inp.host.tokens, dX, table);
    if (posTable) await embeddingWeightGrad(this.ctx, this.ws, 'full.plan.positions', inp.host.positions, dX, posTable);
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
      const hChunk = whole ? h : copyTensor(this.ctx, h, this.chunk('chunk.h', 'f32', rows, n, C), { srcOffset: r0 * C, count: n * C });
      const logits = this.chunk('chunk.logits', 'f32', rows, n, V);
      await matmulXWt(this.ctx, hChunk, head, null, { out: logits });
      await crossEntropyForwardBackward(this.ctx, logits, labels, {
        smoothing: opts.labelSmoothing,
        countedTokens: opts.countedTokens,
        lossOut: lossAcc,
        lossMode: 'accumulate',
        rowOffset: r0,
        dlogits: 'inPlace',
      });
      const dhChunk = whole ? dh : this.chunk('chunk.dh', 'f32', rows, n, C);
      await matmulDyW(this.ctx, logits, head, { out: dhChunk });
      // full fine-tuning: the LM head's gradient (with tied embeddings the token table's, which
      // the embedding backward adds its own part to)
      const dHead = opts.run?.weightGrads?.get(this.blocks.lmHeadName());
      if (dHead) await matmulDyTX(this.ctx, logits, hChunk, { out: dHead, accumulate: true });
      if (!whole) copyTensor(this.ctx, dhChunk, dh, { dstOffset: r0 * C, count: n * C });
    }
  }

  /** Forward only: adds this batch's summed loss / countedTokens to lossAcc. */
  async evalLoss(inp: StepInputs & { labels: Tensor | null }, lossAcc: Tensor, opts: { run: ForwardRun | null; countedTokens: number }): Promise<void> {
    if (!inp.labels) throw new Error('evalLoss needs labels');
    const c = this.config;
    const N = inp.B * inp.T;
    const h = await this.hidden(inp, opts.run, undefined, opts.run?.prompt?.embeddings);
    const head = this.weight(this.blocks.lmHeadName());
    const rows = logitsChunkRows(c.vocabSize, N);
    for (let r0 = 0; r0 < N; r0 += rows) {
      const n = Math.min(rows, N - r0);
      const whole = n === N;
      const hChunk = whole ? h : copyTensor(this.ctx, h, this.chunk('chunk.h', 'f32', rows, n, c.hiddenSize), { srcOffset: r0 * c.hiddenSize, count: n * c.hiddenSize });
      const logits = this.chunk('chunk.logits', 'f32', rows, n, c.vocabSize);
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
   * their keys/values, and return the logits of the last one (1, V). With run.prompt, the prefill
   * (pos 0) takes the virtual tokens' embeddings for its first n rows: pass n placeholder ids
   * (any valid id, e.g. 0) before the prompt's tokens, and count them in later positions.
   */
  async decode(ids: number[], pos: number, cache: { k: Tensor; v: Tensor }[], run: ForwardRun | null): Promise<Tensor> {
    const T = ids.length;
    const inp = this.upload({ B: 1, T, tokens: Int32Array.from(ids), positions: Int32Array.from({ length: T }, (_, i) => pos + i), docIds: null }, 'dec');
    return this.lastLogitsOf(inp, run, (i) => ({ ...cache[i], pos }), pos === 0 ? run?.prompt?.embeddings : null);
  }

  /** Final-norm hidden states (N, C) of an inference forward. */
  private async hidden(inp: StepInputs, run: ForwardRun | null, cacheOf?: (layer: number) => LayerCache, prompt?: Tensor | null): Promise<Tensor> {
    const c = this.config;
    const N = inp.B * inp.T;
    const ws = this.ws;
    const x = ws.get('inf.x0', 'f32', [N, c.hiddenSize]);
    const y = ws.get('inf.x1', 'f32', [N, c.hiddenSize]);
    await this.embed(inp, x, prompt);
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
  async lastLogits(inp: StepInputs, run: ForwardRun | null): Promise<Tensor> {
    return this.lastLogitsOf(inp, run, undefined, run?.prompt?.embeddings);
  }

  private async lastLogitsOf(inp: StepInputs, run: ForwardRun | null, cacheOf?: (layer: number) => LayerCache, prompt?: Tensor | null): Promise<Tensor> {
    const c = this.config;
    const ws = this.ws;
    const h = await this.hidden(inp, run, cacheOf, prompt);
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
