// DoRA's exports, checked by their consumers: the PEFT adapter (use_dora, lora_magnitude_vector
// as PEFT saves it) loaded by the PyTorch reference with PEFT's semantics gives the engine's
// logits; it reads back through our PEFT import exactly; the merged model (m·(W + s·B·A)/‖·‖
// folded into fp16 weights) loads in the engine and gives the DoRA adapter's logits up to fp16
// rounding; the GGUF adapter export refuses and says to export the merged model.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { archOf } from '../arch/registry';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { downloadF32, downloadU32, readBuffer } from '../gpu/tensor';
import { bufferSource } from '../io/byteSource';
import { fileSource } from '../io/byteSourceNode';
import { doraMagnitudeKey, loraCheckpointKey } from '../io/loraKeys';
import { parsePeftConfig, readPeftAdapter } from '../io/peft';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { expectClose } from '../util/check';
import { f16BitsToF32, unpackHalves } from '../util/f16';
import { doraRowNormRef } from '../gpu/ops/dora.ref';
import { createAdapter, downloadAdapter, releaseAdapter, type ModuleWeights } from '../model/adapter';
import type { CausalLM } from '../model/causalLM';
import { DEMO_MODEL_DIR, FIXTURES_DIR, loadModelDir } from '../model/testing/loadForTest';
import { DORA_GGUF_REFUSAL, exportGgufFile, exportPeftFiles, mergeAdapter, type AdapterExportInput } from './export';

const ROOT = join(FIXTURES_DIR, '..', '..', '..');
const fx = (JSON.parse(readFileSync(join(FIXTURES_DIR, 'dora', 'reference.json'), 'utf8')) as { models: { name: string; ids: number[]; r: number; alpha: number; modules: string[] }[] }).models.find((m) => m.name === 'stories260k')!;
const tmp = mkdtempSync(join(tmpdir(), 'whetstone-dora-export-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function lastLogits(model: CausalLM, ids: number[], run: Parameters<CausalLM['lastLogits']>[1]): Promise<Float32Array> {
  const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
  const l = await model.lastLogits(inp, run);
  return new Float32Array(await readBuffer(model.ctx, l.buffer, model.config.vocabSize * 4));
}

describe('DoRA exports on the demo model', () => {
  it('PEFT files as PEFT writes them, applied by the PyTorch reference; PEFT import; merged model; no GGUF', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const src = await fileSource(join(FIXTURES_DIR, 'dora', 'stories260k.safetensors'));
    const header = await readSafetensorsHeader(src);
    const init = new Map<string, ModuleWeights>();
    for (const m of fx.modules) init.set(m, { A: await readTensorF32(src, header, loraCheckpointKey(m, 'A')), B: await readTensorF32(src, header, loraCheckpointKey(m, 'B')), magnitude: await readTensorF32(src, header, doraMagnitudeKey(m)) });
    const spec = { rank: fx.r, alpha: fx.alpha, dropout: 0, useRslora: false, useDora: true, targetModules: [...archOf(model.config).loraTargets.allLinear] };
    const adapter = createAdapter(ctx, model.config, spec, 0, init);
    const ids = fx.ids.slice(0, 40);
    const engine = await lastLogits(model, ids, { adapter, seed: 0, training: false });
    const input: AdapterExportInput = {
      config: model.config,
      modelName: 'stories260K',
      rank: fx.r,
      alpha: fx.alpha,
      dropout: 0,
      useRslora: false,
      useDora: true,
      adapters: [...(await downloadAdapter(ctx, adapter))].map(([module, w]) => ({ module, a: w.A, b: w.B, magnitude: w.magnitude })),
    };

    // PEFT: adapter_config.json use_dora, one [out] lora_magnitude_vector per module
    const files = exportPeftFiles(input);
    const peftDir = join(tmp, 'peft');
    mkdirSync(peftDir, { recursive: true });
    for (const f of files) writeFileSync(join(peftDir, f.name), f.bytes);
    const cfg = JSON.parse(readFileSync(join(peftDir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', use_dora: true, r: fx.r, lora_alpha: fx.alpha });
    const h = await readSafetensorsHeader(bufferSource(files[0].bytes));
    expect(h.tensors).toHaveLength(3 * fx.modules.length);
    for (const m of fx.modules) expect(h.byName.get(`base_model.model.${m}.lora_magnitude_vector`)?.shape).toEqual([adapter.modules.get(m)!.outFeatures]);

    // the PyTorch reference loads the folder with PEFT's DoRA semantics
    writeFileSync(join(tmp, 'ids.json'), JSON.stringify(ids));
    const py = spawnSync('/usr/bin/python3', [join(ROOT, 'reference/dora_fixtures.py'), '--check-peft', peftDir, 'public/models/stories260K', join(tmp, 'ids.json')], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    expect(py.status, py.stderr).toBe(0);
    const torchLogits = Float32Array.from(JSON.parse(py.stdout) as number[]);
    const vsTorch = expectClose('engine DoRA logits vs PyTorch on the exported PEFT files', engine, torchLogits, { atol: 5e-4, rtol: 1e-4 });
    console.log(`DoRA PEFT export in PyTorch vs engine: max |diff| ${vsTorch.maxAbsErr.toExponential(2)}`);

    // our PEFT import reads back the same tensors
    const back = await readPeftAdapter(parsePeftConfig(new TextDecoder().decode(files[1].bytes)), bufferSource(files[0].bytes, 'adapter_model.safetensors'), model.config);
    expect(back.config.useDora).toBe(true);
    const byModule = new Map(back.adapters.map((a) => [a.module, a]));
    for (const a of input.adapters) expect(byModule.get(a.module)).toEqual(a);

    // GGUF: refused, pointing at the merged model
    expect(() => exportGgufFile(input)).toThrow(DORA_GGUF_REFUSAL);
    expect(DORA_GGUF_REFUSAL).toMatch(/Export the merged model instead/);

    // merged: the base weights with m·(W + s·B·A)/‖·‖ folded in, loaded as a plain model
    const base = new Map<string, { shape: number[]; halves?: Uint16Array; f32?: Float32Array }>();
    for (const [name, t] of model.weights) {
      if (t.dtype === 'f16') base.set(name, { shape: [...t.shape], halves: unpackHalves(await downloadU32(ctx, t), t.shape.reduce((a, b) => a * b, 1)) });
      else base.set(name, { shape: [...t.shape], f32: await downloadF32(ctx, t) });
    }
    const mergedDir = join(tmp, 'merged');
    mkdirSync(mergedDir, { recursive: true });
    const mergedBytes = mergeAdapter(input, base);
    writeFileSync(join(mergedDir, 'model.safetensors'), mergedBytes);
    // every merged matrix is the f64 fold m ⊙ (W + s·B·A)/‖W + s·B·A‖ rounded to fp16 (half an ulp: 2^-11 relative)
    const mh = await readSafetensorsHeader(bufferSource(mergedBytes));
    const s = fx.alpha / fx.r;
    for (const a of input.adapters) {
      const b = base.get(`${a.module}.weight`)!;
      const [out, inF] = b.shape;
      const W = Float64Array.from(b.halves!, (x) => f16BitsToF32(x));
      const norm = doraRowNormRef(W, a.a, a.b, out, inF, fx.r, s);
      const want = new Float64Array(out * inF);
      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inF; i++) {
          let d = 0;
          for (let k = 0; k < fx.r; k++) d += a.b[o * fx.r + k] * a.a[k * inF + i];
          want[o * inF + i] = (a.magnitude![o] / norm[o]) * (W[o * inF + i] + s * d);
        }
      }
      expectClose(`merged ${a.module}`, await readTensorF32(bufferSource(mergedBytes), mh, `${a.module}.weight`), want, { atol: 1e-7, rtol: 2 ** -11 });
    }
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(DEMO_MODEL_DIR, f), join(mergedDir, f));
    releaseAdapter(ctx, adapter);
    model.release();
    const merged = await loadModelDir(ctx, mergedDir);
    const mergedLogits = await lastLogits(merged, ids, null);
    merged.release();
    // the fp16 rounding of every merged weight through 5 layers of a strongly perturbed model (the
    // fixture adapter's loss is 12.7): plain LoRA's merge of the same A, B differs from its adapter
    // by up to 0.11 here (the weight-level check above is the exact one)
    const report = expectClose('merged model logits vs the DoRA adapter', mergedLogits, engine, { atol: 8e-2, rtol: 1e-2 });
    console.log(`DoRA merged vs adapter: max |diff| ${report.maxAbsErr.toExponential(2)}`);
  }, 300_000);
});
