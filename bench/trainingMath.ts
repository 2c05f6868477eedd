// Arithmetic of the training benchmark: the FLOPs of one LoRA training step and the analytic
// minimum of GPU memory for it. Plain functions of the config, so they are testable without a GPU.
//
// FLOPs count multiply-adds as 2 and only the model's own matrix work ("model FLOPs"):
//   base linears: forward 2·N·in·out, backward dx 2·N·in·out (frozen: no weight gradient)
//   LoRA (r):     forward 2·N·r·(in+out); backward du, dB, dA, dx: 4·N·r·(in+out)
//   LM head:      forward 2·N·C·V, backward dh 2·N·C·V (tied or frozen: no weight gradient)
//   attention:    forward 2·B·Hq·T²·D (QKᵀ and PV over the causal half), backward 2.5x that
//                 (the kernel benchmark's convention)
// Norms, RoPE, SwiGLU, cross-entropy and the optimizer are not counted (they are O(N·C)).
// Activation checkpointing recomputes each layer's forward: counted apart as recomputeFlops.
import type { ModelConfig } from '../src/io/hfConfig';
import { targetedModules } from '../src/model/adapter';
import type { TrainConfig } from '../src/train/config';
import { estimateMemory } from '../src/train/memory';
import type { BaseQuantization } from '../src/util/quant';

export type StepShape = Pick<TrainConfig, 'batchSize' | 'seqLen' | 'activationCheckpointing' | 'lora'>;

export interface StepFlops {
  /** base linears + LoRA + LM head, forward and backward */
  matmul: number;
  attention: number;
  /** matmul + attention */
  total: number;
  /** extra forward work done by activation checkpointing (0 without it) */
  recompute: number;
}

export function stepFlops(c: ModelConfig, t: StepShape): StepFlops {
  const N = t.batchSize * t.seqLen;
  const C = c.hiddenSize;
  const Q = c.numHeads * c.headDim;
  const KV = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  const L = c.numLayers;
  const linearParams = L * (C * Q + 2 * C * KV + Q * C + 3 * C * F);
  const base = 2 * (2 * N * linearParams);
  const r = t.lora.rank;
  const loraFwd = targetedModules(c, t.lora.targetModules).reduce((s, m) => s + 2 * N * r * (m.inFeatures + m.outFeatures), 0);
  const head = 2 * (2 * N * C * c.vocabSize);
  const attnFwd = L * 2 * t.batchSize * c.numHeads * t.seqLen * t.seqLen * c.headDim;
  const matmul = base + 3 * loraFwd + head;
  const attention = attnFwd * 3.5;
  const recompute = t.activationCheckpointing ? base / 2 + loraFwd + attnFwd : 0;
  return { matmul, attention, total: matmul + attention, recompute };
}

export interface AnalyticMemory {
  /** fp16 base weights (f32 norm vectors) */
  weightsBytes: number;
  /** f32 LoRA A, B and their gradients */
  loraBytes: number;
  /** AdamW m and v (f32) */
  optimizerBytes: number;
  /** activations kept for the backward under the checkpointing setting */
  activationsBytes: number;
  /** the sum of the four above: what any implementation of this step must hold at once */
  analyticBytes: number;
  /** estimateMemory's total, which also counts gradient scratch and the logits chunk */
  estimateBytes: number;
}

/** The analytic minimum, from the same plan the UI's memory estimate uses (src/train/memory.ts). */
/** `quantize`: the base's linear layers in the q8 / q4 layouts (train/memory.ts baseWeightsBytes), the rest fp16. */
export function analyticMemory(c: ModelConfig, t: StepShape, quantize: BaseQuantization = 'none'): AnalyticMemory {
  const e = estimateMemory(c, t, undefined, { quantize });
  return {
    weightsBytes: e.weightsBytes,
    loraBytes: e.loraBytes,
    optimizerBytes: e.optimizerBytes,
    activationsBytes: e.activationsBytes,
    analyticBytes: e.weightsBytes + e.loraBytes + e.optimizerBytes + e.activationsBytes,
    estimateBytes: e.totalBytes,
  };
}

export type MemoryGroup = 'base weights' | 'LoRA + gradients' | 'AdamW state' | 'kept activations' | 'gradients + scratch' | 'logits chunk' | 'other';

/**
 * Which part of the step a live buffer belongs to, from its label: the model's weight names,
 * the adapter's (".lora_A", ".lora_A.grad"), the trainer's (" adam m"), and the workspace's
 * activation plan (src/model/llama.ts: "L3.h1" kept per layer, "cur.*" under checkpointing,
 * "x.i" layer inputs; "grad.*", "scratch.*", "recompute.*", "final.*" shared; "chunk.*" logits).
 */
export function memoryGroup(label: string): MemoryGroup {
  if (/\.lora_[AB](\.grad)?$/.test(label)) return 'LoRA + gradients';
  if (/ adam [mv]$/.test(label)) return 'AdamW state';
  if (/^model\.|^lm_head\./.test(label)) return 'base weights';
  if (/^L\d+\.|^cur\.|^x\.\d+$/.test(label)) return 'kept activations';
  if (/^chunk\./.test(label)) return 'logits chunk';
  if (/^grad\.|^scratch\.|^recompute\.|^final\./.test(label)) return 'gradients + scratch';
  return 'other';
}

/** Live bytes per group, largest first. */
export function memoryBreakdown(buffers: readonly { label: string; size: number }[]): { group: MemoryGroup; bytes: number }[] {
  const by = new Map<MemoryGroup, number>();
  for (const b of buffers) {
    const g = memoryGroup(b.label);
    by.set(g, (by.get(g) ?? 0) + b.size);
  }
  return [...by].map(([group, bytes]) => ({ group, bytes })).sort((a, b) => b.bytes - a.bytes);
}

export interface StepSplit {
  matmulMs: number;
  attentionMs: number;
  otherMs: number;
  /** wall time of the step not spent inside any compute pass: recording, submits, gaps, readback */
  overheadMs: number;
}

/** Split a step's wall time into the categories' GPU times and the rest (never negative). */
export function splitStep(wallMs: number, gpu: { matmul: number; attention: number; other: number }): StepSplit {
  const inside = gpu.matmul + gpu.attention + gpu.other;
  return { matmulMs: gpu.matmul, attentionMs: gpu.attention, otherMs: gpu.other, overheadMs: Math.max(0, wallMs - inside) };
}

/**
 * Category times from wall-clock runs of the same step with only one category's passes enabled
 * (adapters without timestamp queries): each category costs its run minus the run with no
 * passes at all; the rest of the full step is overhead. Negative differences (noise) count as 0.
 */
export function splitFromCategoryRuns(fullMs: number, runs: { none: number; matmul: number; attention: number; other: number }): StepSplit {
  const d = (x: number) => Math.max(0, x - runs.none);
  return splitStep(fullMs, { matmul: d(runs.matmul), attention: d(runs.attention), other: d(runs.other) });
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}
