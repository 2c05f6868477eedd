// Runs: the memory estimate, starting a run, resuming one from its checkpoint (with the tokenized
// dataset it kept), training it under a per-run lock, recovering from a lost GPU mid-run (a new
// device, the model uploaded again, training continued from the last checkpoint), and the list
// of saved runs.
import { createAdapter, releaseAdapter } from '../../model/adapter';
import { initDoraMagnitudes } from '../../model/doraLinear';
import { createFullFinetune } from '../../model/fullFinetune';
import { createPromptTuning } from '../../model/promptTuning';
import { createBottleneck } from '../../model/bottleneck';
import { createIa3 } from '../../model/ia3';
import { createPrefixTuning, prefixTableFromText, projectPrefix } from '../../model/prefixTuning';
import type { CausalLM } from '../../model/causalLM';
import type { GpuContext } from '../../gpu/device';
import { guardGpuWork, unwrapGuarded } from '../../gpu/guard';
import type { CheckpointStore, RunRecord } from '../../train/checkpointStore';
import { bottleneckOf, prefixTuningOf, promptTuningOf, validateConfig, virtualTokensOf, type TrainConfig } from '../../train/config';
import { estimateMemory, type MemoryEstimate } from '../../train/memory';
import { isQuotaError, NonFiniteError, StorageFullError, Trainer } from '../../train/trainer';
import type { Trainable } from '../../train/trainable';
import { GpuOutOfMemoryError } from '../../train/outOfMemory';
import { datasetToResume, freeRunFiles, keepRunDataset, type RunDataset } from '../runStorage';
import type { RunSummary, TrainEvents } from '../api';
import { budgetFor, requireDataset, requireModel, type EngineCore } from './core';
import { recoverDevice } from './modelSession';
import { checkRunBase, runModelRecord } from './runBase';
import { kernelTuning } from './kernelTuning';
import { releaseTrained, restoreBaseWeights, type Trained } from './trained';

const MAX_DEVICE_RECOVERIES = 3;

type Checkpoint = Awaited<ReturnType<CheckpointStore['loadCheckpoint']>>;

export class RunLockedError extends Error {
  constructor() {
    super('This run is training in another tab or window. It is shown here read-only; pause it there to continue it here.');
    this.name = 'RunLockedError';
  }
}

/**
 * Only one tab may train a given run: an exclusive Web Lock per run id, held while it trains.
 * Where the Web Locks API is missing (Node tests) there is only one context anyway.
 */
async function withRunLock<T>(runId: string, fn: () => Promise<T>): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return fn();
  return locks.request(`whetstone-run-${runId}`, { ifAvailable: true }, async (lock) => {
    if (!lock) throw new RunLockedError();
    return fn();
  }) as Promise<T>;
}

export async function estimate(core: EngineCore, config: TrainConfig): Promise<MemoryEstimate> {
  const { model } = requireModel(core);
  const l = (await core.gpu.ready()).description.limits;
  return estimateMemory(
    model.config,
    config,
    { maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, deviceBytes: budgetFor(core, config) },
    { quantize: model.assets.quantize, weightsBytes: [...model.weights.values()].reduce((s, t) => s + t.buffer.size, 0) },
  );
}

/** Allocate what the run trains (after the memory check; the model holds its base weights); it becomes core.trained. */
export async function createTrainable(core: EngineCore, config: TrainConfig): Promise<Trainable> {
  const trained = await allocateTrainable(core, config);
  core.trained = trained;
  // full fine-tuning: from the first optimizer step (or a restored checkpoint) on, the model's tensors are fine-tuned
  if (trained.kind === 'full') core.weightsFineTuned = true;
  return trainableOf(trained);
}

/** What a Trained holds, as the trainer's Trainable. */
export function trainableOf(t: Exclude<Trained, { kind: 'none' }>): Trainable {
  switch (t.kind) {
    case 'lora':
      return t.adapter;
    case 'prompt':
      return t.tuning;
    case 'ia3':
      return t.ia3;
    case 'prefix':
      return t.prefix;
    case 'bottleneck':
      return t.bottleneck;
    case 'full':
      return t.finetune;
  }
}

/**
 * Allocates what a job of this config trains, without making it the engine's (the method
 * comparison measures steps with it and releases it). Full fine-tuning's masters are allocated
 * here; writing them into the model's tensors is the caller's business (createTrainable).
 */
export async function allocateTrainable(core: EngineCore, config: TrainConfig): Promise<Exclude<Trained, { kind: 'none' }>> {
  const ctx = core.gpu.require();
  const { model, tokenizer } = requireModel(core);
  const method = config.method ?? 'lora';
  if (method === 'prompt') {
    const p = promptTuningOf(config);
    const textIds = p.init === 'text' ? Array.from(tokenizer.encode(p.initText ?? '').ids) : undefined;
    const tuning = await createPromptTuning(ctx, model, { n: p.numVirtualTokens, init: p.init, seed: config.seed, textIds });
    return { kind: 'prompt', tuning };
  }
  if (method === 'ia3') {
    if (!model.blocks.supportsIa3) {
      throw new Error(`(IA)³ is not available for ${model.config.hfArchitecture} yet (it runs on the Llama family: Llama, Qwen2, Qwen3, Mistral). Choose LoRA or prompt tuning for this model.`);
    }
    const ia3 = createIa3(ctx, model.config);
    return { kind: 'ia3', ia3 };
  }
  if (method === 'prefix') {
    if (!model.blocks.supportsPrefix) {
      throw new Error(`Prefix tuning is not available for ${model.config.hfArchitecture} yet (it runs on the Llama family: Llama, Qwen2, Qwen3, Mistral). Choose LoRA or prompt tuning for this model.`);
    }
    const pt = prefixTuningOf(config);
    if (pt.projection) {
      // PEFT's reparameterisation MLP from its random init; its output fills the layers' blocks
      const prefix = createPrefixTuning(ctx, model.config, { n: pt.numVirtualTokens, seed: config.seed, projection: { hidden: pt.encoderHiddenSize ?? model.config.numKvHeads * model.config.headDim } });
      await projectPrefix(ctx, prefix);
      return { kind: 'prefix', prefix };
    }
    // from the model's own keys/values of the text (restored below when resuming: the checkpoint wins)
    const initialTable = pt.init === 'text' ? await prefixTableFromText(model, Array.from(tokenizer.encode(pt.initText ?? '').ids), pt.numVirtualTokens) : undefined;
    const prefix = createPrefixTuning(ctx, model.config, { n: pt.numVirtualTokens, seed: config.seed, initialTable });
    return { kind: 'prefix', prefix };
  }
  if (method === 'bottleneck') {
    if (!model.blocks.supportsBottleneck) {
      throw new Error(`Bottleneck adapters are not available for ${model.config.hfArchitecture} yet (they run on the Llama family: Llama, Qwen2, Qwen3, Mistral). Choose LoRA or prompt tuning for this model.`);
    }
    const b = bottleneckOf(config);
    const bottleneck = createBottleneck(ctx, model.config, { variant: b.variant, reductionFactor: b.reductionFactor, seed: config.seed });
    return { kind: 'bottleneck', bottleneck };
  }
  if (method === 'full') {
    const finetune = await createFullFinetune(ctx, model);
    return { kind: 'full', finetune };
  }
  const l = config.lora;
  const adapter = createAdapter(ctx, model.config, { rank: l.rank, alpha: l.alpha, dropout: l.dropout, useRslora: l.useRslora, useDora: l.useDora, targetModules: l.targetModules }, config.seed);
  // DoRA: the magnitude starts at ‖W + s·B·A‖ (a restored checkpoint then overwrites it)
  if (l.useDora) {
    try {
      await initDoraMagnitudes(ctx, adapter, (name) => model.weights.get(name));
    } catch (e) {
      // e.g. a quantized base, which DoRA's norm cannot read: nothing is left allocated
      releaseAdapter(ctx, adapter);
      throw e;
    }
  }
  return { kind: 'lora', adapter };
}

/** Checks that need the model, before anything is allocated. */
function checkJobForModel(core: EngineCore, config: TrainConfig): void {
  const { model } = requireModel(core);
  const n = virtualTokensOf(config);
  if (n > 0 && config.seqLen + n > model.config.maxPositions) {
    throw new Error(
      `Prompt tuning puts ${n} virtual tokens before sequences of ${config.seqLen} tokens, but this model reads at most ${model.config.maxPositions} positions. ` +
        `Lower the sequence length to ${model.config.maxPositions - n} or use fewer virtual tokens.`,
    );
  }
}

export function summary(run: RunRecord, step = run.checkpointStep): RunSummary {
  return {
    method: (run.config as Partial<TrainConfig> | null)?.method ?? 'lora',
    ...((run.config as Partial<TrainConfig> | null)?.lora?.useDora ? { dora: true } : {}),
    id: run.id,
    name: run.name,
    status: run.status,
    step,
    totalSteps: run.totalSteps,
    checkpointStep: run.checkpointStep,
    updatedAt: run.updatedAt,
    modelName: run.model.name,
    datasetName: run.dataset.name,
    history: run.history,
    message: run.message,
    modelFingerprint: run.model.fingerprint,
    modelSource: run.modelSource,
    storage: { datasetBytes: run.datasetBytes ?? 0, checkpointBytes: run.checkpointBytes ?? 0 },
  };
}

/** One attempt at training a run ends with its summary, or with the GPU lost and a new device ready to continue from. */
type Attempt = { kind: 'ended'; summary: RunSummary } | { kind: 'recovered'; run: RunRecord; resume: Checkpoint };

/**
 * Train the run; when the GPU is lost mid-run (driver reset, device.destroy()), get a new device,
 * upload the model again and continue from the last checkpoint, at most MAX_DEVICE_RECOVERIES times.
 */
async function runTrainer(core: EngineCore, run: RunRecord, config: TrainConfig, ds: RunDataset, events: TrainEvents, resume?: Checkpoint): Promise<RunSummary> {
  for (let recoveries = 0; ; recoveries++) {
    const attempt = await trainOnce(core, run, config, ds, events, resume, recoveries < MAX_DEVICE_RECOVERIES);
    if (attempt.kind === 'ended') return attempt.summary;
    ({ run, resume } = attempt);
  }
}

async function trainOnce(
  core: EngineCore,
  run: RunRecord,
  config: TrainConfig,
  ds: RunDataset,
  events: TrainEvents,
  resume: Checkpoint | undefined,
  mayRecover: boolean,
): Promise<Attempt> {
  const ctx = core.gpu.require();
  const { model } = requireModel(core);
  // refused before anything is allocated
  const est = await estimate(core, config);
  if (!est.fits) throw new Error(est.advice ?? 'This job does not fit on the GPU.');
  if (core.training) throw new Error('A run is already training. Pause or stop it first.');
  checkJobForModel(core, config);
  releaseTrained(core);
  // every run starts from the base model (full fine-tuning's masters are copied from it)
  await restoreBaseWeights(core);
  // kernels tuned for these shapes on this GPU before (any session) are used from the first step
  await kernelTuning(core, config, false).catch(() => null);
  const trainer = await setUpTrainer(core, ctx, model, ds, config, run, events, resume);
  const training = { trainer, method: config.method ?? 'lora' };
  core.training = training;
  trainer.nanAtStep = core.pendingNaNStep;
  core.pendingNaNStep = null;
  run.totalSteps = trainer.totalSteps;
  run.status = 'running';
  try {
    await core.store.putRun(run);
  } catch (e) {
    if (isQuotaError(e)) {
      throw new Error("The browser's storage is full: this run could not be saved. Delete older runs in the Run panel (or free disk space), then start again.");
    }
    throw e;
  }
  events.onStatus('running');
  let lost = false;
  try {
    const status = await withRunLock(run.id, () => trainer.runLoop());
    events.onStatus(status, run.message);
    return { kind: 'ended', summary: summary(run, trainer.step) };
  } catch (e) {
    // In Chromium a destroyed device first rejects the pending readback ("unmapped before
    // mapping was resolved") and only then resolves device.lost: give the loss a moment to
    // arrive before deciding whether this was a lost GPU or a real failure.
    lost = core.gpu.context !== ctx || (!(e instanceof GpuOutOfMemoryError) && (await Promise.race([ctx.lost.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 1000))])));
    if (lost && mayRecover) {
      const step = trainer.step;
      // the lost run's trainer is not training any more (its buffers went with the device)
      if (core.training === training) core.training = null;
      const status = await recoverDevice(core);
      if (status.state === 'ready') {
        const fresh = (await core.store.getRun(run.id)) ?? run;
        const ckpt = await core.store.loadCheckpoint(fresh);
        const note = `The GPU was lost at step ${step}; a new GPU device was acquired and training resumed from ${ckpt ? `the checkpoint at step ${ckpt.step}` : 'the start'}.`;
        events.onStatus('running', note);
        fresh.message = note;
        if (!ckpt) fresh.history = [];
        return { kind: 'recovered', run: fresh, resume: ckpt };
      }
    }
    const outOfMemory = e instanceof GpuOutOfMemoryError;
    const expected = e instanceof NonFiniteError || e instanceof StorageFullError || e instanceof RunLockedError;
    const message = expected || outOfMemory ? (e as Error).message : lost ? `The GPU was lost and could not be recovered: ${(e as Error).message}` : `Training stopped: ${(e as Error).message}`;
    run.status = expected || lost ? 'paused' : 'failed';
    run.message = message;
    await core.store.putRun(run).catch(() => {});
    if (outOfMemory) {
      // stop cleanly: give back what the run took (the trainer's own state is released below)
      releaseTrained(core);
      model.ws.release();
    }
    events.onStatus(run.status, message);
    throw new Error(message);
  } finally {
    if (!lost) trainer.release();
    if (core.training === training) core.training = null;
  }
}

/**
 * What is trained and its optimizer state, allocated in a validation error scope and checked for
 * out-of-memory before the first step: a buffer that did not fit stops the run here with the
 * setting to lower (and the invalid buffers' validation errors stay out of the page).
 */
async function setUpTrainer(
  core: EngineCore,
  ctx: GpuContext,
  model: CausalLM,
  ds: RunDataset,
  config: TrainConfig,
  run: RunRecord,
  events: TrainEvents,
  resume?: Checkpoint,
): Promise<Trainer> {
  let made: Trainer | null = null;
  const outcome = await guardGpuWork(ctx, async () => {
    const trainable = await createTrainable(core, config);
    made = new Trainer(ctx, model, trainable, ds.train, ds.validation, config, core.store, run, (p) => events.onProgress(p), resume ?? undefined);
    return made;
  });
  if (outcome.ok) return outcome.value;
  (made as Trainer | null)?.release();
  releaseTrained(core);
  return unwrapGuarded(outcome, 'while setting up the run', (f) => new GpuOutOfMemoryError(f, 'setup', run.checkpointStep, config));
}

export async function startTraining(core: EngineCore, config: TrainConfig, events: TrainEvents, name?: string): Promise<RunSummary> {
  await core.gpu.ready();
  const issues = validateConfig(config);
  if (issues.length > 0) throw new Error(`The job settings need fixing: ${issues.map((i) => i.message).join(' ')}`);
  const { info, source } = requireModel(core);
  const ds = requireDataset(core);
  const id = `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  const run: RunRecord = {
    id,
    name: name ?? `${info.name} on ${ds.info.name}`,
    createdAt: Date.now(),
    updatedAt: Date.now(),
    status: 'running',
    model: runModelRecord(info),
    dataset: { name: ds.info.name, fingerprint: ds.info.fingerprint },
    config,
    totalSteps: 0,
    history: [],
    checkpoint: null,
    checkpointStep: 0,
    modelSource: source,
  };
  // the run keeps its tokenized data, so a resume needs no "load the dataset again"; a run that
  // could not keep it (storage full) still trains, and its resume asks for the dataset
  run.datasetBytes = await keepRunDataset(core.runFiles, id, ds).catch(() => 0);
  return runTrainer(core, run, config, ds, events);
}

export async function resume(core: EngineCore, runId: string, events: TrainEvents): Promise<RunSummary> {
  await core.gpu.ready();
  const run = await core.store.getRun(runId);
  if (!run) throw new Error('That run no longer exists.');
  const { info } = requireModel(core);
  checkRunBase(run, info, 'resume it');
  const ds = await datasetToResume(core.runFiles, run, core.dataset);
  const ckpt = await core.store.loadCheckpoint(run);
  return runTrainer(core, run, run.config as TrainConfig, ds, events, ckpt);
}


export async function listRuns(core: EngineCore): Promise<RunSummary[]> {
  return (await core.store.listRuns()).map((r) => summary(r, r.history.at(-1)?.step ?? r.checkpointStep));
}

export async function deleteRun(core: EngineCore, runId: string) {
  await core.store.deleteRun(runId);
  await freeRunFiles(core.runFiles, runId);
}
