// Adapter export: PEFT (adapter_model.safetensors + adapter_config.json), a llama.cpp LoRA GGUF,
// and a merged model (W + s·B·A in fp16) as a Hugging Face folder. Input is plain data: the
// adapter weights by module path (from the GPU or from a checkpoint record).
import { f16BitsToF32, f32ToF16Bits } from '../gpu/f16';
import type { ModelConfig } from '../io/hfConfig';
import { writeGgufLora } from '../io/gguf';
import type { LoraWeights } from '../io/loraTargets';
import { writePeftAdapter } from '../io/peft';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors';

export interface AdapterExportInput {
  config: ModelConfig;
  modelName: string;
  rank: number;
  alpha: number;
  dropout: number;
  useRslora: boolean;
  adapters: LoraWeights[];
}

export interface OutFile {
  name: string;
  bytes: Uint8Array;
  mime: string;
}

/** A file name without path separators, control characters or leading dots. */
export function safeFileName(name: string, fallback = 'adapter'): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = name.replace(/[\u0000-\u001f\u007f/\\:*?"<>|]+/g, '_').replace(/^[.\s]+/, '').trim().slice(0, 120);
  return cleaned || fallback;
}

export function exportPeftFiles(a: AdapterExportInput): OutFile[] {
  const files = writePeftAdapter({
    config: a.config,
    r: a.rank,
    alpha: a.alpha,
    dropout: a.dropout,
    useRslora: a.useRslora,
    baseModel: a.modelName,
    adapters: a.adapters,
  });
  return [
    { name: 'adapter_model.safetensors', bytes: files['adapter_model.safetensors'], mime: 'application/octet-stream' },
    { name: 'adapter_config.json', bytes: new TextEncoder().encode(files['adapter_config.json']), mime: 'application/json' },
  ];
}

export function exportGgufFile(a: AdapterExportInput): OutFile {
  if (a.useRslora) {
    throw new Error('llama.cpp scales adapters by alpha/r; an rsLoRA adapter (alpha/√r) would load with the wrong strength. Export PEFT instead, or train without rsLoRA.');
  }
  const bytes = writeGgufLora({ config: a.config, alpha: a.alpha, rank: a.rank, adapters: a.adapters, name: `${a.modelName} LoRA` });
  return { name: `${safeFileName(a.modelName, 'model')}-lora.gguf`, bytes, mime: 'application/octet-stream' };
}

/**
 * Merge W' = W + s·B·A for every adapted module and write all weights as F16 safetensors.
 * `baseWeights` are fp16 halves by canonical HF name in [out, in] layout (GPT-2 Conv1D weights are
 * transposed back to [in, out] on write so the folder loads in transformers).
 */
export function mergeAdapter(
  a: AdapterExportInput,
  baseWeights: Map<string, { shape: number[]; halves?: Uint16Array; f32?: Float32Array }>,
): Uint8Array {
  const s = a.useRslora ? a.alpha / Math.sqrt(a.rank) : a.alpha / a.rank;
  const byModule = new Map(a.adapters.map((x) => [x.module, x]));
  const tensors: TensorToWrite[] = [];
  for (const [name, t] of baseWeights) {
    const module = name.replace(/\.weight$/, '');
    const ad = name.endsWith('.weight') ? byModule.get(module) : undefined;
    if (t.halves && t.shape.length === 2) {
      let halves = t.halves;
      const [out, inF] = t.shape;
      if (ad) {
        const r = a.rank;
        halves = new Uint16Array(t.halves.length);
        for (let o = 0; o < out; o++) {
          for (let i = 0; i < inF; i++) {
            let d = 0;
            for (let k = 0; k < r; k++) d += ad.b[o * r + k] * ad.a[k * inF + i];
            halves[o * inF + i] = f32ToF16Bits(f16BitsToF32(t.halves[o * inF + i]) + s * d);
          }
        }
      }
      const conv1d = a.config.architecture === 'gpt2' && /(c_attn|c_proj|c_fc)\.weight$/.test(name);
      if (conv1d) {
        const tr = new Uint16Array(halves.length);
        for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) tr[i * out + o] = halves[o * inF + i];
        tensors.push({ name, dtype: 'F16', shape: [inF, out], data: tr });
      } else {
        tensors.push({ name, dtype: 'F16', shape: [out, inF], data: halves });
      }
    } else if (t.f32) {
      tensors.push({ name, dtype: 'F16', shape: t.shape, data: Uint16Array.from(t.f32, f32ToF16Bits) });
    }
  }
  return writeSafetensors(tensors, { format: 'pt', merged_from: `${a.modelName} + LoRA r=${a.rank}` });
}
