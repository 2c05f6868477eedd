// Test helper: merge one of our GGUF LoRA adapters into a base GGUF with llama.cpp's own
// llama-export-lora (GGUF level: tensor names, dims, alpha / r) and compare every merged weight
// with W + s·B·A computed in the Hugging Face layout. The base is written with this architecture's
// llama.cpp names and HF row order (what convert_hf_to_gguf.py writes for architectures it does
// not permute). Returns null when the tool is not installed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgmlType, GgufType, ggufTensorF32, hfToGgufName, readGguf, writeGguf } from '../../io/gguf';
import { expectedTensors, type ModelConfig } from '../../io/hfConfig';
import type { LoraWeights } from '../../io/loraTargets';
import { exportGgufFile } from '../../train/export';

export const EXPORT_LORA = '/work/shared/tools/llama.cpp/llama-export-lora';

export interface MergeReport {
  /** llama-export-lora's stdout */
  stdout: string;
  /** largest |merged - (W + s·B·A)| per module */
  worst: Map<string, number>;
  /** base tensors without an adapter, and whether llama.cpp copied them unchanged */
  untouchedEqual: boolean;
}

export function llamaCppMerge(config: ModelConfig, adapters: LoraWeights[], r: number, alpha: number): MergeReport | null {
  if (!existsSync(EXPORT_LORA)) return null;
  const dir = mkdtempSync(join(tmpdir(), `whetstone-${config.architecture}-gguf-`));
  const baseValues = new Map<string, Float32Array>();
  const tensors = expectedTensors(config).map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.37 + t.name.length)));
    baseValues.set(t.name, data);
    return { name: hfToGgufName(t.name, config), dims: [...t.shape].reverse(), type: GgmlType.F32, data };
  });
  const kv = [
    { key: 'general.architecture', type: GgufType.STRING, value: config.format.gguf.architecture },
    { key: 'general.alignment', type: GgufType.UINT32, value: 32 },
  ] as const;
  writeFileSync(join(dir, 'base.gguf'), writeGguf([...kv], tensors));
  writeFileSync(join(dir, 'lora.gguf'), exportGgufFile({ config, modelName: `tiny-${config.architecture}`, rank: r, alpha, dropout: 0, useRslora: false, adapters }).bytes);
  const run = spawnSync(EXPORT_LORA, ['-m', join(dir, 'base.gguf'), '--lora', join(dir, 'lora.gguf'), '-o', join(dir, 'merged.gguf'), '-t', '1'], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`llama-export-lora failed (${run.status}): ${run.stderr}${run.stdout}`);
  const merged = new Map(readGguf(readFileSync(join(dir, 'merged.gguf'))).tensors.map((t) => [t.name, t]));
  const s = alpha / r;
  const worst = new Map<string, number>();
  const adapted = new Set<string>();
  for (const ad of adapters) {
    const name = `${ad.module}.weight`;
    adapted.add(name);
    const w = baseValues.get(name)!;
    const [out, inF] = expectedTensors(config).find((t) => t.name === name)!.shape;
    const got = ggufTensorF32(merged.get(hfToGgufName(name, config))!);
    let m = 0;
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inF; i++) {
        let d = 0;
        for (let k = 0; k < r; k++) d += ad.b[o * r + k] * ad.a[k * inF + i];
        m = Math.max(m, Math.abs(got[o * inF + i] - (w[o * inF + i] + s * d)));
      }
    }
    worst.set(ad.module, m);
  }
  let untouchedEqual = true;
  for (const [name, values] of baseValues) {
    if (adapted.has(name)) continue;
    const got = ggufTensorF32(merged.get(hfToGgufName(name, config))!);
    if (got.length !== values.length || got.some((v, i) => v !== values[i])) untouchedEqual = false;
  }
  return { stdout: run.stdout, worst, untouchedEqual };
}
