// Loading a GGUF base model (a .gguf file dropped or given with --model FILE.gguf) onto the GPU:
// the metadata becomes config.json, tokenizer and chat template (io/ggufModel.ts), and every
// tensor the architecture needs is read under its llama.cpp name and uploaded in HF layout:
//   F32 / F16 / BF16 matrices   fp16 (quantized at load when assets.quantize asks, like safetensors)
//   Q8_0 / Q6_K / Q4_0 / Q4_K matrices of the linear layers: as they are, in the kernels' q8 / q4
//                               layouts (util/quant.ts, lossless; Q6_K as q8 with 16-value groups);
//                               embeddings / LM head: dequantized to fp16
//   Q5_K matrices               dequantized to fp16 (no lossless kernel layout: 5-bit codes with an
//                               offset), one rounding (relative error <= 2^-11), or quantized at load
//   vectors (norms, biases)     f32 holding fp16-rounded values (as load.ts does)
// llama.cpp's q/k row permutation is undone on every format (rows are whole blocks).
// The whole file is read into memory (GGUF's reader works on bytes in memory).
import type { GpuContext } from '../gpu/device';
import { uploadQuant } from '../gpu/ops/matmulQuant';
import { releaseTensor, uploadF32, uploadHalves, type Tensor } from '../gpu/tensor';
import { decodeGgmlBlocks, GGML_BLOCKS, GGML_KEPT_QUANTIZED, ggmlToQuantMatrix } from '../io/ggmlBlocks';
import { GgmlType, readGguf, type GgufFile, type GgufTensorInfo } from '../io/gguf';
import { ggufConfigJson, ggufTensorFor, ggufTokenizer, permuteRows, unpermuteRowIndex } from '../io/ggufModel';
import { expectedTensors } from '../io/hfConfig';
import { parseHfConfig } from '../arch/config';
import { bf16BitsToF32, f16BitsToF32Array, f32ArrayToF16Bits } from '../util/f16';
import { groupsPerRow, quantizeMatrix, rowWords } from '../util/quant';
import type { ModelFolder } from './folder';
import { quantizedWeightNames, type LoadProgress, type ModelAssets } from './load';

function fnv1a(text: string, h = 0x811c9dc5): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

async function readGgufFile(folder: ModelFolder, file: string): Promise<GgufFile> {
  const src = folder.files.get(file);
  if (!src) throw new Error(`${folder.name}: ${file} is missing`);
  return readGguf(await src.read(0, src.size), file);
}

/** ModelAssets of a GGUF model file (no tensor data read beyond the file itself). */
export async function readGgufAssets(folder: ModelFolder, file: string): Promise<ModelAssets> {
  const g = await readGgufFile(folder, file);
  const rawConfig = ggufConfigJson(g, file);
  const config = parseHfConfig(rawConfig, `${file} (GGUF metadata)`);
  const { tokenizerJson, tokenizerConfig, chatTemplate } = ggufTokenizer(g, file);
  let fp = fnv1a(JSON.stringify(rawConfig));
  let parameterCount = 0;
  for (const t of expectedTensors(config)) {
    const { tensor } = ggufTensorFor(g, config, t.name, file);
    const shape = [...tensor.dims].reverse();
    if (shape.join('x') !== t.shape.join('x')) throw new Error(`${file}: ${tensor.name} is [${shape.join(', ')}] but ${t.name} of this config needs [${t.shape.join(', ')}].`);
    fp = fnv1a(`${t.name}:${shape.join('x')}:${tensor.type}`, fp);
    parameterCount += t.shape.reduce((a, b) => a * b, 1);
  }
  const name = file.replace(/\.gguf$/i, '');
  return {
    name,
    config,
    rawConfig,
    tokenizerJson,
    tokenizerConfig,
    chatTemplate,
    generationConfig: null,
    shards: new Map(),
    fingerprint: fp.toString(16).padStart(8, '0'),
    parameterCount,
    gguf: { file, types: [...new Set(expectedTensors(config).map((t) => ggmlTypeName(ggufTensorFor(g, config, t.name, file).tensor.type)))] },
  };
}

function ggmlTypeName(type: number): string {
  return GGML_BLOCKS[type]?.name ?? (Object.entries(GgmlType).find(([, v]) => v === type)?.[0] ?? `type ${type}`);
}

/** f32 values of a float tensor (F32, F16, BF16). */
function floatValues(t: GgufTensorInfo): Float32Array {
  const b = new Uint8Array(t.bytes); // aligned copy
  if (t.type === GgmlType.F32) return new Float32Array(b.buffer);
  if (t.type === GgmlType.F16) return f16BitsToF32Array(new Uint16Array(b.buffer));
  if (t.type === GgmlType.BF16) return Float32Array.from(new Uint16Array(b.buffer), bf16BitsToF32);
  throw new Error(`tensor ${t.name} has GGML type ${t.type}: Whetstone reads F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K`);
}

export async function loadGgufWeights(ctx: GpuContext, folder: ModelFolder, assets: ModelAssets, onProgress?: (p: LoadProgress) => void): Promise<Map<string, Tensor>> {
  const file = assets.gguf!.file;
  const g = await readGgufFile(folder, file);
  const { config } = assets;
  const linear = quantizedWeightNames(config, 'int8'); // the linear layers' weights
  const quantizeAtLoad = quantizedWeightNames(config, assets.quantize);
  const wanted = expectedTensors(config);
  const bytesTotal = wanted.reduce((s, t) => s + ggufTensorFor(g, config, t.name, file).tensor.byteLength, 0);
  let bytesDone = 0;
  const weights = new Map<string, Tensor>();
  try {
    for (const { name } of wanted) {
      const { tensor, shape } = ggufTensorFor(g, config, name, file);
      const heads = config.format.gguf.permutedHeads(config, name.replace(/\.(weight|bias)$/, ''));
      const src = heads !== null ? unpermuteRowIndex(heads, shape[0]) : null;
      if (shape.length === 1) {
        // fp16-rounded, as load.ts keeps the vectors of a safetensors model
        const v = f16BitsToF32Array(f32ArrayToF16Bits(floatValues(tensor)));
        weights.set(name, uploadF32(ctx, src ? permuteRows(v, 1, src) : v, shape, name));
      } else {
        const [rows, cols] = shape;
        if (GGML_KEPT_QUANTIZED.has(tensor.type) && linear.has(name)) {
          const m = ggmlToQuantMatrix(tensor.type, tensor.bytes, rows, cols);
          if (src) {
            m.codes = permuteRows(m.codes, rowWords(m.format, cols), src);
            m.meta = permuteRows(m.meta, groupsPerRow(m) * (m.format === 'q8' ? 1 : 2), src);
          }
          weights.set(name, uploadQuant(ctx, m, name));
        } else {
          let v = GGML_BLOCKS[tensor.type] ? decodeGgmlBlocks(tensor.type, tensor.bytes, rows * cols) : floatValues(tensor);
          if (src) v = permuteRows(v, cols, src);
          if (quantizeAtLoad.has(name) && assets.quantize && assets.quantize !== 'none') {
            weights.set(name, uploadQuant(ctx, quantizeMatrix(assets.quantize, f16BitsToF32Array(f32ArrayToF16Bits(v)), rows, cols), name));
          } else {
            weights.set(name, uploadHalves(ctx, f32ArrayToF16Bits(v), [rows, cols], name));
          }
        }
      }
      bytesDone += tensor.byteLength;
      onProgress?.({ phase: 'weights', bytesDone, bytesTotal, tensor: name });
    }
    ctx.flush();
  } catch (e) {
    for (const t of weights.values()) releaseTensor(ctx, t);
    throw e;
  }
  onProgress?.({ phase: 'done', bytesDone: bytesTotal, bytesTotal });
  return weights;
}
