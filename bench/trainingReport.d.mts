// Types of trainingReport.mjs (plain ESM for the Node runners).
import type { AdapterDescription } from '../src/gpu/device';
import type { TrainingCaseResult } from './trainingTypes';

export interface TorchPeer {
  tokensPerSecond: number;
  msPerStep: number;
  [k: string]: unknown;
}

export type TrainingCaseRow = (TrainingCaseResult & { torch: TorchPeer | null; error?: undefined }) | { model: string; quantize?: string; error: string };

export interface TrainingRun {
  date: string;
  userAgent: string;
  adapter: AdapterDescription | null;
  cases: TrainingCaseRow[];
  torchNote: string | null;
  seconds: number;
}

export interface KernelSummary {
  peakGflops: number | null;
  shapes: number;
  vsTfjsMin: number | null;
  vsTfjsMax: number | null;
  ofPeakMin: number | null;
  ofPeakMax: number | null;
  gflopsMax: number | null;
  tfjs: string | null;
}

export interface BenchInputs {
  kernels: Record<string, unknown> | null;
  kernelsNote: string | null;
  training: TrainingRun | null;
  commit: string | null;
  date: string;
}

export const TARGETS: { matmulVsTfjs: number; matmulOfPeak: number; outsideFraction: number; memoryRatio: number; submitsPerStep: number };
export function fmt(v: number | null | undefined, digits?: number): string;
export function pct(v: number | null | undefined, digits?: number): string;
export function mib(bytes: number | null | undefined): string;
export function verdict(value: number | null | undefined, target: number, higherIsBetter: boolean): string;
export function summarizeKernels(k: unknown): KernelSummary | null;
export function markdownTable(header: string[], body: string[][]): string;
export function formatCombinedTable(inputs: BenchInputs): string;
export function formatTrainingTable(training: TrainingRun): string;
export function buildLatest(inputs: BenchInputs): Record<string, unknown> & {
  adapter: AdapterDescription | null;
  date: string;
  commit: string | null;
  kernels: Record<string, unknown> | null;
  training: Record<string, unknown>[];
};
