// Export: PEFT (adapter_model.safetensors + adapter_config.json) for LoRA, DoRA and prompt tuning,
// a llama.cpp LoRA GGUF (not for DoRA), a merged model (W + s·B·A in fp16; DoRA: m·(W + s·B·A)/‖·‖
// per output row) as a Hugging Face folder, and the
// weights of a fully fine-tuned model. Input is plain data: the adapter weights by module path,
// the prompt embeddings, or the f32 master weights (from the GPU or from a checkpoint record).
import { f16BitsToF32, f32ToF16Bits } from '../util/f16';
import { archOf } from '../arch/registry';
import type { ModelConfig } from '../io/hfConfig';
import { writeGgufLora } from '../io/gguf';
import type { LoraWeights } from '../io/loraTargets';
import { writePeftAdapter, writePeftPromptTuning } from '../io/peft';
import { writePeftPrefixTuning } from '../io/peftPrefix';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors';
import { IA3_GGUF_REFUSAL } from './exportIa3';

export interface AdapterExportInput {
  config: ModelConfig;
  modelName: string;
  rank: number;
  alpha: number;
  dropout: number;
  useRslora: boolean;
  /** DoRA: every adapter has its magnitude (PEFT use_dora; no GGUF; merged folds m·(W + s·B·A)/‖·‖) */
  useDora?: boolean;
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
    useDora: a.useDora,
    baseModel: a.modelName,
    adapters: a.adapters,
  });
  return [
    { name: 'adapter_model.safetensors', bytes: files['adapter_model.safetensors'], mime: 'application/octet-stream' },
    { name: 'adapter_config.json', bytes: new TextEncoder().encode(files['adapter_config.json']), mime: 'application/json' },
  ];
}

/** Why a DoRA adapter has no llama.cpp GGUF adapter export, and what to export instead. */
export const DORA_GGUF_REFUSAL =
  'llama.cpp’s GGUF LoRA adapters have no DoRA magnitude (they add s·B·A to each weight, nothing more), so a DoRA adapter cannot be exported as a GGUF adapter. ' +
  'Export the merged model instead (it folds m·(W + s·B·A)/‖W + s·B·A‖ into the weights) and convert it with llama.cpp’s convert_hf_to_gguf.py, or export the PEFT adapter.';

export function exportGgufFile(a: AdapterExportInput): OutFile {
  if (a.useDora) throw new Error(DORA_GGUF_REFUSAL);
  // rsLoRA (alpha/√r): the writer stores alpha·√r, since llama.cpp scales by the stored alpha / r
  const bytes = writeGgufLora({ config: a.config, alpha: a.alpha, rank: a.rank, useRslora: a.useRslora, adapters: a.adapters, name: `${a.modelName} LoRA` });
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
        if (a.useDora && !(ad.magnitude && ad.magnitude.length === out)) throw new Error(`mergeAdapter: the DoRA magnitude of ${module} is missing or not ${out} long.`);
        const row = new Float64Array(inF);
        for (let o = 0; o < out; o++) {
          let sq = 0;
          for (let i = 0; i < inF; i++) {
            let d = 0;
            for (let k = 0; k < r; k++) d += ad.b[o * r + k] * ad.a[k * inF + i];
            row[i] = f16BitsToF32(t.halves[o * inF + i]) + s * d;
            sq += row[i] * row[i];
          }
          // DoRA (PEFT's merge): W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖ per output row
          const g = a.useDora ? ad.magnitude![o] / Math.sqrt(sq) : 1;
          for (let i = 0; i < inF; i++) halves[o * inF + i] = f32ToF16Bits(g * row[i]);
        }
      }
      const conv1d = archOf(a.config).storedTransposed?.(name) ?? false;
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
  return writeSafetensors(tensors, { format: 'pt', merged_from: `${a.modelName} + ${a.useDora ? 'DoRA' : 'LoRA'} r=${a.rank}` });
}

export interface PromptTuningExportInput {
  config: ModelConfig;
  modelName: string;
  numVirtualTokens: number;
  /** [numVirtualTokens, hiddenSize] */
  embeddings: Float32Array;
}

/** PEFT prompt tuning: adapter_model.safetensors (prompt_embeddings) + adapter_config.json. */
export function exportPromptTuningFiles(p: PromptTuningExportInput): OutFile[] {
  const files = writePeftPromptTuning({ config: p.config, embeddings: p.embeddings, numVirtualTokens: p.numVirtualTokens, baseModel: p.modelName });
  return [
    { name: 'adapter_model.safetensors', bytes: files['adapter_model.safetensors'], mime: 'application/octet-stream' },
    { name: 'adapter_config.json', bytes: new TextEncoder().encode(files['adapter_config.json']), mime: 'application/json' },
  ];
}

export interface PrefixTuningExportInput {
  config: ModelConfig;
  modelName: string;
  numVirtualTokens: number;
  /** PEFT's prompt_embeddings [n, L·2·Hkv·D] (model/prefixTuning.ts downloadPrefixTable / toPeftTable) */
  table: Float32Array;
}

/** PEFT PREFIX_TUNING files (adapter_model.safetensors + adapter_config.json) for PeftModel.from_pretrained. */
export function exportPrefixTuningFiles(p: PrefixTuningExportInput): OutFile[] {
  const files = writePeftPrefixTuning({ config: p.config, table: p.table, numVirtualTokens: p.numVirtualTokens, baseModel: p.modelName });
  return [
    { name: 'adapter_model.safetensors', bytes: files['adapter_model.safetensors'], mime: 'application/octet-stream' },
    { name: 'adapter_config.json', bytes: new TextEncoder().encode(files['adapter_config.json']), mime: 'application/json' },
  ];
}

/** Bottleneck adapters: why there is neither a GGUF adapter nor a merged model. */
export const BOTTLENECK_NO_GGUF =
  'llama.cpp has no bottleneck adapters, so a bottleneck-adapter run cannot be exported as GGUF. Export the adapter in the AdapterHub adapters layout (adapter_config.json + adapter.safetensors) instead.';
export const BOTTLENECK_NO_MERGE =
  'A bottleneck adapter cannot be merged into the weights: its non-linearity sits between the down- and up-projection, so no weight matrix equals it. Export the adapter in the AdapterHub adapters layout (adapter_config.json + adapter.safetensors) and load it with the adapters library.';

/** Why a run of this method has no llama.cpp GGUF adapter export, and what to export instead. */
/** Why a prefix-tuning run has no GGUF adapter and no merged model (the export step says it). */
export const PREFIX_NO_MERGE =
  'A prefix-tuning run trains key/value positions that every layer attends to, not a change of any weight: it cannot be merged into the model, and llama.cpp has no prefix-tuning adapters, so there is no GGUF or merged export. Export the PEFT adapter (adapter_model.safetensors + adapter_config.json, PEFT PREFIX_TUNING) instead.';

export function ggufRefusal(method: 'prompt' | 'full' | 'bottleneck' | 'ia3' | 'prefix'): string {
  if (method === 'prefix') return PREFIX_NO_MERGE;
  if (method === 'bottleneck') return BOTTLENECK_NO_GGUF;
  if (method === 'ia3') return IA3_GGUF_REFUSAL;
  return method === 'prompt'
    ? 'llama.cpp has no prompt-tuning adapters, so a prompt-tuning run cannot be exported as GGUF. Export the PEFT adapter (adapter_model.safetensors + adapter_config.json) instead.'
    : 'A fully fine-tuned model is a whole model, not a LoRA adapter, so there is no GGUF adapter to export. Export the full model (safetensors) and convert it with llama.cpp\'s convert_hf_to_gguf.py.';
}

export type FullExportDtype = 'F16' | 'F32';

/**
 * The weights of a fully fine-tuned model as one safetensors file: f32 masters by canonical name
 * in GPU layout ([out, in]; GPT-2 Conv1D weights are transposed back to [in, out]), written as
 * F16 (what the model computed with) or F32 (the masters exactly).
 */
export function writeFullModel(config: ModelConfig, weights: Map<string, { shape: number[]; data: Float32Array }>, o: { dtype: FullExportDtype; modelName: string }): Uint8Array {
  const tensors: TensorToWrite[] = [];
  for (const [name, t] of weights) {
    let data = t.data;
    let shape = t.shape;
    if (t.shape.length === 2 && (archOf(config).storedTransposed?.(name) ?? false)) {
      const [out, inF] = t.shape;
      data = new Float32Array(t.data.length);
      for (let r = 0; r < out; r++) for (let c = 0; c < inF; c++) data[c * out + r] = t.data[r * inF + c];
      shape = [inF, out];
    }
    tensors.push(o.dtype === 'F32' ? { name, dtype: 'F32', shape, data } : { name, dtype: 'F16', shape, data: Uint16Array.from(data, f32ToF16Bits) });
  }
  return writeSafetensors(tensors, { format: 'pt', fine_tuned_from: `${o.modelName} (full fine-tuning)` });
}
