// Loading a Hugging Face model folder onto the GPU: config.json is parsed and checked, the
// safetensors headers of every shard are validated against what the architecture needs, then
// tensors are streamed one at a time, converted to fp16 and uploaded, so the model is never held
// twice in JS memory.
import { mib, type OutOfMemoryFailure } from '../gpu/allocator';
import type { GpuContext } from '../gpu/device';
import { f16BitsToF32, f16BitsToF32Array } from '../util/f16';
import { quantizeMatrix, type BaseQuantization } from '../util/quant';
import { uploadQuant } from '../gpu/ops/matmulQuant';
import { linearModules } from './adapter';
import { uploadF32, uploadHalves, releaseTensor, type Tensor } from '../gpu/tensor';
import { archOf } from '../arch/registry';
import { checkTensors, type ModelConfig } from '../io/hfConfig';
import { parseHfConfig } from '../arch/config';
import { checkShardHeaders, checkShardsPresent, parseShardIndex, readSafetensorsHeader, streamTensorsF16, type SafetensorsHeader } from '../io/safetensors';
import { ModelFolderError, readJson, readText, type ModelFolder } from './folder';
import { loadGgufWeights, readGgufAssets } from './ggufLoad';

export interface ModelAssets {
  name: string;
  config: ModelConfig;
  rawConfig: Record<string, unknown>;
  tokenizerJson: Record<string, unknown> | null;
  tokenizerConfig: Record<string, unknown> | null;
  /** chat_template from tokenizer_config.json or chat_template.jinja */
  chatTemplate: string | null;
  generationConfig: Record<string, unknown> | null;
  /** shard file -> validated header */
  shards: Map<string, SafetensorsHeader>;
  /** identifies the exact base weights (checkpoints refuse to resume on another model) */
  fingerprint: string;
  parameterCount: number;
  /**
   * Load-time quantization of the frozen base's linear layers (absent or 'none': fp16). Set by
   * whoever loads the model, before loadWeights; a reload (device loss) uses the same.
   */
  quantize?: BaseQuantization;
  /** a GGUF model file (ggufLoad.ts) instead of a safetensors folder, and the GGML types of its tensors */
  gguf?: { file: string; types: string[] };
}

export interface LoadProgress {
  phase: 'reading' | 'weights' | 'done';
  bytesDone: number;
  bytesTotal: number;
  tensor?: string;
}

function fnv1a(text: string, h = 0x811c9dc5): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Read and validate everything except the tensor data. */
export async function readModelAssets(folder: ModelFolder): Promise<ModelAssets> {
  const rawConfig = (await readJson(folder, 'config.json')) as Record<string, unknown> | null;
  const ggufFile = [...folder.files.keys()].find((n) => n.toLowerCase().endsWith('.gguf'));
  if (rawConfig === null && ggufFile) return readGgufAssets(folder, ggufFile);
  if (rawConfig === null) {
    const have = [...folder.files.keys()].slice(0, 8).join(', ') || 'no files';
    throw new ModelFolderError(
      `"${folder.name}" has no config.json (it has ${have}). Choose the whole folder of a Hugging Face model: ` +
        'config.json, model.safetensors (or its shards with model.safetensors.index.json), tokenizer.json and tokenizer_config.json.',
    );
  }
  const config = parseHfConfig(rawConfig, `${folder.name}/config.json`);

  const shards = new Map<string, SafetensorsHeader>();
  const indexJson = await readJson(folder, 'model.safetensors.index.json');
  let shardNames: string[];
  if (indexJson !== null) {
    const index = parseShardIndex(indexJson, `${folder.name}/model.safetensors.index.json`);
    checkShardsPresent(index, folder.files.keys());
    shardNames = index.shards;
    for (const s of shardNames) shards.set(s, await readSafetensorsHeader(folder.files.get(s)!));
    checkShardHeaders(index, shards);
  } else if (folder.files.has('model.safetensors')) {
    shardNames = ['model.safetensors'];
    shards.set('model.safetensors', await readSafetensorsHeader(folder.files.get('model.safetensors')!));
  } else {
    const bin = [...folder.files.keys()].find((n) => n.endsWith('.bin') || n.endsWith('.pt'));
    throw new ModelFolderError(
      `"${folder.name}" has no model.safetensors or model.safetensors.index.json` +
        (bin ? ` (${bin} is not a format Whetstone reads: convert it to safetensors, or pick the model's safetensors revision on the Hub)` : '') +
        '. Add the .safetensors weight files to the selection.',
    );
  }
  const all = [...shards.values()].flatMap((h) => h.tensors);
  checkTensors(config, all, `${folder.name}/${shardNames.length > 1 ? 'model.safetensors.index.json' : 'model.safetensors'}`);

  const tokenizerJson = (await readJson(folder, 'tokenizer.json')) as Record<string, unknown> | null;
  const tokenizerConfig = (await readJson(folder, 'tokenizer_config.json')) as Record<string, unknown> | null;
  const generationConfig = (await readJson(folder, 'generation_config.json')) as Record<string, unknown> | null;
  const templateFile = await readText(folder, 'chat_template.jinja');
  const tcTemplate = tokenizerConfig?.chat_template;
  const chatTemplate = templateFile ?? (typeof tcTemplate === 'string' ? tcTemplate : null);

  let fp = fnv1a(JSON.stringify(rawConfig));
  let parameterCount = 0;
  for (const t of all) {
    fp = fnv1a(`${t.name}:${t.shape.join('x')}:${t.dtype}`, fp);
    parameterCount += t.numel;
  }
  return {
    name: folder.name,
    config,
    rawConfig,
    tokenizerJson,
    tokenizerConfig,
    chatTemplate,
    generationConfig,
    shards,
    fingerprint: fp.toString(16).padStart(8, '0'),
    parameterCount,
  };
}

/** Conv1D weights (GPT-2) are stored [in, out]; we keep every matrix as [out, in]. */
function isConv1D(config: ModelConfig, name: string): boolean {
  return archOf(config).storedTransposed?.(name) ?? false;
}

function transposeHalves(h: Uint16Array, rows: number, cols: number): Uint16Array {
  const out = new Uint16Array(h.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = h[r * cols + c];
  return out;
}

/** Canonical name (as in expectedTensors) for a checkpoint name. */
function canonicalName(config: ModelConfig, name: string): string {
  return archOf(config).canonicalTensorName?.(name) ?? name;
}

/** Bytes uploaded between two out-of-memory checks while loading weights. */
const OUT_OF_MEMORY_CHECK_BYTES = 256 * 2 ** 20;

export class ModelOutOfMemoryError extends Error {
  constructor(f: OutOfMemoryFailure, weightsBytes: number) {
    super(
      `The GPU ran out of memory loading the model: “${f.label}” (${mib(f.size)}) could not be allocated with ${mib(f.liveBytes)} already in use, ` +
        `and the weights need about ${mib(weightsBytes)} in fp16. Choose a smaller model, or close other tabs and apps that use the GPU and load it again.`,
    );
    this.name = 'ModelOutOfMemoryError';
  }
}

/** HF weight names quantized under assets.quantize: the linear layers (not embeddings, not the LM head). */
export function quantizedWeightNames(config: ModelConfig, quantize: BaseQuantization | undefined): Set<string> {
  if (!quantize || quantize === 'none') return new Set();
  return new Set(linearModules(config).map((m) => `${m.path}.weight`));
}

/**
 * Upload every needed tensor. Matrices (rank 2) become fp16 tensors in [out, in] layout; vectors
 * (norm weights, biases) become f32 tensors holding the fp16-rounded values. With
 * assets.quantize, the linear layers' matrices are quantized from those fp16 values instead
 * (util/quant.ts: int8 per output channel, int4 in Q4_0 blocks) and uploaded as quantized tensors.
 */
export async function loadWeights(
  ctx: GpuContext,
  folder: ModelFolder,
  assets: ModelAssets,
  onProgress?: (p: LoadProgress) => void,
): Promise<Map<string, Tensor>> {
  if (assets.gguf) return loadGgufWeights(ctx, folder, assets, onProgress);
  const { config } = assets;
  const match = checkTensors(config, [...assets.shards.values()].flatMap((h) => h.tensors));
  const wanted = new Set(match.names.values());
  const bytesTotal = [...assets.shards.values()].flatMap((h) => h.tensors).filter((t) => wanted.has(t.name)).reduce((s, t) => s + (t.end - t.begin), 0);
  let base = 0;
  const weights = new Map<string, Tensor>();
  const quantized = quantizedWeightNames(config, assets.quantize);
  // A buffer the GPU cannot hold is only reported later (out-of-memory error scope): check now
  // and then, so a model too large for the GPU stops early rather than after uploading all of it.
  let sinceCheck = 0;
  const checkMemory = async () => {
    sinceCheck = 0;
    const f = await ctx.allocator.checkOutOfMemory();
    if (f) throw new ModelOutOfMemoryError(f, bytesTotal);
  };
  try {
    for (const [file, header] of assets.shards) {
      const names = header.tensors.filter((t) => wanted.has(t.name)).map((t) => t.name);
      let shardDone = 0;
      for await (const t of streamTensorsF16(folder.files.get(file)!, header, {
        names,
        onProgress: (done) => {
          shardDone = done;
          onProgress?.({ phase: 'weights', bytesDone: base + done, bytesTotal });
        },
      })) {
        const name = canonicalName(config, t.info.name);
        if (t.overflowed > 0) {
          throw new ModelFolderError(`${file}: ${t.overflowed} values of "${t.info.name}" exceed the fp16 range (±65504), so this model cannot be stored in fp16.`);
        }
        const shape = t.info.shape;
        if (shape.length === 2) {
          const [r, c] = shape;
          const conv = isConv1D(config, name);
          const halves = conv ? transposeHalves(t.halves, r, c) : t.halves;
          const [rows, cols] = conv ? [c, r] : [r, c];
          if (quantized.has(name) && assets.quantize && assets.quantize !== 'none') {
            weights.set(name, uploadQuant(ctx, quantizeMatrix(assets.quantize, f16BitsToF32Array(halves), rows, cols), name));
          } else {
            weights.set(name, uploadHalves(ctx, halves, [rows, cols], name));
          }
        } else {
          weights.set(name, uploadF32(ctx, Float32Array.from(t.halves, f16BitsToF32), [...shape], name));
        }
        onProgress?.({ phase: 'weights', bytesDone: base + shardDone, bytesTotal, tensor: name });
        sinceCheck += t.halves.length * 2;
        if (sinceCheck >= OUT_OF_MEMORY_CHECK_BYTES) await checkMemory();
      }
      base += shardDone;
      ctx.flush();
      await checkMemory();
    }
  } catch (e) {
    for (const t of weights.values()) releaseTensor(ctx, t);
    throw e;
  }
  onProgress?.({ phase: 'done', bytesDone: bytesTotal, bytesTotal });
  return weights;
}
