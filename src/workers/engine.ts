// The engine behind the worker: holds the GPU, the loaded model and tokenizer, the tokenized
// dataset, what was trained (a LoRA adapter, prompt-tuning virtual tokens, or a fully fine-tuned
// model's master weights) and the trainer, and implements EngineApi. It is a plain class so Node
// tests can drive exactly what the worker runs (with Dawn's GPU and an in-memory store).
//
// Full fine-tuning writes into the loaded model's own weight tensors (no second copy of the model
// on the GPU). The engine tracks whether they hold the base or the fine-tuned values: generation
// without the "adapter" and every new run reload the base weights from the model's files when
// needed, and generation with it writes the masters back (a cast on the GPU).
import type { Tokenizer } from '@huggingface/tokenizers';
import { acquireGpu, type GpuContext } from '../gpu/device';
import { runSelfTest } from '../gpu/selftest';
import {
  chatTemplateInfo,
  checkTemplateTokens,
  readDatasetFile,
  splitDataset,
  DatasetTokenizer,
  previewPieces,
  type ChatTemplateInfo,
} from '../data';
import { createAdapter, downloadAdapter, releaseAdapter, type LoraAdapter } from '../model/adapter';
import { unpackHalves } from '../util/f16';
import { copyTensor } from '../gpu/ops/elementwise';
import { downloadF32, downloadU32, releaseTensor, type Tensor } from '../gpu/tensor';
import { blobSource } from '../io/byteSource';
import type { LoraWeights } from '../io/loraTargets';
import { parsePeftConfig, parsePromptTuningConfig, peftTypeOf, readPeftAdapter, readPeftPromptTuning } from '../io/peft';
import {
  exportGgufFile,
  exportPeftFiles,
  exportPromptTuningFiles,
  ggufRefusal,
  mergeAdapter,
  writeFullModel,
  type AdapterExportInput,
  type FullExportDtype,
} from '../train/export';
import { createFullFinetune, downloadFullWeights, refreshWeights, releaseFullFinetune, type FullFinetune } from '../model/fullFinetune';
import { createPromptTuning, downloadPromptEmbeddings, generateWithPrompt, PROMPT_EMBEDDINGS_KEY, releasePromptTuning, type PromptTuning } from '../model/promptTuning';
import type { Trainable } from '../train/trainable';
import { archOf } from '../arch/registry';
import { CausalLM } from '../model/causalLM';
import { folderFromFiles, type ModelFolder } from '../model/folder';
import { generateIds } from '../model/generate';
import { loadWeights, ModelOutOfMemoryError, readModelAssets } from '../model/load';
import { folderFromUrl, hubFileUrl } from '../model/remote';
import { loadTokenizer, StreamingDecoder } from '../model/tokenizer';
import { CheckpointStore, type KeyValueStore, type RunRecord } from '../train/checkpointStore';
import { DEFAULT_DEVICE_BUDGET_BYTES, promptTuningOf, validateConfig, virtualTokensOf, type TrainConfig, type TrainMethod } from '../train/config';
import { estimateMemory, mib } from '../train/memory';
import { isQuotaError, NonFiniteError, StorageFullError, Trainer } from '../train/trainer';
import { GpuOutOfMemoryError } from '../train/outOfMemory';
import { guardGpuWork, unwrapGuarded } from '../gpu/guard';
import { defaultVariant } from '../gpu/ops/matmulVariants';
import { knownWinner, tuneMatmul } from '../gpu/tune/matmulTuner';
import { problemOf } from '../gpu/ops/matmulRegistry';
import { MemoryTuneStore, type TuneStore } from '../gpu/tune/store';
import { trainingMatmuls } from '../train/matmulPlan';
import { datasetToResume, freeRunFiles, keepRunDataset, MemoryRunFiles, type RunDataset, type RunFiles } from './runStorage';
import { storedSourceOf } from './runModel';
import type { StoredModelSource } from '../train/checkpointStore';
import type {
  DatasetInfo,
  DatasetOptions,
  DatasetProgressEvent,
  DatasetSource,
  EngineApi,
  EngineEvents,
  EngineStatus,
  ExportedFile,
  ExportProgressEvent,
  GenerateEvents,
  GenerateRequest,
  ImportedAdapter,
  KernelTuningReport,
  KernelTuningShape,
  LoadProgressEvent,
  ModelInfo,
  ModelSource,
  PreviewExample,
  RunSummary,
  TrainEvents,
  TuneEvents,
} from './api';

const MAX_DEVICE_RECOVERIES = 3;

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

export interface EngineOptions {
  /** the GPU object (Node passes Dawn's); navigator.gpu by default */
  gpu?: GPU;
  kv: KeyValueStore;
  /** origin for the bundled demo model and sample dataset (the page's origin in the browser) */
  assetBase?: string;
  fetch?: typeof fetch;
  /**
   * Total GPU memory (bytes) a training job may plan for. WebGPU does not report how much the
   * GPU has, so: when set, every job's memory estimate is checked against it; when unset, full
   * fine-tuning is checked against DEFAULT_DEVICE_BUDGET_BYTES (4 GiB) and LoRA / prompt tuning
   * only against the per-buffer limit. A job's own TrainConfig.deviceBudgetBytes wins over both.
   */
  deviceBudgetBytes?: number;
  /** where tuned kernel choices persist (the browser: IndexedDB); a memory store by default */
  tuneStore?: TuneStore;
  /** where each run keeps its tokenized dataset (the browser: OPFS); in memory by default */
  runFiles?: RunFiles;
}

interface LoadedModel {
  folder: ModelFolder;
  model: CausalLM;
  tokenizer: Tokenizer;
  template: ChatTemplateInfo;
  info: ModelInfo;
  /** where it came from, recorded with the runs trained on it */
  source: StoredModelSource;
}

type LoadedDataset = RunDataset;

export class Engine implements EngineApi {
  private ctx: GpuContext | null = null;
  private gpuStatus: EngineStatus | null = null;
  private starting: Promise<EngineStatus> | null = null;
  private listeners: EngineEvents[] = [];
  private loaded: LoadedModel | null = null;
  private dataset: LoadedDataset | null = null;
  /** what was trained or imported last (one at a time): used by generate({ useAdapter }) and the exports without a run id */
  adapter: LoraAdapter | null = null;
  promptTuning: PromptTuning | null = null;
  fullFinetune: FullFinetune | null = null;
  /** the loaded model's weight tensors hold fine-tuned values (full fine-tuning), not the base */
  private weightsFineTuned = false;
  private trainer: Trainer | null = null;
  private trainerMethod: TrainMethod | null = null;
  readonly store: CheckpointStore;

  private readonly tuneStore: TuneStore;
  private readonly runFiles: RunFiles;

  constructor(private opts: EngineOptions) {
    this.store = new CheckpointStore(opts.kv);
    this.tuneStore = opts.tuneStore ?? new MemoryTuneStore();
    this.runFiles = opts.runFiles ?? new MemoryRunFiles();
  }

  private emit(kind: 'lost' | 'error', message: string) {
    for (const l of this.listeners) void l.onDeviceEvent(kind, message);
  }

  async init(): Promise<EngineStatus> {
    if (this.ctx && this.gpuStatus) return this.gpuStatus;
    this.starting ??= this.start().finally(() => (this.starting = null));
    return this.starting;
  }

  private async start(): Promise<EngineStatus> {
    try {
      const c = await acquireGpu({
        gpu: this.opts.gpu,
        timeoutMs: 15_000,
        onLost: (e) => {
          if (this.ctx !== c) return;
          // everything on the old device is gone; the model's files and the dataset are kept
          // so that recoverDevice() can rebuild them on a new device
          this.ctx = null;
          this.adapter = null;
          this.promptTuning = null;
          this.fullFinetune = null;
          this.weightsFineTuned = false;
          this.gpuStatus = { state: 'lost', error: e.message, adapter: c.description };
          this.emit('lost', e.message);
        },
        onUncapturedError: (m) => this.emit('error', m),
      });
      this.ctx = c;
      this.gpuStatus = { state: 'ready', adapter: c.description };
    } catch (e) {
      this.gpuStatus = { state: 'unavailable', error: (e as Error).message };
    }
    return this.gpuStatus;
  }

  async status() {
    return this.gpuStatus;
  }

  async subscribe(events: EngineEvents) {
    this.listeners.push(events);
  }

  private gpu(): GpuContext {
    if (!this.ctx) {
      const s = this.gpuStatus;
      throw new Error(
        s?.state === 'lost'
          ? `The GPU was lost (${s.error}). Reconnect to continue.`
          : s?.state === 'unavailable'
            ? `WebGPU is not available: ${s.error}`
            : 'The GPU is not ready yet.',
      );
    }
    return this.ctx;
  }

  /**
   * Every action that needs the GPU starts here: a call that arrives while the device is still
   * being acquired (the page sends it as soon as the user clicks) waits for it instead of
   * failing; one that arrives before anyone asked for the GPU acquires it. A lost device stays
   * lost until recoverDevice().
   */
  private async readyGpu(): Promise<GpuContext> {
    if (!this.ctx && this.gpuStatus?.state !== 'lost') await this.init();
    return this.gpu();
  }

  private requireModel(): LoadedModel {
    if (!this.loaded) throw new Error('No model is loaded. Load the demo model or a model folder first.');
    return this.loaded;
  }

  private requireDataset(): LoadedDataset {
    if (!this.dataset) throw new Error('No dataset is loaded. Load the sample dataset or a file first.');
    return this.dataset;
  }

  /** Looks up (measure false) or times the matmul variants of the job's shape classes on this GPU. */
  private async tuning(config: TrainConfig, measure: boolean, events?: TuneEvents): Promise<KernelTuningReport> {
    const ctx = await this.readyGpu();
    const { model } = this.requireModel();
    if (measure && this.trainer) throw new Error('A run is training: pause it before tuning the kernels (the timings would measure both).');
    const plan = trainingMatmuls(model.config, config);
    const t0 = performance.now();
    const shapes: KernelTuningShape[] = [];
    const opWords = { xwt: 'x·Wᵀ', dyw: 'dy·W', dytx: 'dyᵀ·x' } as const;
    for (const [i, p] of plan.entries()) {
      events?.onProgress(i, plan.length, p.uses[0]);
      let known = await knownWinner(ctx, p.shape, this.tuneStore);
      let source: KernelTuningShape['source'] = 'stored';
      if (known === null && measure) {
        const r = await tuneMatmul(ctx, p.shape, { store: this.tuneStore });
        known = r.record ?? r.winner;
        source = 'measured';
      }
      if (known === null) continue;
      const record = typeof known === 'string' ? null : known;
      const winner = typeof known === 'string' ? known : known.winner;
      const dflt = defaultVariant(ctx, problemOf(p.shape));
      const msOf = (v: string) => record?.timings.find((t) => t.variant === v && !t.probe && t.ms !== null)?.ms ?? null;
      shapes.push({
        key: p.key,
        uses: p.uses,
        problem: `${opWords[p.shape.op]} ${p.shape.m}×${p.shape.n}×${p.shape.k}`,
        winner,
        source,
        defaultVariant: dflt,
        winnerMs: msOf(winner),
        defaultMs: msOf(dflt),
      });
    }
    events?.onProgress(plan.length, plan.length, '');
    return { adapter: ctx.description.name, total: plan.length, shapes, seconds: (performance.now() - t0) / 1000 };
  }

  async tuneKernels(config: TrainConfig, events: TuneEvents): Promise<KernelTuningReport> {
    return this.tuning(config, true, events);
  }

  async kernelTuning(config: TrainConfig): Promise<KernelTuningReport> {
    return this.tuning(config, false);
  }

  async selfTest() {
    return runSelfTest(await this.readyGpu());
  }

  private assetUrl(path: string): string {
    const base = this.opts.assetBase ?? (typeof location !== 'undefined' ? location.origin : 'http://127.0.0.1');
    return new URL(path, base).toString();
  }

  private async folderFor(source: ModelSource, onProgress?: (e: LoadProgressEvent) => void): Promise<ModelFolder> {
    const progress = (p: { file: string; bytesDone: number; bytesTotal: number | null; fromCache: boolean }) =>
      onProgress?.({ phase: 'download', file: p.file, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, fromCache: p.fromCache });
    const fetchImpl = this.opts.fetch;
    switch (source.kind) {
      case 'demo':
        return folderFromUrl('stories260K', (f) => this.assetUrl(`/models/stories260K/${f}`), { onProgress: progress, fetch: fetchImpl });
      case 'url': {
        const base = source.baseUrl.endsWith('/') ? source.baseUrl : `${source.baseUrl}/`;
        return folderFromUrl(source.name ?? base, (f) => new URL(f, base).toString(), { onProgress: progress, fetch: fetchImpl });
      }
      case 'hub': {
        const cache = typeof caches !== 'undefined' ? await caches.open('whetstone-hub-v1') : null;
        return folderFromUrl(source.repo, hubFileUrl(source.repo, source.revision ?? 'main', source.endpoint), { onProgress: progress, cache, fetch: fetchImpl, timeoutMs: source.timeoutMs });
      }
      case 'files':
        return folderFromFiles(source.files, source.name);
    }
  }

  async loadModel(source: ModelSource, onProgress?: (e: LoadProgressEvent) => void): Promise<ModelInfo> {
    const ctx = await this.readyGpu();
    const folder = await this.folderFor(source, onProgress);
    const assets = await readModelAssets(folder);
    onProgress?.({ phase: 'tokenizer', bytesDone: 0, bytesTotal: null });
    const tokenizer = loadTokenizer(assets.tokenizerJson, assets.tokenizerConfig, assets.name);
    const template = chatTemplateInfo(assets.tokenizerConfig ?? {}, tokenizer, { chatTemplate: assets.chatTemplate });
    // free the previous model only once the new one's files are known to be good
    this.unloadModel();
    let uploaded: Map<string, Tensor> | null = null;
    const outcome = await guardGpuWork(ctx, async () => {
      uploaded = await loadWeights(ctx, folder, assets, (p) => onProgress?.({ phase: p.phase === 'done' ? 'done' : 'weights', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, file: p.tensor }));
      return uploaded;
    });
    if (!outcome.ok) for (const t of (uploaded as Map<string, Tensor> | null)?.values() ?? []) ctx.allocator.release(t.buffer);
    const weights = unwrapGuarded(outcome, 'while uploading the model weights', (f) => new ModelOutOfMemoryError(f, assets.parameterCount * 2));
    const model = new CausalLM(ctx, assets, weights);
    const c = assets.config;
    const notes: string[] = [];
    if (!assets.chatTemplate) notes.push('No chat template: chat and instruction data use the documented default template.');
    const info: ModelInfo = {
      name: assets.name,
      architecture: c.architecture,
      hfArchitecture: c.hfArchitecture,
      parameterCount: assets.parameterCount,
      layers: c.numLayers,
      hidden: c.hiddenSize,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      vocab: c.vocabSize,
      maxPositions: c.maxPositions,
      tiedEmbeddings: c.tieWordEmbeddings,
      hasChatTemplate: !!assets.chatTemplate,
      loraTargets: { all: [...archOf(c).loraTargets.allLinear], attention: [...archOf(c).loraTargets.attention] },
      weightBytes: [...weights.values()].reduce((s, t) => s + t.buffer.size, 0),
      fingerprint: assets.fingerprint,
      notes,
    };
    this.loaded = { folder, model, tokenizer, template, info, source: storedSourceOf(source, assets.name) };
    this.dataset = null;
    return info;
  }

  private unloadModel() {
    if (!this.loaded || !this.ctx) return;
    this.releaseTrained();
    this.weightsFineTuned = false;
    this.trainer?.release();
    this.trainer = null;
    this.loaded.model.release();
    for (const t of this.loaded.model.weights.values()) this.ctx.allocator.release(t.buffer);
    this.loaded = null;
  }

  async loadDataset(source: DatasetSource, opts: DatasetOptions, onProgress?: (e: DatasetProgressEvent) => void): Promise<DatasetInfo> {
    const { tokenizer, template, model } = this.requireModel();
    let file: Blob & { name: string };
    if (source.kind === 'sample') {
      const res = await (this.opts.fetch ?? fetch)(this.assetUrl('/datasets/sample.jsonl'));
      if (!res.ok) throw new Error(`The sample dataset could not be loaded (HTTP ${res.status}).`);
      file = Object.assign(await res.blob(), { name: 'sample.jsonl' });
    } else {
      file = source.file;
    }
    // Rows are tokenized as the reader streams them and not kept: memory grows with the tokens
    // only, whatever the size of the file.
    const maxSeqLen = Math.min(opts.maxSeqLen, model.config.maxPositions);
    let tokenizing: DatasetTokenizer | null = null;
    const raw = await readDatasetFile(file, {
      mapping: opts.mapping,
      keepRows: false,
      onBadRow: opts.onBadRow === 'stop' ? 'stop' : 'collect',
      onFormat: (format) => {
        tokenizing = new DatasetTokenizer(tokenizer, template, format, file.name, { maxSeqLen, trainOn: opts.trainOn, onBadRow: opts.onBadRow });
      },
      onExample: (ex) => tokenizing!.add(ex),
      onProgress: (done, total) => onProgress?.({ phase: 'reading', bytesDone: done, bytesTotal: total }),
    });
    if (!tokenizing) throw new Error(`${file.name}: the reader reported no format.`);
    const ds = (tokenizing as DatasetTokenizer).finish(raw);
    if (ds.offsets.length < 2) throw new Error(`${file.name} has no usable examples (${ds.badRows.length} bad rows). Fix the rows listed, or pick another file.`);
    const { train, validation } = splitDataset(ds, { validationFraction: opts.validationFraction, seed: opts.seed });
    const warnings = checkTemplateTokens(tokenizer, template, { modelVocabSize: model.config.vocabSize }).map((w) => w.message);
    // Runs of trained / untrained tokens, decoded with their context (previewPieces says why not token by token).
    const decode = (ids: number[]) => tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    const preview: PreviewExample[] = [];
    for (let e = 0; e < Math.min(3, ds.offsets.length - 1); e++) {
      preview.push({ line: ds.lines[e], pieces: previewPieces(decode, ds.tokens, ds.trained, ds.offsets[e], ds.offsets[e + 1]) });
    }
    let fp = 0x811c9dc5;
    for (let i = 0; i < ds.tokens.length; i += Math.max(1, Math.floor(ds.tokens.length / 4096))) fp = Math.imul(fp ^ ds.tokens[i], 0x01000193) >>> 0;
    const info: DatasetInfo = {
      name: file.name,
      format: raw.format,
      stats: ds.stats,
      badRows: ds.badRows.slice(0, 1000),
      trainExamples: train.offsets.length - 1,
      validationExamples: validation.offsets.length - 1,
      preview,
      warnings: warnings.filter((w): w is string => typeof w === 'string'),
      fingerprint: `${fp.toString(16)}-${ds.tokens.length}`,
    };
    this.dataset = { train, validation, info };
    return info;
  }

  /** The total budget a job is checked against (see EngineOptions.deviceBudgetBytes), or undefined for none. */
  private budgetFor(config: TrainConfig): number | undefined {
    return config.deviceBudgetBytes ?? this.opts.deviceBudgetBytes ?? ((config.method ?? 'lora') === 'full' ? DEFAULT_DEVICE_BUDGET_BYTES : undefined);
  }

  async estimate(config: TrainConfig) {
    const { model } = this.requireModel();
    const l = (await this.readyGpu()).description.limits;
    return estimateMemory(model.config, config, { maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, deviceBytes: this.budgetFor(config) });
  }

  /** Free whatever was trained or imported (adapter, virtual tokens, full fine-tuning state). */
  private releaseTrained(): void {
    const ctx = this.ctx;
    if (ctx) {
      if (this.adapter) releaseAdapter(ctx, this.adapter);
      if (this.promptTuning) releasePromptTuning(ctx, this.promptTuning);
      if (this.fullFinetune) releaseFullFinetune(ctx, this.fullFinetune);
    }
    this.adapter = null;
    this.promptTuning = null;
    this.fullFinetune = null;
  }

  /** Put the base weights back into the model's tensors after full fine-tuning changed them (reads the model's files again). */
  private async restoreBaseWeights(): Promise<void> {
    if (!this.weightsFineTuned) return;
    if (this.trainerMethod === 'full') throw new Error('The base weights are being fine-tuned right now. Pause or stop the run first.');
    const ctx = this.gpu();
    const { folder, model } = this.requireModel();
    const fresh = await loadWeights(ctx, folder, model.assets);
    for (const [name, t] of fresh) {
      const target = model.weights.get(name);
      if (target) copyTensor(ctx, t, target);
    }
    ctx.flush();
    for (const t of fresh.values()) releaseTensor(ctx, t);
    this.weightsFineTuned = false;
  }

  /** Write the full fine-tuning masters into the model's tensors (after a base-model generation reloaded the base). */
  private async useFineTunedWeights(ft: FullFinetune): Promise<void> {
    if (this.weightsFineTuned) return;
    const ctx = this.gpu();
    await refreshWeights(ctx, ft);
    ctx.flush();
    this.weightsFineTuned = true;
  }

  /** Allocate what the run trains (after the memory check; the model holds its base weights). */
  private async createTrainable(config: TrainConfig): Promise<Trainable> {
    const ctx = this.gpu();
    const { model, tokenizer } = this.requireModel();
    const method = config.method ?? 'lora';
    if (method === 'prompt') {
      const p = promptTuningOf(config);
      const textIds = p.init === 'text' ? Array.from(tokenizer.encode(p.initText ?? '').ids) : undefined;
      this.promptTuning = await createPromptTuning(ctx, model, { n: p.numVirtualTokens, init: p.init, seed: config.seed, textIds });
      return this.promptTuning;
    }
    if (method === 'full') {
      this.fullFinetune = await createFullFinetune(ctx, model);
      // from the first optimizer step (or a restored checkpoint) on, the model's tensors are fine-tuned
      this.weightsFineTuned = true;
      return this.fullFinetune;
    }
    const l = config.lora;
    this.adapter = createAdapter(ctx, model.config, { rank: l.rank, alpha: l.alpha, dropout: l.dropout, useRslora: l.useRslora, targetModules: l.targetModules }, config.seed);
    return this.adapter;
  }

  /** Checks that need the model, before anything is allocated. */
  private checkJobForModel(config: TrainConfig): void {
    const { model } = this.requireModel();
    const n = virtualTokensOf(config);
    if (n > 0 && config.seqLen + n > model.config.maxPositions) {
      throw new Error(
        `Prompt tuning puts ${n} virtual tokens before sequences of ${config.seqLen} tokens, but this model reads at most ${model.config.maxPositions} positions. ` +
          `Lower the sequence length to ${model.config.maxPositions - n} or use fewer virtual tokens.`,
      );
    }
  }

  private summary(run: RunRecord, step = run.checkpointStep): RunSummary {
    return {
      method: (run.config as Partial<TrainConfig> | null)?.method ?? 'lora',
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

  private async runTrainer(
    run: RunRecord,
    config: TrainConfig,
    ds: LoadedDataset,
    events: TrainEvents,
    resume?: Awaited<ReturnType<CheckpointStore['loadCheckpoint']>>,
    recoveries = 0,
  ): Promise<RunSummary> {
    const ctx = this.gpu();
    const { model } = this.requireModel();
    // refused before anything is allocated
    const est = await this.estimate(config);
    if (!est.fits) throw new Error(est.advice ?? 'This job does not fit on the GPU.');
    if (this.trainer) throw new Error('A run is already training. Pause or stop it first.');
    this.checkJobForModel(config);
    this.releaseTrained();
    // every run starts from the base model (full fine-tuning's masters are copied from it)
    await this.restoreBaseWeights();
    // kernels tuned for these shapes on this GPU before (any session) are used from the first step
    await this.tuning(config, false).catch(() => null);
    const trainer = await this.setUpTrainer(ctx, model, ds, config, run, events, resume);
    this.trainer = trainer;
    this.trainerMethod = config.method ?? 'lora';
    trainer.nanAtStep = this.pendingNaNStep;
    this.pendingNaNStep = null;
    run.totalSteps = trainer.totalSteps;
    run.status = 'running';
    try {
      await this.store.putRun(run);
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
      return this.summary(run, trainer.step);
    } catch (e) {
      // In Chromium a destroyed device first rejects the pending readback ("unmapped before
      // mapping was resolved") and only then resolves device.lost: give the loss a moment to
      // arrive before deciding whether this was a lost GPU or a real failure.
      lost = this.ctx !== ctx || (!(e instanceof GpuOutOfMemoryError) && (await Promise.race([ctx.lost.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 1000))])));
      if (lost && recoveries < MAX_DEVICE_RECOVERIES) {
        // The GPU was lost mid-run (driver reset, device.destroy()): get a new device, upload the
        // model again and continue from the last checkpoint.
        const step = trainer.step;
        const status = await this.recoverDevice();
        if (status.state === 'ready') {
          const fresh = (await this.store.getRun(run.id)) ?? run;
          const ckpt = await this.store.loadCheckpoint(fresh);
          const note = `The GPU was lost at step ${step}; a new GPU device was acquired and training resumed from ${ckpt ? `the checkpoint at step ${ckpt.step}` : 'the start'}.`;
          events.onStatus('running', note);
          fresh.message = note;
          if (!ckpt) fresh.history = [];
          return this.runTrainer(fresh, config, ds, events, ckpt, recoveries + 1);
        }
      }
      const outOfMemory = e instanceof GpuOutOfMemoryError;
      const expected = e instanceof NonFiniteError || e instanceof StorageFullError || e instanceof RunLockedError;
      const message = expected || outOfMemory ? (e as Error).message : lost ? `The GPU was lost and could not be recovered: ${(e as Error).message}` : `Training stopped: ${(e as Error).message}`;
      run.status = expected || lost ? 'paused' : 'failed';
      run.message = message;
      await this.store.putRun(run).catch(() => {});
      if (outOfMemory) {
        // stop cleanly: give back what the run took (the trainer's own state is released below)
        this.releaseTrained();
        model.ws.release();
      }
      events.onStatus(run.status, message);
      throw new Error(message);
    } finally {
      if (!lost) trainer.release();
      if (this.trainer === trainer) {
        this.trainer = null;
        this.trainerMethod = null;
      }
    }
  }

  /**
   * What is trained and its optimizer state, allocated in a validation error scope and checked for
   * out-of-memory before the first step: a buffer that did not fit stops the run here with the
   * setting to lower (and the invalid buffers' validation errors stay out of the page).
   */
  private async setUpTrainer(
    ctx: GpuContext,
    model: CausalLM,
    ds: LoadedDataset,
    config: TrainConfig,
    run: RunRecord,
    events: TrainEvents,
    resume?: Awaited<ReturnType<CheckpointStore['loadCheckpoint']>>,
  ): Promise<Trainer> {
    let made: Trainer | null = null;
    const outcome = await guardGpuWork(ctx, async () => {
      const trainable = await this.createTrainable(config);
      made = new Trainer(ctx, model, trainable, ds.train, ds.validation, config, this.store, run, (p) => events.onProgress(p), resume ?? undefined);
      return made;
    });
    if (outcome.ok) return outcome.value;
    (made as Trainer | null)?.release();
    this.releaseTrained();
    return unwrapGuarded(outcome, 'while setting up the run', (f) => new GpuOutOfMemoryError(f, 'setup', run.checkpointStep, config));
  }

  /**
   * Test hook: simulate a GPU with only `freeBytes` more memory than is in use now (null: no
   * limit). Allocations beyond it fail the way a real out-of-memory does.
   */
  async debugSimulateGpuMemory(freeBytes: number | null): Promise<void> {
    const a = this.gpu().allocator;
    a.simulatedLimitBytes = freeBytes === null ? null : a.liveBytes + freeBytes;
  }

  /** After a device loss: a new device, and the model's weights uploaded to it again. */
  async recoverDevice(): Promise<EngineStatus> {
    const previous = this.loaded;
    this.loaded = null;
    this.ctx = null;
    this.gpuStatus = null;
    const status = await this.init();
    if (status.state !== 'ready' || !previous) return status;
    const assets = previous.model.assets;
    const weights = await loadWeights(this.gpu(), previous.folder, assets);
    this.loaded = { ...previous, model: new CausalLM(this.gpu(), assets, weights) };
    return status;
  }

  private pendingNaNStep: number | null = null;

  /** Test hook: the gradients of optimizer step `step` of the current or next run become NaN. */
  async debugInjectNaN(step: number): Promise<void> {
    this.pendingNaNStep = step;
    if (this.trainer) this.trainer.nanAtStep = step;
  }

  /** Test hook (e2e and unit tests): destroy the device as a driver reset would. */
  async debugLoseDevice(): Promise<void> {
    this.ctx?.device.destroy();
  }

  async startTraining(config: TrainConfig, events: TrainEvents, name?: string): Promise<RunSummary> {
    await this.readyGpu();
    const issues = validateConfig(config);
    if (issues.length > 0) throw new Error(`The job settings need fixing: ${issues.map((i) => i.message).join(' ')}`);
    const { info, source } = this.requireModel();
    const ds = this.requireDataset();
    const id = `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
    const run: RunRecord = {
      id,
      name: name ?? `${info.name} on ${ds.info.name}`,
      createdAt: Date.now(),
      updatedAt: Date.now(),
      status: 'running',
      model: { name: info.name, architecture: info.hfArchitecture, fingerprint: info.fingerprint },
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
    run.datasetBytes = await keepRunDataset(this.runFiles, id, ds).catch(() => 0);
    return this.runTrainer(run, config, ds, events);
  }

  async resume(runId: string, events: TrainEvents): Promise<RunSummary> {
    await this.readyGpu();
    const run = await this.store.getRun(runId);
    if (!run) throw new Error('That run no longer exists.');
    const { info } = this.requireModel();
    if (run.model.fingerprint !== info.fingerprint) throw new Error(`This run was trained on ${run.model.name}; load that model to resume it.`);
    const ds = await datasetToResume(this.runFiles, run, this.dataset);
    const ckpt = await this.store.loadCheckpoint(run);
    return this.runTrainer(run, run.config as TrainConfig, ds, events, ckpt);
  }

  async pause() {
    this.trainer?.requestPause();
  }

  async stop() {
    this.trainer?.requestStop();
  }

  async listRuns(): Promise<RunSummary[]> {
    return (await this.store.listRuns()).map((r) => this.summary(r, r.history.at(-1)?.step ?? r.checkpointStep));
  }

  async deleteRun(runId: string) {
    await this.store.deleteRun(runId);
    await freeRunFiles(this.runFiles, runId);
  }

  async generate(req: GenerateRequest, events?: GenerateEvents): Promise<string> {
    await this.readyGpu();
    const { model, tokenizer, template } = this.requireModel();
    const text = req.chat ? this.chatPrompt(req.prompt, template) : req.prompt;
    const promptIds = Array.from(tokenizer.encode(text).ids);
    const eos = [model.config.eosTokenId, ...model.config.eosTokenIds, template.eosId].filter((x): x is number => typeof x === 'number');
    const dec = new StreamingDecoder(tokenizer);
    if (req.useAdapter && !this.adapter && !this.promptTuning && !this.fullFinetune) throw new Error('There is no adapter yet: train one or import one first.');
    // full fine-tuning: the model's tensors must hold the base or the fine-tuned weights as asked
    if (!req.useAdapter) await this.restoreBaseWeights();
    if (req.useAdapter && this.fullFinetune) await this.useFineTunedWeights(this.fullFinetune);
    const opts = {
      ...req.sampling,
      eosIds: eos,
      run: req.useAdapter && this.adapter ? { adapter: this.adapter, seed: 0, training: false } : null,
      onToken: (out: number[]) => {
        dec.push(out);
        events?.onToken(dec.text, out.length);
      },
    };
    const outcome = await guardGpuWork(this.gpu(), () => (req.useAdapter && this.promptTuning ? generateWithPrompt(model, this.promptTuning, promptIds, opts) : generateIds(model, promptIds, opts)));
    const ids = unwrapGuarded(outcome, 'while generating', (f) => {
      // the KV cache and the decode buffers were the last to be allocated: give them back (the
      // workspace is shared with a run that may be training)
      if (!this.trainer) model.ws.release();
      return new Error(
        `The GPU ran out of memory while generating: “${f.label}” (${mib(f.size)}) could not be allocated with ${mib(f.liveBytes)} already in use. ` +
          `Lower Max new tokens (now ${req.sampling.maxTokens}) or shorten the prompt (${promptIds.length} tokens), or pause the training run that is using the GPU.`,
      );
    });
    return ids.length ? tokenizer.decode(ids, { skip_special_tokens: true }) : '';
  }

  /** The run's record and checkpoint, checked against the loaded model. */
  private async runCheckpoint(runId: string) {
    const { info } = this.requireModel();
    const run = await this.store.getRun(runId);
    if (!run) throw new Error('That run no longer exists.');
    if (run.model.fingerprint !== info.fingerprint) throw new Error(`This run belongs to ${run.model.name}; load that model to export it.`);
    const ckpt = await this.store.loadCheckpoint(run);
    if (!ckpt) throw new Error('This run has no saved checkpoint yet.');
    return { run, ckpt, config: run.config as TrainConfig };
  }

  /** What an export without a run id exports: the method trained or imported last. */
  private inMemoryMethod(): TrainMethod {
    if (this.promptTuning) return 'prompt';
    if (this.fullFinetune) return 'full';
    if (this.adapter) return 'lora';
    throw new Error('There is no adapter to export yet: train one first.');
  }

  private async methodOf(runId?: string): Promise<TrainMethod> {
    if (!runId) return this.inMemoryMethod();
    const run = await this.store.getRun(runId);
    if (!run) throw new Error('That run no longer exists.');
    return (run.config as Partial<TrainConfig>).method ?? 'lora';
  }

  /** The adapter to export: the run's checkpoint, or the adapter in memory. */
  private async exportInput(runId?: string): Promise<AdapterExportInput> {
    const { model, info } = this.requireModel();
    let adapters: LoraWeights[];
    let spec: { rank: number; alpha: number; dropout: number; useRslora: boolean };
    if (runId) {
      const { ckpt, config: cfg } = await this.runCheckpoint(runId);
      spec = { rank: cfg.lora.rank, alpha: cfg.lora.alpha, dropout: cfg.lora.dropout, useRslora: cfg.lora.useRslora };
      const byModule = new Map<string, LoraWeights>();
      for (const [key, value] of Object.entries(ckpt.params)) {
        const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(key);
        if (!m) continue;
        const w = byModule.get(m[1]) ?? { module: m[1], a: new Float32Array(0), b: new Float32Array(0) };
        if (m[2] === 'A') w.a = Float32Array.from(value);
        else w.b = Float32Array.from(value);
        byModule.set(m[1], w);
      }
      adapters = [...byModule.values()];
    } else {
      if (!this.adapter) throw new Error('There is no adapter to export yet: train one first.');
      const s = this.adapter.spec;
      spec = { rank: s.rank, alpha: s.alpha, dropout: s.dropout, useRslora: s.useRslora };
      adapters = [...(await downloadAdapter(this.gpu(), this.adapter))].map(([module, w]) => ({ module, a: w.A, b: w.B }));
    }
    return { config: model.config, modelName: info.name, ...spec, adapters };
  }

  /** Prompt-tuning embeddings to export: the run's checkpoint, or the virtual tokens in memory. */
  private async promptExport(runId?: string): Promise<ExportedFile[]> {
    const { model, info } = this.requireModel();
    let embeddings: Float32Array;
    if (runId) {
      const { ckpt } = await this.runCheckpoint(runId);
      const e = ckpt.params[PROMPT_EMBEDDINGS_KEY];
      if (!e) throw new Error('This run\'s checkpoint holds no prompt embeddings.');
      embeddings = Float32Array.from(e);
    } else {
      embeddings = await downloadPromptEmbeddings(this.gpu(), this.promptTuning!);
    }
    const C = model.config.hiddenSize;
    return exportPromptTuningFiles({ config: model.config, modelName: info.name, numVirtualTokens: embeddings.length / C, embeddings });
  }

  async exportPeft(runId?: string): Promise<ExportedFile[]> {
    await this.readyGpu();
    const method = await this.methodOf(runId);
    if (method === 'full') throw new Error('A fully fine-tuned model is a whole model, not an adapter: export the full model (exportMerged) instead.');
    if (method === 'prompt') return this.promptExport(runId);
    return exportPeftFiles(await this.exportInput(runId));
  }

  async exportGguf(runId?: string): Promise<ExportedFile> {
    await this.readyGpu();
    const method = await this.methodOf(runId);
    if (method !== 'lora') throw new Error(ggufRefusal(method));
    return exportGgufFile(await this.exportInput(runId));
  }

  /** config.json, tokenizer and generation files beside an exported model. */
  private modelFolderFiles(dtype: string): ExportedFile[] {
    const { model } = this.requireModel();
    const enc = new TextEncoder();
    const files: ExportedFile[] = [
      { name: 'config.json', bytes: enc.encode(JSON.stringify({ ...model.assets.rawConfig, torch_dtype: dtype }, null, 2)), mime: 'application/json' },
    ];
    if (model.assets.tokenizerJson) files.push({ name: 'tokenizer.json', bytes: enc.encode(JSON.stringify(model.assets.tokenizerJson)), mime: 'application/json' });
    if (model.assets.tokenizerConfig) files.push({ name: 'tokenizer_config.json', bytes: enc.encode(JSON.stringify(model.assets.tokenizerConfig, null, 2)), mime: 'application/json' });
    if (model.assets.generationConfig) files.push({ name: 'generation_config.json', bytes: enc.encode(JSON.stringify(model.assets.generationConfig, null, 2)), mime: 'application/json' });
    return files;
  }

  /**
   * LoRA: the base weights with the adapter merged in (fp16). Full fine-tuning: the fine-tuned
   * weights, fp16 by default or the f32 masters with { dtype: 'float32' }. Either way with
   * config.json and the tokenizer files, loadable by transformers.
   */
  async exportMerged(runId?: string, options?: { dtype?: 'float16' | 'float32' }, onProgress?: (e: ExportProgressEvent) => void): Promise<ExportedFile[]> {
    await this.readyGpu();
    const method = await this.methodOf(runId);
    if (method === 'prompt') {
      throw new Error('Virtual tokens cannot be merged into the weights: export the PEFT prompt-tuning adapter, which PEFT loads on top of the base model.');
    }
    const { model, info } = this.requireModel();
    const ctx = this.gpu();
    if (method === 'full') {
      const dtype: FullExportDtype = options?.dtype === 'float32' ? 'F32' : 'F16';
      let weights: Map<string, { shape: number[]; data: Float32Array }>;
      if (runId) {
        const { ckpt } = await this.runCheckpoint(runId);
        weights = new Map();
        for (const [name, t] of model.weights) {
          const v = ckpt.params[name];
          if (!v) throw new Error(`This run's checkpoint has no ${name}: it was not saved by a full fine-tuning run of this model.`);
          weights.set(name, { shape: [...t.shape], data: Float32Array.from(v) });
        }
      } else {
        onProgress?.({ phase: 'reading', bytesDone: 0, bytesTotal: null });
        weights = await downloadFullWeights(ctx, this.fullFinetune!);
      }
      onProgress?.({ phase: 'writing', bytesDone: 0, bytesTotal: null });
      const bytes = writeFullModel(model.config, weights, { dtype, modelName: info.name });
      return [{ name: 'model.safetensors', bytes, mime: 'application/octet-stream' }, ...this.modelFolderFiles(dtype === 'F32' ? 'float32' : 'float16')];
    }
    const input = await this.exportInput(runId);
    // merge into the base weights, not into fine-tuned ones
    await this.restoreBaseWeights();
    const base = new Map<string, { shape: number[]; halves?: Uint16Array; f32?: Float32Array }>();
    const bytesTotal = [...model.weights.values()].reduce((s, t) => s + t.buffer.size, 0);
    let bytesDone = 0;
    onProgress?.({ phase: 'reading', bytesDone, bytesTotal });
    for (const [name, t] of model.weights) {
      if (t.dtype === 'f16') base.set(name, { shape: [...t.shape], halves: unpackHalves(await downloadU32(ctx, t), t.shape.reduce((a, b) => a * b, 1)) });
      else base.set(name, { shape: [...t.shape], f32: await downloadF32(ctx, t) });
      bytesDone += t.buffer.size;
      onProgress?.({ phase: 'reading', bytesDone, bytesTotal });
    }
    onProgress?.({ phase: 'writing', bytesDone: 0, bytesTotal: null });
    return [{ name: 'model.safetensors', bytes: mergeAdapter(input, base), mime: 'application/octet-stream' }, ...this.modelFolderFiles('float16')];
  }

  async importAdapter(files: File[]): Promise<ImportedAdapter> {
    await this.readyGpu();
    const { model } = this.requireModel();
    const cfgFile = files.find((f) => f.name === 'adapter_config.json');
    const weightsFile = files.find((f) => f.name === 'adapter_model.safetensors');
    if (!cfgFile || !weightsFile) throw new Error('Select both adapter_config.json and adapter_model.safetensors of a PEFT adapter (LoRA or prompt tuning).');
    if (this.trainer) throw new Error('A run is training. Pause or stop it before importing an adapter.');
    const cfgText = await cfgFile.text();
    const ctx = this.gpu();
    if (peftTypeOf(cfgText) === 'PROMPT_TUNING') {
      const pc = parsePromptTuningConfig(cfgText);
      const { embeddings } = await readPeftPromptTuning(pc, blobSource(weightsFile, weightsFile.name), model.config);
      this.releaseTrained();
      await this.restoreBaseWeights();
      this.promptTuning = await createPromptTuning(ctx, model, { n: pc.numVirtualTokens, init: 'random', seed: 0, initial: embeddings });
      return { method: 'prompt', numVirtualTokens: pc.numVirtualTokens, rank: 0, alpha: 0, targetModules: [] };
    }
    const peftConfig = parsePeftConfig(cfgText);
    const { adapters } = await readPeftAdapter(peftConfig, blobSource(weightsFile, weightsFile.name), model.config);
    const initial = new Map(adapters.map((a) => [a.module, { A: a.a, B: a.b }]));
    const names = [...new Set(adapters.map((a) => a.module.split('.').pop()!))];
    this.releaseTrained();
    await this.restoreBaseWeights();
    this.adapter = createAdapter(
      ctx,
      model.config,
      { rank: peftConfig.r, alpha: peftConfig.loraAlpha, dropout: 0, useRslora: peftConfig.useRslora, targetModules: names },
      0,
      initial,
    );
    return { method: 'lora', rank: peftConfig.r, alpha: peftConfig.loraAlpha, targetModules: names };
  }

  private chatPrompt(prompt: string, template: ChatTemplateInfo): string {
    if (!template.chatTemplate) return `### Instruction:\n${prompt}\n\n### Response:\n`;
    return prompt;
  }
}
