// The one typed interface between the UI and the engine worker (exposed with comlink).
// Everything crossing it is plain data (structured clone) or File/Blob objects; GPU objects
// never leave the worker. Progress comes back through callbacks the UI passes as comlink proxies.
import type { AdapterDescription } from '../gpu/device';
import type { SelfTestCase } from '../gpu/selftest';
import type { BadRow, ColumnMapping, DatasetStats, DetectedFormat } from '../data';
import type { MemoryEstimate } from '../train/memory';
import type { MethodComparisonRow } from '../train/methodComparison';
import type { MethodComparisonProgress } from './services/methodComparison';
export type { MethodComparisonRow } from '../train/methodComparison';
export type { MethodComparisonProgress } from './services/methodComparison';
import type { TrainConfig, TrainMethod } from '../train/config';
import type { LossPoint, RunRecord, StoredModelSource } from '../train/checkpointStore';
import type { TrainProgress } from '../train/trainer';
import type { BaseQuantization } from '../util/quant';

export type EngineStatus =
  | { state: 'ready'; adapter: AdapterDescription }
  | { state: 'unavailable'; error: string }
  | { state: 'lost'; error: string; adapter: AdapterDescription };

export interface EngineEvents {
  /** the device was lost or raised an uncaptured error */
  onDeviceEvent(kind: 'lost' | 'error', message: string): void;
}

/** Where a model comes from. */
export type ModelSource =
  | { kind: 'demo' }
  | { kind: 'files'; files: File[]; name?: string }
  | { kind: 'url'; baseUrl: string; name?: string }
  /** timeoutMs: the longest wait for the Hub to answer or send more (remote.ts DEFAULT_NETWORK_TIMEOUT_MS when omitted) */
  | { kind: 'hub'; repo: string; revision?: string; endpoint?: string; timeoutMs?: number };

/** How to load a model's weights. */
export interface LoadModelOptions {
  /**
   * Quantize the frozen base's linear layers at load time (QLoRA-style): 'int8' per output
   * channel, 'int4' in 32-value blocks; 'none' (default) keeps fp16. LoRA, optimizer state and
   * activations are unchanged; full fine-tuning needs 'none'.
   */
  quantize?: BaseQuantization;
}

export interface ModelInfo {
  name: string;
  architecture: string;
  hfArchitecture: string;
  parameterCount: number;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  maxPositions: number;
  tiedEmbeddings: boolean;
  hasChatTemplate: boolean;
  /** LoRA target sets (PEFT suffixes) of the model's architecture module: all linear layers, attention only */
  loraTargets?: { all: string[]; attention: string[] };
  weightBytes: number;
  /** the load-time quantization of the base's linear layers (absent: 'none', fp16) */
  quantization?: BaseQuantization;
  /** GPU bytes of this model's base weights under each load-time quantization (train/memory.ts baseWeightsBytes) */
  weightBytesByQuantization?: Record<BaseQuantization, number>;
  fingerprint: string;
  /** notes the user should read (e.g. sliding window not used) */
  notes: string[];
}

export interface LoadProgressEvent {
  phase: 'download' | 'weights' | 'tokenizer' | 'done';
  file?: string;
  bytesDone: number;
  bytesTotal: number | null;
  fromCache?: boolean;
}

export type DatasetSource =
  | { kind: 'sample' }
  | { kind: 'file'; file: File }
  /** several Parquet files read as one split (a split's shards, in order) */
  | { kind: 'files'; files: File[] }
  /** a Hub dataset's Parquet conversion; `endpoint` as for models (a mirror), timeoutMs as for models */
  | { kind: 'hub'; repo: string; config: string; split: string; endpoint?: string; timeoutMs?: number };

/** A Hub dataset's configs and their splits (`files`: how many Parquet files each has). */
export interface HubDatasetListing {
  repo: string;
  configs: { name: string; splits: { name: string; files: number }[] }[];
}

export interface DatasetOptions {
  mapping?: ColumnMapping;
  maxSeqLen: number;
  trainOn: 'completions' | 'all';
  onBadRow: 'skip' | 'stop';
  validationFraction: number;
  seed: number;
  /** read at most this many rows (a quick try on a big dataset) */
  maxRows?: number;
}

/** A rendered example for the preview: runs of tokens with whether they are trained, and how many tokens each holds. */
export interface PreviewExample {
  line: number;
  pieces: { text: string; trained: boolean; tokens?: number }[];
}

export interface DatasetInfo {
  name: string;
  format: DetectedFormat;
  stats: DatasetStats;
  badRows: BadRow[];
  trainExamples: number;
  validationExamples: number;
  preview: PreviewExample[];
  warnings: string[];
  fingerprint: string;
}

export interface DatasetProgressEvent {
  /** download: a Hub dataset's Parquet files (file `fileIndex` of `files`); reading: the file is
   * read and tokenized in one pass (rows are not kept) */
  phase: 'reading' | 'download';
  bytesDone: number;
  /** 0 when the server does not say (download) */
  bytesTotal: number;
  file?: string;
  fileIndex?: number;
  files?: number;
  fromCache?: boolean;
}

export interface SamplingOptions {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  greedy: boolean;
}

export interface TuneEvents {
  /** `done` of `total` shape classes handled; `what` is the one being timed now */
  onProgress(done: number, total: number, what: string): void;
}

/** One matmul shape class of a job and the kernel variant chosen for it. */
export interface KernelTuningShape {
  key: string;
  /** where it runs ("q_proj forward", "LM head decode", ...) */
  uses: string[];
  /** op and the problem timed: "x·Wᵀ 512×64×64" */
  problem: string;
  winner: string;
  /** timed in this call, or known from an earlier tuning on this adapter */
  source: 'measured' | 'stored';
  /** the untuned choice, and the milliseconds of both on the timed problem (null: not timed) */
  defaultVariant: string;
  winnerMs: number | null;
  defaultMs: number | null;
}

export interface KernelTuningReport {
  adapter: string;
  /** shape classes the job runs */
  total: number;
  /** the tuned ones among them */
  shapes: KernelTuningShape[];
  seconds: number;
}

export interface GenerateRequest {
  prompt: string;
  /** render as a chat turn with the model's chat template (or the default template) */
  chat: boolean;
  useAdapter: boolean;
  sampling: SamplingOptions;
}

export interface GenerateEvents {
  onToken(textSoFar: string, tokenCount: number): void;
}

/** A large export's progress: reading the weights (from the GPU or the checkpoint), then writing the file (no byte count). */
export interface ExportProgressEvent {
  phase: 'reading' | 'writing';
  bytesDone: number;
  bytesTotal: number | null;
}

export interface ExportedFile {
  name: string;
  bytes: Uint8Array;
  mime: string;
}

export interface TrainEvents {
  onProgress(p: TrainProgress): void;
  onStatus(status: RunRecord['status'], message?: string): void;
}

export interface RunSummary {
  /** what the run trains (runs saved before methods existed: 'lora'); absent from older workers */
  method?: TrainMethod;
  /** a LoRA run with DoRA (lora.useDora): no GGUF adapter export */
  dora?: boolean;
  id: string;
  name: string;
  status: RunRecord['status'];
  step: number;
  totalSteps: number;
  checkpointStep: number;
  updatedAt: number;
  modelName: string;
  datasetName: string;
  history: LossPoint[];
  message?: string;
  /** the base model's fingerprint and where it came from (a resume loads it again); absent from older workers */
  modelFingerprint?: string;
  modelSource?: StoredModelSource;
  /** what the run keeps in this browser: its tokenized dataset (OPFS; 0 when not kept) and its checkpoint (IndexedDB) */
  storage?: { datasetBytes: number; checkpointBytes: number };
}

export type { StoredModelSource };

/** What importAdapter loaded: a LoRA adapter (rank, alpha, targets), prompt-tuning virtual tokens or a prefix (rank and alpha 0, no targets; numVirtualTokens) or (IA)³ vectors (rank and alpha 0, their target modules). */
export interface ImportedAdapter {
  /** absent from older workers: 'lora' */
  method?: 'lora' | 'prompt' | 'ia3' | 'prefix';
  rank: number;
  alpha: number;
  targetModules: string[];
  /** prompt or prefix tuning: num_virtual_tokens */
  numVirtualTokens?: number;
  /** a DoRA adapter (PEFT use_dora): no GGUF adapter export */
  dora?: boolean;
}

/** What to evaluate: the base model with a job's batch settings (config), or a run's trained weights (runId; its own settings). */
export interface EvaluateRequest {
  runId?: string;
  config?: TrainConfig;
}

export interface EvaluationResult {
  /** mean cross-entropy per counted (label) token, as the trainer's validation loss */
  loss: number;
  /** the split it is over: the validation split, or the training split when the dataset has none */
  split: 'validation' | 'train';
  /** counted (label) tokens the mean is over */
  tokens: number;
  /** examples (rows) in the evaluated batches */
  examples: number;
  /** the run evaluated, or null for the base model */
  runId: string | null;
}

/** "Export for a cluster": a LoRA run (its settings, kept dataset and losses) or the job form's settings with the loaded dataset. */
export interface RecipeExportRequest {
  runId?: string;
  /** without runId: the job's settings */
  config?: TrainConfig;
  /** with runId: start from the seeded first adapter (default) or from the run's checkpoint (adapter + AdamW moments) */
  start?: 'initial' | 'checkpoint';
  /** the dataset file as the user gave it (copied into data/raw/) */
  raw?: File | null;
  /** what the dataset was tokenized to train on (recorded in data/format.json; default 'completions') */
  trainOn?: 'completions' | 'all';
  /** the base model's Hub repo id when the studio does not know it (a folder or the demo model) */
  repoId?: string;
}

export interface EngineApi {
  /** Acquire the GPU (idempotent). Never throws: failures come back as 'unavailable'. */
  init(): Promise<EngineStatus>;
  status(): Promise<EngineStatus | null>;
  subscribe(events: EngineEvents): Promise<void>;
  /** Run the matmul kernels against the TS reference inside the worker. */
  selfTest(): Promise<SelfTestCase[]>;
  /**
   * Time the matmul kernel variants on this GPU for the loaded model and this job's shapes and keep
   * the fastest of each (persisted per adapter, so later sessions and runs use them); shapes tuned
   * before are only looked up. Refused while a run trains.
   */
  tuneKernels(config: TrainConfig, events: TuneEvents): Promise<KernelTuningReport>;
  /** What is already tuned for this job's shapes on this GPU (looked up; nothing is timed). */
  kernelTuning(config: TrainConfig): Promise<KernelTuningReport>;

  loadModel(source: ModelSource, onProgress?: (e: LoadProgressEvent) => void, opts?: LoadModelOptions): Promise<ModelInfo>;
  loadDataset(source: DatasetSource, opts: DatasetOptions, onProgress?: (e: DatasetProgressEvent) => void): Promise<DatasetInfo>;
  /** A Hub dataset's configs and splits, from its Parquet listing (cached: works offline once listed). */
  listHubDataset(repo: string, endpoint?: string): Promise<HubDatasetListing>;
  estimate(config: TrainConfig): Promise<MemoryEstimate>;
  /**
   * The method picker's comparison: every method as a job of this shape on the loaded model, its
   * trainable parameters and memory estimate; with measure, its step time on this GPU (a few steps
   * on a synthetic batch; refused while a run trains).
   */
  compareMethods(config: TrainConfig, measure: boolean, onProgress?: (p: MethodComparisonProgress) => void): Promise<MethodComparisonRow[]>;

  /** Start a new run; resolves when the run ends (finished, paused, stopped or failed). */
  startTraining(config: TrainConfig, events: TrainEvents, name?: string): Promise<RunSummary>;
  pause(): Promise<void>;
  stop(): Promise<void>;
  /** Continue a paused or interrupted run from its last checkpoint. */
  resume(runId: string, events: TrainEvents): Promise<RunSummary>;
  listRuns(): Promise<RunSummary[]>;
  deleteRun(runId: string): Promise<void>;

  generate(req: GenerateRequest, events?: GenerateEvents): Promise<string>;
  /**
   * Mean loss of the loaded dataset's validation split (the training split when there is none), over
   * the same batches the trainer's validation uses: the base model, or with a run's checkpointed
   * weights (which then become what generate({ useAdapter }) and the exports use). Refused while a run trains.
   */
  evaluate(req: EvaluateRequest): Promise<EvaluationResult>;

  /** LoRA: the PEFT LoRA adapter; prompt tuning: the PEFT PROMPT_TUNING adapter; full fine-tuning: refused (use exportMerged). */
  exportPeft(runId?: string): Promise<ExportedFile[]>;
  /** LoRA only: prompt tuning and full fine-tuning are refused with a message saying what to export instead. */
  exportGguf(runId?: string): Promise<ExportedFile>;
  /**
   * A Hugging Face model folder: LoRA merged into the base (fp16), or the fully fine-tuned weights
   * (fp16, or the f32 masters with dtype 'float32'); prompt tuning is refused.
   */
  exportMerged(runId?: string, options?: { dtype?: 'float16' | 'float32' }, onProgress?: (e: ExportProgressEvent) => void): Promise<ExportedFile[]>;
  /**
   * The job as a folder for a GPU cluster (transformers + peft + accelerate train.py, job.json, the
   * trainer's batches as JSONL, the first adapter as PEFT, accelerate configs, README, Axolotl
   * YAML); file names are paths inside the folder ("data/train_batches.jsonl"). LoRA only.
   */
  exportRecipe(req: RecipeExportRequest): Promise<ExportedFile[]>;
  /** After the GPU was lost: acquire a new device and upload the loaded model again. */
  recoverDevice(): Promise<EngineStatus>;
  /** Import a PEFT adapter (adapter_config.json + adapter_model.safetensors; LoRA or prompt tuning) to chat or continue. */
  importAdapter(files: File[]): Promise<ImportedAdapter>;
  // The fault-injection hooks of the tests are not here: see debugHooks.ts (test mode only).
}
