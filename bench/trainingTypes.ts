// What the training benchmark page asks its worker to run, and what comes back (plain data:
// it crosses postMessage and page.evaluate).
import type { GpuCounts } from '../src/gpu/counters';
import type { AdapterDescription } from '../src/gpu/device';
import type { DecodeCase, DecodeResult } from './decodeCase';
import type { BaseQuantization } from '../src/util/quant';
import type { AnalyticMemory, StepFlops, StepSplit } from './trainingMath';

export type TrainingModel = 'stories260K' | 'smollm2-135m-shape' | 'qwen2.5-0.5b-shape' | 'qwen3-0.6b-shape' | 'gemma3-270m-shape';

export interface TrainingCase {
  model: TrainingModel;
  /** layers to build (random-weight models only); null: the model's own count */
  layers: number | null;
  /** layers to build instead on a software adapter (SwiftShader); null: same as `layers` */
  layersOnSoftware: number | null;
  batchSize: number;
  seqLen: number;
  /** the batch instead on a software adapter (a 152k-262k-row LM head is too slow there for 4 x 256); null/absent: the same */
  batchOnSoftware?: { batchSize: number; seqLen: number } | null;
  rank: number;
  warmup: number;
  steps: number;
  /** Date.now() by which measuring must end: measured steps are cut to fit (at least 1); null: no limit */
  deadline: number | null;
  activationCheckpointing: boolean;
  /** 'auto': timestamp queries when the adapter has them, else category-only runs */
  timing: 'auto' | 'timestamp' | 'wall';
  /** the adapter's FMA-only peak (GFLOP/s) from bench/results/kernels.json; null: measure it here */
  peakGflops: number | null;
  /** "vendor architecture" of the adapter that peak was measured on: another adapter's peak is ignored (null: trust it) */
  peakAdapter: string | null;
  seed: number;
  /** after the training steps, time generation with the trained adapter (null: no decode measurement) */
  decode?: DecodeCase | null;
  /** the base's load-time quantization (stories260K only: it is loaded from its files); absent: 'none' (fp16) */
  quantize?: BaseQuantization;
}

export interface PassTotal {
  label: string;
  category: 'matmul' | 'attention' | 'other';
  /** ms per step, summed over the passes with this label */
  ms: number;
  count: number;
}

export interface TrainingCaseResult {
  model: TrainingModel;
  /** the base's load-time quantization (absent in older results: 'none') */
  quantization?: BaseQuantization;
  name: string;
  adapter: AdapterDescription;
  layers: number;
  fullLayers: number;
  batchSize: number;
  seqLen: number;
  tokensPerStep: number;
  rank: number;
  alpha: number;
  targetModules: string[];
  activationCheckpointing: boolean;
  warmup: number;
  stepsPlanned: number;
  stepsMeasured: number;
  /** why fewer steps were measured than planned, or null */
  reduced: string | null;
  loadMs: number;
  warmupMs: number[];
  stepMs: number[];
  /** mean of stepMs */
  msPerStep: number;
  msPerStepMedian: number;
  tokensPerSecond: number;
  /** mean per step */
  split: StepSplit;
  /** overhead / step: wall time outside every compute pass */
  overheadFraction: number;
  /** (other ops + overhead) / step: time outside matmul and attention */
  outsideFraction: number;
  timing: 'timestamp' | 'category-runs';
  /** wall ms of one step with only that category's passes run ('none': no passes) */
  categoryRunsMs: { none: number; matmul: number; attention: number; other: number } | null;
  /** compute passes per measured step (the pass timer gives every dispatch its own) */
  passesPerStep: number;
  /** GPU commands of the last warm-up step, run as the studio runs it (no pass timer); null without warm-up */
  commandsPerStep: GpuCounts | null;
  /** wall ms of that step (null with fewer than 2 warm-up steps: the first compiles pipelines) */
  untimedStepMs: number | null;
  /** mean GPU commands of a measured step (under the pass timer) */
  timedCommandsPerStep: GpuCounts;
  decode: DecodeResult | null;
  topPasses: PassTotal[];
  flops: StepFlops;
  peakGflops: number;
  peakSource: 'kernels.json' | 'measured here';
  /** total FLOPs / (step time × peak) */
  ofPeak: number;
  /** matmul FLOPs / matmul pass time, and as a fraction of peak */
  matmulGflops: number;
  matmulOfPeak: number;
  attentionGflops: number;
  peakBytes: number;
  /** allocator peak after the warm-up steps (equal to peakBytes when steps allocate nothing new) */
  peakBytesAfterWarmup: number;
  memory: AnalyticMemory;
  /** peakBytes / memory.analyticBytes */
  memoryRatio: number;
  /** peakBytes / memory.estimateBytes (the UI's estimate) */
  estimateRatio: number;
  /** live bytes per part of the step at the moment of the peak */
  liveByGroup: { group: string; bytes: number }[];
  losses: number[];
  seconds: number;
}

export type WorkerMessage =
  | { type: 'progress'; line: string }
  | { type: 'result'; result: TrainingCaseResult }
  | { type: 'error'; message: string };
