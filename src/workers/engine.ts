// The engine behind the worker: a thin façade that implements EngineApi over the services in
// ./services (GPU session, model and dataset sessions, runs, generation, adapter files, kernel
// tuning), which share one EngineCore: the GPU, the loaded model and tokenizer, the tokenized
// dataset, what was trained (a LoRA adapter, prompt-tuning virtual tokens, or a fully fine-tuned
// model's master weights) and the run training now. It is a plain class so Node tests can drive
// exactly what the worker runs (with Dawn's GPU and an in-memory store). The fault-injection
// hooks of the tests are not part of it: see ./debugHooks.ts.
import { runSelfTest } from '../gpu/selftest';
import type { TrainConfig } from '../train/config';
import type { CheckpointStore } from '../train/checkpointStore';
import type {
  DatasetInfo,
  DatasetOptions,
  DatasetProgressEvent,
  DatasetSource,
  EngineApi,
  EngineEvents,
  EngineStatus,
  EvaluateRequest,
  EvaluationResult,
  ExportedFile,
  ExportProgressEvent,
  GenerateEvents,
  GenerateRequest,
  HubDatasetListing,
  ImportedAdapter,
  KernelTuningReport,
  LoadModelOptions,
  LoadProgressEvent,
  ModelInfo,
  ModelSource,
  RecipeExportRequest,
  RunSummary,
  TrainEvents,
  TuneEvents,
} from './api';
import { createCore, type EngineCore, type EngineOptions } from './services/core';
import { exportGguf, exportMerged, exportPeft, importAdapter } from './services/adapterFiles';
import { loadDataset } from './services/datasetSession';
import { listHubDataset } from './services/hubDataset';
import { evaluate } from './services/evaluation';
import { generate } from './services/generation';
import { kernelTuning } from './services/kernelTuning';
import { loadModel, recoverDevice } from './services/modelSession';
import { exportRecipe } from './services/recipeExport';
import { deleteRun, estimate, listRuns, resume, startTraining } from './services/runs';
import { compareMethods, type MethodComparisonProgress } from './services/methodComparison';

export type { EngineOptions } from './services/core';
export { RunLockedError } from './services/runs';

/** Each engine's core, for the test-only hooks (../debugHooks.ts); not reachable through the worker's API. */
const cores = new WeakMap<Engine, EngineCore>();

/** The state behind an engine (test-only hooks and tests). */
export function coreOf(engine: Engine): EngineCore {
  const core = cores.get(engine);
  if (!core) throw new Error('Not an Engine.');
  return core;
}

export class Engine implements EngineApi {
  readonly #core: EngineCore;

  constructor(opts: EngineOptions) {
    this.#core = createCore(opts);
    cores.set(this, this.#core);
  }

  /** the saved runs and their checkpoints */
  get store(): CheckpointStore {
    return this.#core.store;
  }

  async init(): Promise<EngineStatus> {
    return this.#core.gpu.init();
  }

  async status() {
    return this.#core.gpu.status();
  }

  async subscribe(events: EngineEvents) {
    this.#core.gpu.subscribe(events);
  }

  async selfTest() {
    return runSelfTest(await this.#core.gpu.ready());
  }

  async tuneKernels(config: TrainConfig, events: TuneEvents): Promise<KernelTuningReport> {
    return kernelTuning(this.#core, config, true, events);
  }

  async kernelTuning(config: TrainConfig): Promise<KernelTuningReport> {
    return kernelTuning(this.#core, config, false);
  }

  async loadModel(source: ModelSource, onProgress?: (e: LoadProgressEvent) => void, opts?: LoadModelOptions): Promise<ModelInfo> {
    return loadModel(this.#core, source, onProgress, opts);
  }

  async loadDataset(source: DatasetSource, opts: DatasetOptions, onProgress?: (e: DatasetProgressEvent) => void): Promise<DatasetInfo> {
    return loadDataset(this.#core, source, opts, onProgress);
  }

  async listHubDataset(repo: string, endpoint?: string): Promise<HubDatasetListing> {
    return listHubDataset(repo, { endpoint, fetch: this.#core.opts.fetch });
  }

  async estimate(config: TrainConfig) {
    return estimate(this.#core, config);
  }

  async compareMethods(config: TrainConfig, measure: boolean, onProgress?: (p: MethodComparisonProgress) => void) {
    return compareMethods(this.#core, config, measure, onProgress);
  }

  async recoverDevice(): Promise<EngineStatus> {
    return recoverDevice(this.#core);
  }

  async startTraining(config: TrainConfig, events: TrainEvents, name?: string): Promise<RunSummary> {
    return startTraining(this.#core, config, events, name);
  }

  async resume(runId: string, events: TrainEvents): Promise<RunSummary> {
    return resume(this.#core, runId, events);
  }

  async pause() {
    this.#core.training?.trainer.requestPause();
  }

  async stop() {
    this.#core.training?.trainer.requestStop();
  }

  async listRuns(): Promise<RunSummary[]> {
    return listRuns(this.#core);
  }

  async deleteRun(runId: string) {
    return deleteRun(this.#core, runId);
  }

  async generate(req: GenerateRequest, events?: GenerateEvents): Promise<string> {
    return generate(this.#core, req, events);
  }

  async evaluate(req: EvaluateRequest): Promise<EvaluationResult> {
    return evaluate(this.#core, req);
  }

  async exportPeft(runId?: string): Promise<ExportedFile[]> {
    return exportPeft(this.#core, runId);
  }

  async exportGguf(runId?: string): Promise<ExportedFile> {
    return exportGguf(this.#core, runId);
  }

  async exportMerged(runId?: string, options?: { dtype?: 'float16' | 'float32' }, onProgress?: (e: ExportProgressEvent) => void): Promise<ExportedFile[]> {
    return exportMerged(this.#core, runId, options, onProgress);
  }

  async exportRecipe(req: RecipeExportRequest): Promise<ExportedFile[]> {
    return exportRecipe(this.#core, req);
  }

  async importAdapter(files: File[]): Promise<ImportedAdapter> {
    return importAdapter(this.#core, files);
  }
}
