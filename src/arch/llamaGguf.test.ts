// Llama's GGUF LoRA through llama.cpp's own llama-export-lora. convert_hf_to_gguf.py writes a
// Llama base with the q/k rows permuted per head (LlamaModel.permute: reshape(heads, 2, D/2, in),
// swap the middle axes) — written out independently here — so the adapter's q/k lora_b rows must be
// permuted the same way: merged, the result must be that permutation of HF's W + s·B·A.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GgmlType, GgufType, ggufTensorF32, hfToGgufName, readGguf, writeGguf } from '../io/gguf';
import { expectedTensors } from '../io/hfConfig';
import { linearModules } from '../io/loraTargets';
import { exportGgufFile } from '../train/export';
import { parseHfConfig } from './config';

const EXPORT_LORA = '/work/shared/tools/llama.cpp/llama-export-lora';
const llama = parseHfConfig(readFileSync(join(import.meta.dirname, '../model/fixtures/arch-llama3/config.json'), 'utf8'));

/** convert_hf_to_gguf.py's permute of a [out, in] row-major weight with `heads` heads. */
function converterPermute(w: Float32Array, heads: number, inF: number): Float32Array {
  const out = w.length / inF;
  const half = out / heads / 2;
  const res = new Float32Array(w.length);
  // reshape (heads, 2, half, in) -> swapaxes(1, 2) -> (heads, half, 2, in)
  for (let h = 0; h < heads; h++) {
    for (let two = 0; two < 2; two++) {
      for (let j = 0; j < half; j++) {
        const src = ((h * 2 + two) * half + j) * inF;
        const dst = ((h * half + j) * 2 + two) * inF;
        res.set(w.subarray(src, src + inF), dst);
      }
    }
  }
  return res;
}

describe('Llama GGUF adapter in llama.cpp', () => {
  it.skipIf(!existsSync(EXPORT_LORA))('llama-export-lora merges it into the converter-permuted W + s·B·A', () => {
    const r = 2;
    const ads = linearModules(llama)
      .filter((m) => m.module !== 'lm_head')
      .map((m, i) => ({ module: m.module, a: Float32Array.from({ length: r * m.in }, (_, j) => Math.sin(i + j)), b: Float32Array.from({ length: m.out * r }, (_, j) => Math.cos(i * 3 + j)) }));
    const heads = (name: string) => (/q_proj/.test(name) ? llama.numHeads : /k_proj/.test(name) ? llama.numKvHeads : 0);
    const dir = mkdtempSync(join(tmpdir(), 'whetstone-llama-gguf-'));
    const hfValues = new Map<string, Float32Array>();
    const tensors = expectedTensors(llama).map((t) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.37 + t.name.length)));
      hfValues.set(t.name, data);
      const h = heads(t.name);
      return { name: hfToGgufName(t.name, llama), dims: [...t.shape].reverse(), type: GgmlType.F32, data: h ? converterPermute(data, h, t.shape[1]) : data };
    });
    const kv = [
      { key: 'general.architecture', type: GgufType.STRING, value: 'llama' },
      { key: 'general.alignment', type: GgufType.UINT32, value: 32 },
    ] as const;
    writeFileSync(join(dir, 'base.gguf'), writeGguf([...kv], tensors));
    writeFileSync(join(dir, 'lora.gguf'), exportGgufFile({ config: llama, modelName: 'tiny-llama', rank: r, alpha: 4, dropout: 0, useRslora: false, adapters: ads }).bytes);
    const run = spawnSync(EXPORT_LORA, ['-m', join(dir, 'base.gguf'), '--lora', join(dir, 'lora.gguf'), '-o', join(dir, 'merged.gguf'), '-t', '1'], { encoding: 'utf8' });
    expect(run.status, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/merged 14 tensors with lora adapters/);
    const merged = new Map(readGguf(readFileSync(join(dir, 'merged.gguf'))).tensors.map((t) => [t.name, t]));
    for (const ad of ads) {
      const name = `${ad.module}.weight`;
      const w = hfValues.get(name)!;
      const [out, inF] = expectedTensors(llama).find((t) => t.name === name)!.shape;
      let want: Float32Array = new Float32Array(w.length);
      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inF; i++) {
          let d = 0;
          for (let k = 0; k < r; k++) d += ad.b[o * r + k] * ad.a[k * inF + i];
          want[o * inF + i] = w[o * inF + i] + (4 / r) * d;
        }
      }
      if (heads(name)) want = converterPermute(want, heads(name), inF);
      const got = ggufTensorF32(merged.get(hfToGgufName(name, llama))!);
      let worst = 0;
      for (let j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(got[j] - want[j]));
      expect(worst, `${name}: llama.cpp's merge differs by ${worst}`).toBeLessThan(1e-5);
    }
  });
});
