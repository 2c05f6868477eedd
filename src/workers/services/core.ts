// The engine's state, shared by its services: the GPU session, the loaded model, the tokenized
// dataset, what was trained, the run that is training and the stores. The Engine façade
// (../engine.ts) owns one; each service is a set of functions over it.
import type { Tokenizer } from '@huggingface/tokenizers';
import type { ChatTemplateInfo } from '../../data';
import type { CausalLM } from '../../model/causalLM';
import type { ModelFolder } from '../../model/folder';
import { CheckpointStore, type KeyValueStore, type StoredModelSource } from '../../train/checkpointStore';
import { DEFAULT_DEVICE_BUDGET_BYTES, type TrainConfig, type TrainMethod } from '../../train/config';
import type { Trainer } from '../../train/trainer';
import { MemoryTuneStore, type TuneStore } from '../../gpu/tune/store';
import { MemoryRunFiles, type RunDataset, type RunFiles } from '../runStorage';
import type { ModelInfo } from '../api';
import { GpuSession } from './gpuSession';
import type { Trained } from './trained';

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

export interface LoadedModel {
  folder: ModelFolder;
  model: CausalLM;
  tokenizer: Tokenizer;
  template: ChatTemplateInfo;
  info: ModelInfo;
  /** where it came from, recorded with the runs trained on it */
  source: StoredModelSource;
}

export interface EngineCore {
  readonly opts: EngineOptions;
  readonly gpu: GpuSession;
  loaded: LoadedModel | null;
  dataset: RunDataset | null;
  /** what was trained or imported last (one at a time): used by generate({ useAdapter }) and the exports without a run id */
  trained: Trained;
  /** the loaded model's weight tensors hold fine-tuned values (full fine-tuning), not the base */
  weightsFineTuned: boolean;
  /** the run training now */
  training: { trainer: Trainer; method: TrainMethod } | null;
  /** a test hook's NaN step for the next run (see ../debugHooks.ts) */
  pendingNaNStep: number | null;
  readonly store: CheckpointStore;
  readonly tuneStore: TuneStore;
  readonly runFiles: RunFiles;
}

export function createCore(opts: EngineOptions): EngineCore {
  const core: EngineCore = {
    opts,
    // everything on the old device is gone; the model's files and the dataset are kept so that
    // recoverDevice() can rebuild them on a new device
    gpu: new GpuSession(opts.gpu, () => {
      core.trained = { kind: 'none' };
      core.weightsFineTuned = false;
    }),
    loaded: null,
    dataset: null,
    trained: { kind: 'none' },
    weightsFineTuned: false,
    training: null,
    pendingNaNStep: null,
    store: new CheckpointStore(opts.kv),
    tuneStore: opts.tuneStore ?? new MemoryTuneStore(),
    runFiles: opts.runFiles ?? new MemoryRunFiles(),
  };
  return core;
}

export function requireModel(core: EngineCore): LoadedModel {
  if (!core.loaded) throw new Error('No model is loaded. Load the demo model or a model folder first.');
  return core.loaded;
}

export function requireDataset(core: EngineCore): RunDataset {
  if (!core.dataset) throw new Error('No dataset is loaded. Load the sample dataset or a file first.');
  return core.dataset;
}

export function assetUrl(core: EngineCore, path: string): string {
  const base = core.opts.assetBase ?? (typeof location !== 'undefined' ? location.origin : 'http://127.0.0.1');
  return new URL(path, base).toString();
}

/** The total budget a job is checked against (see EngineOptions.deviceBudgetBytes), or undefined for none. */
export function budgetFor(core: EngineCore, config: TrainConfig): number | undefined {
  return config.deviceBudgetBytes ?? core.opts.deviceBudgetBytes ?? ((config.method ?? 'lora') === 'full' ? DEFAULT_DEVICE_BUDGET_BYTES : undefined);
}
