// (IA)³ exports: the PEFT IA3 folder (io/peftIa3.ts) and the merged model, which folds each
// vector into its weight as PEFT's IA3 merge does: W <- diag(l)·W and b <- l ⊙ b for an
// output-scaled module (k_proj, v_proj), W <- W·diag(l) for a feedforward one (down_proj; b
// unchanged). No llama.cpp GGUF adapter: a GGUF LoRA adds a low-rank s·B·A to W, and
// diag(l)·W − W is full rank in general (IA3_GGUF_REFUSAL says so and what to export instead).
import { f16BitsToF32, f32ToF16Bits } from '../util/f16';
import { archOf } from '../arch/registry';
import type { ModelConfig } from '../io/hfConfig';
import { writePeftIa3, type Ia3ModuleShape } from '../io/peftIa3';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors';
import type { OutFile } from './export';

export interface Ia3ExportInput {
  config: ModelConfig;
  modelName: string;
  targetModules: string[];
  feedforwardModules: string[];
  modules: (Ia3ModuleShape & { values: Float32Array })[];
}

export const IA3_GGUF_REFUSAL =
  'llama.cpp’s GGUF LoRA adapters add a low-rank s·B·A to each weight, and an (IA)³ vector scales whole rows or columns of it (diag(l)·W − W is full rank), so an (IA)³ adapter cannot be exported as a GGUF adapter. ' +
  'Export the merged model instead (the vectors folded into the weights) and convert it with llama.cpp’s convert_hf_to_gguf.py, or export the PEFT adapter.';

export function exportIa3PeftFiles(a: Ia3ExportInput): OutFile[] {
  const files = writePeftIa3({ baseModel: a.modelName, targetModules: a.targetModules, feedforwardModules: a.feedforwardModules, modules: a.modules });
  return [
    { name: 'adapter_model.safetensors', bytes: files['adapter_model.safetensors'], mime: 'application/octet-stream' },
    { name: 'adapter_config.json', bytes: new TextEncoder().encode(files['adapter_config.json']), mime: 'application/json' },
  ];
}

/**
 * All weights as F16 safetensors with the vectors folded in (the fold in f64, rounded once to
 * fp16). `baseWeights` as for mergeAdapter: fp16 halves (or f32 vectors) by HF name, [out, in].
 */
export function mergeIa3(a: Ia3ExportInput, baseWeights: Map<string, { shape: number[]; halves?: Uint16Array; f32?: Float32Array }>): Uint8Array {
  const byWeight = new Map(a.modules.map((m) => [`${m.path}.weight`, m]));
  const byBias = new Map(a.modules.filter((m) => !m.feedforward).map((m) => [`${m.path}.bias`, m]));
  const tensors: TensorToWrite[] = [];
  for (const [name, t] of baseWeights) {
    const m = byWeight.get(name);
    if (t.halves && t.shape.length === 2) {
      let halves = t.halves;
      const [out, inF] = t.shape;
      if (m) {
        if (out !== m.outFeatures || inF !== m.inFeatures) throw new Error(`mergeIa3: ${name} is [${t.shape}] but its (IA)³ module is [${m.outFeatures}, ${m.inFeatures}].`);
        halves = new Uint16Array(t.halves.length);
        for (let o = 0; o < out; o++) {
          for (let i = 0; i < inF; i++) halves[o * inF + i] = f32ToF16Bits(f16BitsToF32(t.halves[o * inF + i]) * m.values[m.feedforward ? i : o]);
        }
      }
      if (archOf(a.config).storedTransposed?.(name) ?? false) {
        const tr = new Uint16Array(halves.length);
        for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) tr[i * out + o] = halves[o * inF + i];
        tensors.push({ name, dtype: 'F16', shape: [inF, out], data: tr });
      } else {
        tensors.push({ name, dtype: 'F16', shape: [out, inF], data: halves });
      }
    } else if (t.f32) {
      const mb = byBias.get(name);
      const data = mb ? Float32Array.from(t.f32, (v, o) => v * mb.values[o]) : t.f32;
      tensors.push({ name, dtype: 'F16', shape: t.shape, data: Uint16Array.from(data, f32ToF16Bits) });
    }
  }
  return writeSafetensors(tensors, { format: 'pt', merged_from: `${a.modelName} + (IA)³` });
}
