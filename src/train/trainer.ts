// The training loop: micro-batches -> forward/backward -> global norm and clipping -> AdamW, all
// recorded on the GPU; one small readback per step (loss + gradient-norm state, 20 bytes) for the
// progress event. What is trained (a LoRA adapter, prompt-tuning virtual tokens, or every weight)
// comes in as a Trainable (trainable.ts); the loop is the same for all three. Checkpoints go to the store every N steps and on pause; a run resumed from a
// checkpoint sees the same batches, dropout masks and optimizer state as an uninterrupted one.
import type { GpuContext } from '../gpu/device';
import { adamwStep } from '../gpu/ops/adamw';
import { prepareAttentionKernels } from '../gpu/ops/attention';
import { prepareMatmulKernels } from '../gpu/ops/matmul';
import { prepareRowKernels } from '../gpu/ops/rowKernelChecks';
import { fillTensor, zeroTensor } from '../gpu/ops/elementwise';
import { gradNorm, decodeGradState, type GradNormResult } from '../gpu/ops/gradNorm';
import { downloadF32, emptyTensor, readBuffer, releaseTensor, type Tensor } from '../gpu/tensor';
import { BatchIterator, type Batch, type BatchCursor, type TokenizedDataset } from '../data';
import type { CausalLM } from '../model/causalLM';
import type { CheckpointRecord, CheckpointStore, LossPoint, RunRecord } from './checkpointStore';
import { loraPlusRatioOf, type TrainConfig } from './config';
import { parseLoraCheckpointKey } from '../io/loraKeys';
import { learningRateAt } from './schedule';
import { GpuOutOfMemoryError } from './outOfMemory';
import { guardGpuWork, unwrapGuarded } from '../gpu/guard';
import { finishGradients, modelBatch, runFor, startGradients, syncWeights, trainableParams, type Trainable } from './trainable';

export interface TrainProgress {
  runId: string;
  status: RunRecord['status'];
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  etaSeconds: number;
  gpuBytes: number;
  valLoss?: number;
  valPerplexity?: number;
  message?: string;
}

/** Where batches come from: the dataset iterator, or a fixed list (tests, benchmarks). */
export interface BatchSource {
  next(): Batch;
  cursor(): BatchCursor;
}

/** A fixed list of batches, cycled; its cursor is the position in the list. */
export class FixedBatches implements BatchSource {
  private i: number;
  constructor(
    readonly batches: Batch[],
    cursor?: BatchCursor,
  ) {
    this.i = cursor ? cursor.epoch * batches.length + cursor.position : 0;
  }
  next(): Batch {
    const b = this.batches[this.i % this.batches.length];
    this.i++;
    return b;
  }
  cursor(): BatchCursor {
    return { epoch: Math.floor(this.i / this.batches.length), position: this.i % this.batches.length };
  }
}

export class StorageFullError extends Error {
  constructor(step: number) {
    super(
      `The browser's storage is full: the checkpoint of step ${step} could not be saved (the previous checkpoint is intact). ` +
        'Delete older runs in the Run panel (or free disk space), then resume.',
    );
    this.name = 'StorageFullError';
  }
}

export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: string })?.name ?? '';
  return name === 'QuotaExceededError' || /quota/i.test(String((e as Error)?.message ?? ''));
}

export class NonFiniteError extends Error {
  constructor(step: number) {
    super(
      `The loss or the gradients became NaN/Inf at step ${step}. The step was not applied and the run was rolled back to its last checkpoint. ` +
        'Lower the learning rate (or turn on gradient clipping) and resume.',
    );
    this.name = 'NonFiniteError';
  }
}

interface ParamState {
  name: string;
  param: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
  decay?: boolean;
  /** this tensor's learning rate over the schedule's (LoRA+: the ratio for every B, else 1) */
  lrScale: number;
}

/**
 * Learning-rate multiplier of a trained tensor: LoRA+ (Hayou et al. 2024) gives each B the
 * ratio × lr and each A lr (as PEFT's create_loraplus_optimizer: one parameter group per factor,
 * weight decay unchanged, so B's decoupled decay is ratio × lr × wd as torch.optim.AdamW does).
 */
export function lrScaleOf(name: string, c: Pick<TrainConfig, 'method' | 'lora'>): number {
  if ((c.method ?? 'lora') !== 'lora') return 1;
  return parseLoraCheckpointKey(name)?.factor === 'B' ? loraPlusRatioOf(c.lora) : 1;
}

/** Optimizer steps in a run: maxSteps, or epochs × micro-batches per epoch / accumulation. */
export function plannedSteps(train: TokenizedDataset | FixedBatches, c: TrainConfig): number {
  if (c.maxSteps > 0) return c.maxSteps;
  if (train instanceof FixedBatches) throw new Error('A fixed batch list needs maxSteps');
  const it = new BatchIterator(train, { batchSize: c.batchSize, seqLen: c.seqLen, pack: c.pack, seed: c.seed });
  let batches = 0;
  while (it.cursor().epoch === 0 && batches < 1e7) {
    it.next();
    batches++;
  }
  return Math.max(1, Math.ceil((batches * c.epochs) / c.gradAccumulation));
}

/** The batches an evaluation's mean loss is over: the first `maxBatches` of the split in a fixed (seed 0) order, one epoch at most. */
export function evaluationBatches(val: TokenizedDataset, c: TrainConfig, maxBatches: number): Batch[] {
  const it = new BatchIterator(val, { batchSize: c.batchSize, seqLen: c.seqLen, pack: c.pack, seed: 0 });
  const batches: Batch[] = [];
  for (let i = 0; i < maxBatches && it.cursor().epoch === 0; i++) batches.push(it.next());
  return batches;
}

export class Trainer {
  step = 0;
  history: LossPoint[] = [];
  private params: ParamState[] = [];
  private iterator: BatchSource;
  private lossAcc: Tensor;
  private readback: GPUBuffer | null = null;
  private norm: GradNormResult | null = null;
  /** fault injection for tests: poison the gradients of this (1-based) step with NaN */
  nanAtStep: number | null = null;
  private pauseRequested = false;
  private stopRequested = false;
  /** a checkpoint was restored and syncAfterRestore has not run yet */
  private restored = false;
  readonly totalSteps: number;

  constructor(
    private ctx: GpuContext,
    private model: CausalLM,
    private trainable: Trainable,
    train: TokenizedDataset | FixedBatches,
    private val: TokenizedDataset | null,
    readonly config: TrainConfig,
    private store: CheckpointStore | null,
    readonly run: RunRecord,
    private onProgress: (p: TrainProgress) => void,
    resume?: CheckpointRecord,
  ) {
    this.totalSteps = plannedSteps(train, config);
    const cursor = resume?.cursor as BatchCursor | undefined;
    this.iterator = train instanceof FixedBatches ? new FixedBatches(train.batches, cursor) : new BatchIterator(train, this.batchOptions(), cursor);
    for (const p of trainableParams(trainable)) {
      this.params.push({
        ...p,
        lrScale: lrScaleOf(p.name, config),
        m: emptyTensor(ctx, 'f32', p.param.shape, `${p.name} adam m`),
        v: emptyTensor(ctx, 'f32', p.param.shape, `${p.name} adam v`),
      });
    }
    for (const p of this.params) {
      zeroTensor(ctx, p.m);
      zeroTensor(ctx, p.v);
    }
    this.lossAcc = emptyTensor(ctx, 'f32', [1], 'loss accumulator');
    // submit the clears first: queue.writeBuffer (the restore) runs before anything still unsubmitted
    ctx.flush();
    if (resume) this.restore(resume);
  }

  /**
   * After a restore (the constructor's, which cannot await): full fine-tuning writes the restored
   * masters into the weights the kernels read, once, before anything else uses them.
   */
  private async syncAfterRestore(): Promise<void> {
    if (!this.restored) return;
    this.restored = false;
    await syncWeights(this.ctx, this.trainable);
    this.ctx.flush();
  }

  private batchOptions() {
    const c = this.config;
    return { batchSize: c.batchSize, seqLen: c.seqLen, pack: c.pack, seed: c.seed };
  }

  private restore(r: CheckpointRecord) {
    const q = this.ctx.device.queue;
    for (const p of this.params) {
      const vals = [r.params[p.name], r.adamM[p.name], r.adamV[p.name]];
      if (vals.some((v) => !v || v.length !== p.param.shape.reduce((a, b) => a * b, 1))) {
        throw new Error(`The checkpoint has no matching state for ${p.name}: it was saved for another adapter configuration.`);
      }
      q.writeBuffer(p.param.buffer, 0, Float32Array.from(vals[0]));
      q.writeBuffer(p.m.buffer, 0, Float32Array.from(vals[1]));
      q.writeBuffer(p.v.buffer, 0, Float32Array.from(vals[2]));
    }
    this.step = r.step;
    this.history = [...r.history];
    this.restored = true;
  }

  requestPause() {
    this.pauseRequested = true;
  }

  requestStop() {
    this.stopRequested = true;
  }

  /**
   * GPU work of step `step` in a validation error scope, then the allocator's out-of-memory
   * reports: a buffer that did not fit makes every later use of it invalid, so the step's numbers
   * mean nothing and the run must stop with the out-of-memory (not the validation errors it caused,
   * which would otherwise reach the page as uncaptured errors). A validation error without an
   * out-of-memory is a bug; it stops the run too, rather than training on garbage.
   */
  private async guarded<T>(step: number, work: () => Promise<T>): Promise<T> {
    const outcome = await guardGpuWork(this.ctx, work);
    return unwrapGuarded(outcome, `in training step ${step}`, (f) => new GpuOutOfMemoryError(f, 'step', step, this.config));
  }

  /** One optimizer step (all micro-batches); returns its loss and gradient norm. */
  async trainOneStep(): Promise<{ loss: number; gradNorm: number; tokens: number; nonFinite: boolean }> {
    return this.guarded(this.step + 1, () => this.recordStep());
  }

  private async recordStep(): Promise<{ loss: number; gradNorm: number; tokens: number; nonFinite: boolean }> {
    const c = this.config;
    const ctx = this.ctx;
    await this.syncAfterRestore();
    const micro: Batch[] = [];
    for (let i = 0; i < c.gradAccumulation; i++) micro.push(this.iterator.next());
    const counted = Math.max(1, micro.reduce((s, b) => s + b.trainedTokens, 0));
    for (const p of this.params) zeroTensor(ctx, p.grad);
    startGradients(ctx, this.trainable);
    zeroTensor(ctx, this.lossAcc);
    const lr = learningRateAt(this.step, c.learningRate, c.schedule, c.warmupSteps, this.totalSteps);
    for (let i = 0; i < micro.length; i++) {
      const inp = this.model.upload(modelBatch(this.trainable, micro[i]));
      await this.model.trainStep(inp, this.lossAcc, {
        run: runFor(this.trainable, (Math.imul(c.seed + 1, 0x2545f491) + this.step * 64 + i) >>> 0, true),
        countedTokens: counted,
        labelSmoothing: c.labelSmoothing,
        activationCheckpointing: c.activationCheckpointing,
      });
      // Micro-batches reuse the input buffers, and queue.writeBuffer lands before anything still
      // unsubmitted runs: submit each one before the next is uploaded. The last goes with the
      // optimizer and the readback: one submit per step without gradient accumulation.
      if (i < micro.length - 1) ctx.flush();
    }
    await finishGradients(ctx, this.trainable);
    if (this.nanAtStep === this.step + 1) await fillTensor(ctx, this.params[0].grad, Number.NaN);
    this.norm = await gradNorm(
      ctx,
      this.params.map((p) => p.grad),
      { maxNorm: c.maxGradNorm > 0 ? c.maxGradNorm : null, state: this.norm?.state, partials: this.norm?.partials, flags: this.norm?.flags },
    );
    for (const p of this.params) {
      await adamwStep(
        ctx,
        { param: p.param, grad: p.grad, m: p.m, v: p.v },
        { lr: lr * p.lrScale, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: p.decay === false ? 0 : c.weightDecay, step: this.step + 1 },
        { gradState: this.norm.state, skipNonFinite: true },
      );
    }
    // full fine-tuning: the kernels read fp16 copies of the updated masters
    await syncWeights(ctx, this.trainable);
    // one readback: loss (4 bytes) + gradient state (16 bytes)
    this.readback ??= ctx.device.createBuffer({ size: 20, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'step readback' });
    const enc = ctx.encoder();
    enc.copyBufferToBuffer(this.lossAcc.buffer, 0, this.readback, 0, 4);
    enc.copyBufferToBuffer(this.norm.state.buffer, 0, this.readback, 4, 16);
    ctx.flush();
    await this.readback.mapAsync(GPUMapMode.READ);
    const raw = this.readback.getMappedRange().slice(0);
    this.readback.unmap();
    const loss = new Float32Array(raw, 0, 1)[0];
    const g = decodeGradState(raw, 4);
    const nonFinite = Boolean(g.nonFinite) || !Number.isFinite(loss);
    return { loss, gradNorm: g.norm, tokens: micro.reduce((s, b) => s + b.B * b.T, 0), nonFinite };
  }

  /** Mean validation loss over the validation set (forward only). */
  async evaluate(maxBatches = 8): Promise<number | null> {
    const val = this.val;
    if (!val || val.offsets.length < 2) return null;
    return this.guarded(this.step, () => this.recordEvaluation(val, maxBatches));
  }

  private async recordEvaluation(val: TokenizedDataset, maxBatches: number): Promise<number> {
    const batches = evaluationBatches(val, this.config, maxBatches);
    const counted = Math.max(1, batches.reduce((s, b) => s + b.trainedTokens, 0));
    zeroTensor(this.ctx, this.lossAcc);
    await this.syncAfterRestore();
    for (const b of batches) {
      const inp = this.model.upload(modelBatch(this.trainable, b));
      await this.model.evalLoss(inp, this.lossAcc, { run: runFor(this.trainable, 0, false), countedTokens: counted });
      this.ctx.flush();
    }
    return new Float32Array(await readBuffer(this.ctx, this.lossAcc.buffer, 4))[0];
  }

  async checkpoint(): Promise<void> {
    if (!this.store) return;
    const rec: CheckpointRecord = {
      runId: this.run.id,
      step: this.step,
      params: {},
      adamM: {},
      adamV: {},
      cursor: this.iterator.cursor(),
      rngState: [this.config.seed, this.step],
      history: this.history,
      savedAt: Date.now(),
    };
    for (const p of this.params) {
      rec.params[p.name] = await downloadF32(this.ctx, p.param);
      rec.adamM[p.name] = await downloadF32(this.ctx, p.m);
      rec.adamV[p.name] = await downloadF32(this.ctx, p.v);
    }
    try {
      await this.store.saveCheckpoint(this.run, rec);
    } catch (e) {
      if (isQuotaError(e)) throw new StorageFullError(this.step);
      throw e;
    }
  }

  /**
   * The kernels' one-time checks on this device that decide which versions the steps use
   * (attention version 2 for this model's head dim, the matmul family's default variant per
   * validation class, the row reductions' version 2), before the first step: so that their
   * submits and readbacks are not part of any step (one submit per step), and every step of a run
   * and of its resumption uses the same kernels. Checks already done on this device are not rerun.
   */
  async prepareKernels(): Promise<void> {
    await prepareAttentionKernels(this.ctx, this.model.config.headDim);
    await prepareMatmulKernels(this.ctx);
    await prepareRowKernels(this.ctx);
  }

  /** Run until done, paused or stopped. Throws NonFiniteError after rolling back. */
  async runLoop(): Promise<RunRecord['status']> {
    const c = this.config;
    this.pauseRequested = false;
    this.stopRequested = false;
    await this.prepareKernels();
    await this.syncAfterRestore();
    let tokensSeen = 0;
    const t0 = performance.now();
    const startStep = this.step;
    while (this.step < this.totalSteps) {
      if (this.stopRequested) return this.finish('stopped');
      if (this.pauseRequested) {
        await this.checkpoint();
        return this.finish('paused');
      }
      const r = await this.trainOneStep();
      if (r.nonFinite) {
        await this.finish('paused', `NaN/Inf at step ${this.step + 1}`);
        throw new NonFiniteError(this.step + 1);
      }
      this.step++;
      tokensSeen += r.tokens;
      const elapsed = (performance.now() - t0) / 1000;
      const tps = tokensSeen / Math.max(elapsed, 1e-6);
      const lr = learningRateAt(this.step - 1, c.learningRate, c.schedule, c.warmupSteps, this.totalSteps);
      const point: LossPoint = { step: this.step, loss: r.loss, lr, gradNorm: r.gradNorm, tokensPerSecond: tps };
      let valLoss: number | undefined;
      if (c.evalEvery > 0 && (this.step % c.evalEvery === 0 || this.step === this.totalSteps)) {
        const v = await this.evaluate();
        if (v !== null) valLoss = point.valLoss = v;
      }
      this.history.push(point);
      this.onProgress({
        runId: this.run.id,
        status: 'running',
        step: this.step,
        totalSteps: this.totalSteps,
        epoch: this.iterator.cursor().epoch,
        loss: r.loss,
        lr,
        gradNorm: r.gradNorm,
        tokensPerSecond: tps,
        etaSeconds: ((this.totalSteps - this.step) * elapsed) / Math.max(1, this.step - startStep),
        gpuBytes: this.ctx.allocator.liveBytes,
        valLoss,
        valPerplexity: valLoss !== undefined ? Math.exp(valLoss) : undefined,
      });
      if (c.checkpointEvery > 0 && this.step % c.checkpointEvery === 0) await this.checkpoint();
    }
    await this.checkpoint();
    return this.finish('finished');
  }

  private async finish(status: RunRecord['status'], message?: string): Promise<RunRecord['status']> {
    this.run.status = status;
    this.run.message = message;
    this.run.history = this.history;
    if (this.store) await this.store.putRun(this.run);
    return status;
  }

  release(): void {
    for (const p of this.params) {
      releaseTensor(this.ctx, p.m);
      releaseTensor(this.ctx, p.v);
    }
    releaseTensor(this.ctx, this.lossAcc);
    if (this.norm) for (const t of [this.norm.state, this.norm.partials, this.norm.flags]) releaseTensor(this.ctx, t);
    this.norm = null;
    this.readback?.destroy();
  }
}
