// GPU memory estimate for a fine-tuning job, computed before anything is allocated, from the
// same activation plan the model code follows (src/model/llama.ts): what each layer keeps for
// its backward, what is shared scratch, and the largest temporary (the logits chunk).
import type { ModelConfig } from '../io/hfConfig';
import type { TrainConfig } from './config';
import { targetedModules } from '../model/adapter';

export interface MemoryEstimate {
  weightsBytes: number;
  loraBytes: number;
  optimizerBytes: number;
  activationsBytes: number;
  /** activations if checkpointing were toggled the other way (for the UI's comparison) */
  activationsOtherBytes: number;
  scratchBytes: number;
  logitsChunkBytes: number;
  totalBytes: number;
  /** largest single buffer, which must fit maxBufferSize and maxStorageBufferBindingSize */
  largestBufferBytes: number;
  limitBytes: number | null;
  fits: boolean;
  /** when it does not fit: what to lower, in words */
  advice: string | null;
}

/** Rows of logits computed at once: the chunk stays under this many bytes. */
export const LOGITS_CHUNK_BYTES = 64 * 2 ** 20;

export function logitsChunkRows(vocab: number, rows: number): number {
  return Math.max(1, Math.min(rows, Math.floor(LOGITS_CHUNK_BYTES / (vocab * 4))));
}

function perLayerActivationFloats(c: ModelConfig, N: number, loraRank: number, loraModulesPerLayer: number): number {
  const C = c.hiddenSize;
  const Q = c.numHeads * c.headDim;
  const KV = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  // h1, x2, h2 (C each); q, qr, o (Q); k, v, kr (KV); g, up, m (F); rstd1, rstd2, lse
  return N * (3 * C + 3 * Q + 3 * KV + 3 * F + 2 + c.numHeads) + N * loraRank * loraModulesPerLayer;
}

export function estimateMemory(
  c: ModelConfig,
  t: Pick<TrainConfig, 'batchSize' | 'seqLen' | 'activationCheckpointing' | 'lora'>,
  limits?: { maxBufferSize: number; maxStorageBufferBindingSize: number; deviceBytes?: number },
): MemoryEstimate {
  const N = t.batchSize * t.seqLen;
  const C = c.hiddenSize;
  const Q = c.numHeads * c.headDim;
  const KV = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  const V = c.vocabSize;
  const L = c.numLayers;
  const modules = targetedModules(c, t.lora.targetModules);
  const r = t.lora.rank;
  const loraFloats = modules.reduce((s, m) => s + r * (m.inFeatures + m.outFeatures), 0);
  const loraBytes = loraFloats * 4 * 2; // weights + gradients
  const optimizerBytes = loraFloats * 4 * 2; // AdamW m and v
  const mlpMatrices = c.architecture === 'gpt2' ? 2 : 3; // c_fc + c_proj, or gate + up + down
  const matrices = L * (C * Q + 2 * C * KV + Q * C + mlpMatrices * C * F) + V * C * (c.tieWordEmbeddings ? 1 : 2) + (c.positions === 'learned' ? c.maxPositions * C : 0);
  const vectors = L * 2 * C + C + (c.qkvBias ? L * (Q + 2 * KV) : 0);
  const weightsBytes = matrices * 2 + vectors * 4;
  const perLayer = perLayerActivationFloats(c, N, r, modules.length / L) * 4;
  const residual = N * C * 4;
  const keepAll = L * (perLayer + residual);
  const keepInputs = L * residual + perLayer;
  const activationsBytes = t.activationCheckpointing ? keepInputs : keepAll;
  const activationsOtherBytes = t.activationCheckpointing ? keepAll : keepInputs;
  // residual in/out, dX, grad buffers (m, g, up: F; h: C; o, qr, q: Q; kr, k, v: KV), LoRA du,
  // attention (lse, delta) scratch, final norm output and rstd, token/position/doc/label ids
  const scratchBytes = 4 * (2 * N * C + N * C + 3 * N * F + N * C + 3 * N * Q + 3 * N * KV + N * r + 2 * N * c.numHeads + N * C + N + 4 * N);
  const chunkRows = logitsChunkRows(V, N);
  const logitsChunkBytes = chunkRows * V * 4 + chunkRows * C * 4 * 2;
  const totalBytes = weightsBytes + loraBytes + optimizerBytes + activationsBytes + scratchBytes + logitsChunkBytes;
  const largestBufferBytes = Math.max(V * C * 2, chunkRows * V * 4, N * F * 4, L > 0 ? C * F * 2 : 0);
  let fits = true;
  let advice: string | null = null;
  if (limits) {
    const maxBuf = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    if (largestBufferBytes > maxBuf) {
      fits = false;
      advice = `One buffer needs ${mib(largestBufferBytes)} but this GPU allows ${mib(maxBuf)} per buffer: lower the batch size or the sequence length.`;
    } else if (limits.deviceBytes && totalBytes > limits.deviceBytes) {
      fits = false;
      const saving = !t.activationCheckpointing && keepAll > keepInputs ? ' Turn on activation checkpointing (saves ' + mib(keepAll - keepInputs) + '), or' : '';
      advice = `This job needs about ${mib(totalBytes)} of GPU memory but ${mib(limits.deviceBytes)} is available.${saving} lower the batch size or the sequence length.`;
    }
  }
  return {
    weightsBytes,
    loraBytes,
    optimizerBytes,
    activationsBytes,
    activationsOtherBytes,
    scratchBytes,
    logitsChunkBytes,
    totalBytes,
    largestBufferBytes,
    limitBytes: limits?.deviceBytes ?? null,
    fits,
    advice,
  };
}

export function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
