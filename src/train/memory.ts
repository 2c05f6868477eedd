// GPU memory estimate for a fine-tuning job, computed before anything is allocated, from the
// activation plan of the model's architecture module (src/arch/<name>.ts memory: what each layer
// keeps for its backward, what is shared scratch) and the largest temporary (the logits chunk).
// Per method, what is trained and its AdamW state:
//   lora    A and B of every targeted linear (+ gradients), m and v; DoRA adds per module the
//           magnitude (OUT, + gradient, m and v), its norm (OUT), the saved z (N, OUT) per layer
//           and a g ⊙ dy scratch (N, OUT) per distinct OUT
//   prompt  (n, C) virtual-token embeddings (+ gradient), m and v; sequences are n tokens longer
//   ia3     one vector per targeted linear (+ gradient, m, v; model/ia3.ts ia3Footprint), the
//           saved z (N, out) of the output-scaled modules per layer and their scratch
//   bottleneck  per layer one (Pfeiffer) or two (Houlsby) adapters' W_down, b_down, W_up, b_up
//           (+ gradients, m, v), their saved input, z and f(z) per layer and their scratch
//           (model/bottleneck.ts bottleneckFootprint)
//   prefix  per layer the (2, n, Hkv·D) key/value prefix (+ gradient, m, v), the attention's
//           extended q, k, v, out and lse over n + T positions per layer and its backward scratch
//           (model/prefixTuning.ts prefixFootprint); sequences keep their length
//   full    every weight: an f32 master and an f32 gradient (loraBytes), m and v (optimizerBytes),
//           i.e. 16 bytes per parameter beyond the fp16 copy the kernels read (weightsBytes)
import { mib } from '../gpu/allocator';
import { archOf } from '../arch/registry';
import { expectedTensors, type ModelConfig } from '../io/hfConfig';
import { logitsChunkRows } from '../model/logitsChunk';
import { bottleneckOf, prefixTuningOf, virtualTokensOf, type TrainConfig, type TrainMethod } from './config';
import { linearModules, targetedModules } from '../model/adapter';
import { ia3Footprint } from '../model/ia3';
import { bottleneckFootprint } from '../model/bottleneck';
import { prefixFootprint } from '../model/prefixTuning';
import { quantBytes, type BaseQuantization } from '../util/quant';

export interface MemoryEstimate {
  /** which method the estimate is for (absent in estimates made before methods existed: 'lora') */
  method?: TrainMethod;
  weightsBytes: number;
  /** the trained tensors and their gradients (LoRA A/B, prompt embeddings, or full fine-tuning's f32 masters) */
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

export { LOGITS_CHUNK_BYTES, logitsChunkRows } from '../model/logitsChunk';

const perToken = (entries: { perToken: number }[]) => entries.reduce((s, e) => s + e.perToken, 0);

/** f32 values one layer keeps for its backward: the architecture's activations plus each targeted module's LoRA u (N, r). */
function perLayerActivationFloats(c: ModelConfig, N: number, loraRank: number, loraModulesPerLayer: number, doraOutPerLayer = 0): number {
  return N * perToken(archOf(c).memory.layerActivations(c)) + N * loraRank * loraModulesPerLayer + N * doraOutPerLayer;
}

/** Parameters of the model (every tensor full fine-tuning trains). */
export function parameterCount(c: ModelConfig): number {
  return expectedTensors(c).reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Bytes of the base weights on the GPU as load.ts uploads them: matrices fp16, vectors (norms,
 * biases) f32; with a load-time quantization the linear layers' matrices in its layout instead
 * (util/quant.ts: int8 about 1 byte per weight, int4 about 0.75). The UI shows this per choice
 * before loading.
 */
export function baseWeightsBytes(c: ModelConfig, quantize: BaseQuantization = 'none'): number {
  let bytes = expectedTensors(c).reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * (t.shape.length === 2 ? 2 : 4), 0);
  if (quantize !== 'none') {
    for (const m of linearModules(c)) {
      bytes += quantBytes(quantize === 'int8' ? 'q8' : 'q4', m.outFeatures, m.inFeatures) - m.outFeatures * m.inFeatures * 2;
    }
  }
  return bytes;
}

export function estimateMemory(
  c: ModelConfig,
  t: Pick<TrainConfig, 'batchSize' | 'seqLen' | 'activationCheckpointing' | 'lora'> & Partial<Pick<TrainConfig, 'method' | 'promptTuning' | 'bottleneck' | 'prefixTuning'>>,
  limits?: { maxBufferSize: number; maxStorageBufferBindingSize: number; deviceBytes?: number },
  base: { quantize?: BaseQuantization; weightsBytes?: number } = {},
): MemoryEstimate {
  const method: TrainMethod = t.method ?? 'lora';
  const n = virtualTokensOf({ method, promptTuning: t.promptTuning });
  const N = t.batchSize * (t.seqLen + n);
  const C = c.hiddenSize;
  const F = c.intermediateSize;
  const V = c.vocabSize;
  const L = c.numLayers;
  const modules = method === 'lora' ? targetedModules(c, t.lora.targetModules) : [];
  const r = method === 'lora' ? t.lora.rank : 0;
  const params = parameterCount(c);
  const dora = method === 'lora' && !!t.lora.useDora;
  const doraOut = dora ? modules.reduce((s, m) => s + m.outFeatures, 0) : 0;
  const ia3 = method === 'ia3' ? ia3Footprint(c, N) : { trainedFloats: 0, perLayerFloats: 0, scratchFloats: 0 };
  const bn = method === 'bottleneck' ? bottleneckFootprint(c, bottleneckOf(t), N) : { trainedFloats: 0, perLayerFloats: 0, scratchFloats: 0 };
  const pt = prefixTuningOf(t);
  const px =
    method === 'prefix'
      ? prefixFootprint(c, pt.numVirtualTokens, t.batchSize, t.seqLen, pt.projection ? { hidden: pt.encoderHiddenSize ?? c.numKvHeads * c.headDim } : undefined)
      : { trainedFloats: 0, perLayerFloats: 0, scratchFloats: 0 };
  const trainedFloats = method === 'prefix' ? px.trainedFloats : method === 'bottleneck' ? bn.trainedFloats : method === 'ia3' ? ia3.trainedFloats : method === 'lora' ? modules.reduce((s, m) => s + r * (m.inFeatures + m.outFeatures), 0) + doraOut : method === 'prompt' ? n * C : params;
  // weights (full: f32 masters) + gradients; DoRA's cached norms
  const loraBytes = trainedFloats * 4 * 2 + doraOut * 4;
  const optimizerBytes = trainedFloats * 4 * 2; // AdamW m and v
  // as load.ts uploads them: matrices fp16, vectors (norms, biases) f32
  // the loaded model's own bytes when known (a GGUF file's quantized tensors), else what load.ts would allocate
  const weightsBytes = base.weightsBytes ?? baseWeightsBytes(c, base.quantize);
  const perLayer = perLayerActivationFloats(c, N, r, L > 0 ? modules.length / L : 0, L > 0 ? doraOut / L : 0) * 4 + ia3.perLayerFloats * 4 + bn.perLayerFloats * 4 + px.perLayerFloats * 4;
  const residual = N * C * 4;
  // L + 1 residual streams: every layer's input and the last layer's output
  const keepAll = L * perLayer + (L + 1) * residual;
  const keepInputs = (L + 1) * residual + perLayer;
  const activationsBytes = t.activationCheckpointing ? keepInputs : keepAll;
  const activationsOtherBytes = t.activationCheckpointing ? keepAll : keepInputs;
  // the architecture's shared scratch (dL/dh, dX, gradient buffers, attention (lse,
  // delta), final norm, ids) and the LoRA du; full fine-tuning adds the ones column for bias sums
  // and the embedding-gradient plans (3N + 1 ids each for tokens and learned positions); prompt
  // tuning a (n, C) row buffer
  const doraScratch = dora ? N * [...new Set(modules.map((m) => m.outFeatures))].reduce((a, b) => a + b, 0) : 0;
  const methodScratch = method === 'prefix' ? px.scratchFloats : method === 'bottleneck' ? bn.scratchFloats : method === 'ia3' ? ia3.scratchFloats : method === 'full' ? N + 2 * (3 * N + 1) : method === 'prompt' ? n * C : doraScratch;
  // with checkpointing, the recomputed layer's output (N, C) too
  const recompute = t.activationCheckpointing ? N * C : 0;
  const scratchBytes = 4 * (N * perToken(archOf(c).memory.scratch(c)) + N * r + recompute + methodScratch);
  const chunkRows = logitsChunkRows(V, N);
  // the (rows, V) logits; when the batch takes more than one chunk, also the chunk's h and dh copies
  const logitsChunkBytes = chunkRows * V * 4 + (chunkRows < N ? chunkRows * C * 4 * 2 : 0);
  const totalBytes = weightsBytes + loraBytes + optimizerBytes + activationsBytes + scratchBytes + logitsChunkBytes;
  // full fine-tuning keeps f32 copies (master, gradient, m, v) of the largest matrices
  const largestF32Weight = method === 'full' ? 4 * Math.max(V * C, L > 0 ? C * F : 0, c.positions === 'learned' ? c.maxPositions * C : 0) : 0;
  const largestBufferBytes = Math.max(V * C * 2, chunkRows * V * 4, N * F * 4, L > 0 ? C * F * 2 : 0, largestF32Weight);
  let fits = true;
  let advice: string | null = null;
  if (limits) {
    const maxBuf = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    if (largestBufferBytes > maxBuf) {
      fits = false;
      advice =
        method === 'full' && largestF32Weight > maxBuf
          ? `Full fine-tuning keeps an f32 copy of every weight, and the largest (${mib(largestF32Weight)}) exceeds this GPU's ${mib(maxBuf)} per buffer: switch the method to LoRA (or prompt tuning).`
          : `One buffer needs ${mib(largestBufferBytes)} but this GPU allows ${mib(maxBuf)} per buffer: lower the batch size or the sequence length.`;
    } else if (limits.deviceBytes && totalBytes > limits.deviceBytes) {
      fits = false;
      const saving = !t.activationCheckpointing && keepAll > keepInputs ? ' Turn on activation checkpointing (saves ' + mib(keepAll - keepInputs) + '), or' : '';
      if (method === 'full') {
        const fixed = weightsBytes + loraBytes + optimizerBytes;
        const lower = !t.activationCheckpointing && keepAll > keepInputs
          ? `lower the batch size or the sequence length, or turn on activation checkpointing (saves ${mib(keepAll - keepInputs)})`
          : 'lower the batch size or the sequence length';
        advice =
          `Full fine-tuning needs about ${mib(totalBytes)} of GPU memory (${mib(loraBytes + optimizerBytes)} of it the f32 master weights, gradients and AdamW state: ` +
          `16 bytes for each of the model's ${params.toLocaleString('en-US')} parameters), but the budget is ${mib(limits.deviceBytes)}. ` +
          `Switch the method to LoRA, which trains a small adapter and needs far less` +
          (fixed > limits.deviceBytes ? ` (lowering the batch size or the sequence length cannot help: the weights and their training state alone need ${mib(fixed)})` : `; or ${lower}`) +
          '. If this GPU has more memory, raise the budget (deviceBudgetBytes).';
      } else {
        advice = `This job needs about ${mib(totalBytes)} of GPU memory but ${mib(limits.deviceBytes)} is available.${saving} lower the batch size or the sequence length.`;
      }
    }
  }
  return {
    method,
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

export { mib };
