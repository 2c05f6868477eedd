// (IA)³'s exports, checked by their consumers, on the demo model and the tiny Qwen2 (k/v biases):
// the PEFT IA3 folder (ia3_l [out,1] / [1,in] as PEFT saves them) loaded by the PyTorch reference
// with PEFT's semantics gives the engine's logits; it reads back through our PEFT import exactly;
// the merged model (vectors folded into rows / columns / biases, fp16) is the f64 fold rounded
// once, loads in the engine and gives the adapter's logits up to fp16 rounding; GGUF refuses.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { downloadF32, downloadU32, readBuffer } from '../gpu/tensor';
import { bufferSource } from '../io/byteSource';
import { fileSource } from '../io/byteSourceNode';
import { parseIa3Config, readPeftIa3 } from '../io/peftIa3';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { expectClose } from '../util/check';
import { f16BitsToF32, unpackHalves } from '../util/f16';
import type { CausalLM } from '../model/causalLM';
import { createIa3, downloadIa3, ia3Key, ia3Modules, IA3_LLAMA_FEEDFORWARD, IA3_LLAMA_TARGETS, releaseIa3 } from '../model/ia3';
import { FIXTURES_DIR, loadModelDir } from '../model/testing/loadForTest';
import { ggufRefusal } from './export';
import { exportIa3PeftFiles, IA3_GGUF_REFUSAL, mergeIa3, type Ia3ExportInput } from './exportIa3';

const ROOT = join(FIXTURES_DIR, '..', '..', '..');
const FX = (JSON.parse(readFileSync(join(FIXTURES_DIR, 'ia3', 'reference.json'), 'utf8')) as { models: { name: string; folder: string; ids: number[]; modules: string[] }[] }).models;
const tmp = mkdtempSync(join(tmpdir(), 'whetstone-ia3-export-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function lastLogits(model: CausalLM, ids: number[], run: Parameters<CausalLM['lastLogits']>[1]): Promise<Float32Array> {
  const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
  const l = await model.lastLogits(inp, run);
  return new Float32Array(await readBuffer(model.ctx, l.buffer, model.config.vocabSize * 4));
}

describe.each(FX.map((f) => [f.name, f] as const))('(IA)³ exports on %s', (name, fx) => {
  it('PEFT IA3 files applied by the PyTorch reference; PEFT import; merged model; no GGUF', async () => {
    const ctx = await getTestGpu();
    const modelDir = join(ROOT, fx.folder);
    const model = await loadModelDir(ctx, modelDir);
    const src = await fileSource(join(FIXTURES_DIR, 'ia3', `${name}.safetensors`));
    const header = await readSafetensorsHeader(src);
    const initial = new Map<string, Float32Array>();
    for (const m of fx.modules) initial.set(m, await readTensorF32(src, header, ia3Key(m)));
    const ia3 = createIa3(ctx, model.config, { initial });
    const ids = fx.ids.slice(0, 40);
    const engine = await lastLogits(model, ids, { ia3, seed: 0, training: false });
    const vectors = await downloadIa3(ctx, ia3);
    const mods = ia3Modules(model.config);
    const input: Ia3ExportInput = {
      config: model.config,
      modelName: name,
      targetModules: IA3_LLAMA_TARGETS,
      feedforwardModules: IA3_LLAMA_FEEDFORWARD,
      modules: mods.map((m) => ({ path: m.path, feedforward: m.feedforward, inFeatures: m.inFeatures, outFeatures: m.outFeatures, values: vectors.get(m.path)! })),
    };

    const files = exportIa3PeftFiles(input);
    const peftDir = join(tmp, `${name}-peft`);
    mkdirSync(peftDir, { recursive: true });
    for (const f of files) writeFileSync(join(peftDir, f.name), f.bytes);
    const cfg = JSON.parse(readFileSync(join(peftDir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'IA3', task_type: 'CAUSAL_LM', target_modules: ['k_proj', 'v_proj', 'down_proj'], feedforward_modules: ['down_proj'], init_ia3_weights: true });
    const h = await readSafetensorsHeader(bufferSource(files[0].bytes));
    expect(h.tensors).toHaveLength(fx.modules.length);
    for (const m of mods) expect(h.byName.get(`base_model.model.${m.path}.ia3_l`)?.shape).toEqual(m.feedforward ? [1, m.inFeatures] : [m.outFeatures, 1]);

    // the PyTorch reference loads the folder with PEFT's IA3 semantics
    writeFileSync(join(tmp, `${name}-ids.json`), JSON.stringify(ids));
    const py = spawnSync('/usr/bin/python3', [join(ROOT, 'reference/ia3_fixtures.py'), '--check-peft', peftDir, fx.folder, join(tmp, `${name}-ids.json`)], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    expect(py.status, py.stderr).toBe(0);
    const torchLogits = Float32Array.from(JSON.parse(py.stdout) as number[]);
    const vsTorch = expectClose('engine (IA)³ logits vs PyTorch on the exported PEFT files', engine, torchLogits, { atol: 5e-4, rtol: 1e-4 });
    console.log(`(IA)³ ${name} PEFT export in PyTorch vs engine: max |diff| ${vsTorch.maxAbsErr.toExponential(2)}`);

    // our PEFT import reads back the same vectors
    const ic = parseIa3Config(new TextDecoder().decode(files[1].bytes));
    const back = await readPeftIa3(ia3Modules(model.config, ic.targetModules, ic.feedforwardModules), bufferSource(files[0].bytes, 'adapter_model.safetensors'));
    for (const [path, l] of vectors) expect(Array.from(back.get(path)!), path).toEqual(Array.from(l));

    // GGUF: refused, pointing at the merged model
    expect(ggufRefusal('ia3')).toBe(IA3_GGUF_REFUSAL);
    expect(IA3_GGUF_REFUSAL).toMatch(/Export the merged model instead/);

    // merged: the base weights with the vectors folded in, loaded as a plain model
    const base = new Map<string, { shape: number[]; halves?: Uint16Array; f32?: Float32Array }>();
    for (const [n, t] of model.weights) {
      if (t.dtype === 'f16') base.set(n, { shape: [...t.shape], halves: unpackHalves(await downloadU32(ctx, t), t.shape.reduce((a, b) => a * b, 1)) });
      else base.set(n, { shape: [...t.shape], f32: await downloadF32(ctx, t) });
    }
    const mergedBytes = mergeIa3(input, base);
    const mh = await readSafetensorsHeader(bufferSource(mergedBytes));
    let biases = 0;
    for (const m of input.modules) {
      const b = base.get(`${m.path}.weight`)!;
      const [out, inF] = b.shape;
      const want = Float64Array.from(b.halves!, (x, k) => f16BitsToF32(x) * m.values[m.feedforward ? k % inF : Math.floor(k / inF)]);
      expect(out).toBe(m.outFeatures);
      expectClose(`merged ${m.path}`, await readTensorF32(bufferSource(mergedBytes), mh, `${m.path}.weight`), want, { atol: 1e-7, rtol: 2 ** -11 });
      const bias = base.get(`${m.path}.bias`);
      if (bias?.f32) {
        biases++;
        const wantBias = Float64Array.from(bias.f32, (v, o) => (m.feedforward ? v : v * m.values[o]));
        expectClose(`merged ${m.path}.bias`, await readTensorF32(bufferSource(mergedBytes), mh, `${m.path}.bias`), wantBias, { atol: 1e-7, rtol: 2 ** -11 });
      }
    }
    if (name === 'qwen2') expect(biases).toBeGreaterThan(0);
    const mergedDir = join(tmp, `${name}-merged`);
    mkdirSync(mergedDir, { recursive: true });
    writeFileSync(join(mergedDir, 'model.safetensors'), mergedBytes);
    for (const f of readdirSync(modelDir)) if (f.endsWith('.json')) copyFileSync(join(modelDir, f), join(mergedDir, f));
    releaseIa3(ctx, ia3);
    model.release();
    const merged = await loadModelDir(ctx, mergedDir);
    const mergedLogits = await lastLogits(merged, ids, null);
    merged.release();
    // the fp16 rounding of every folded weight (the weight-level check above is the exact one)
    const report = expectClose(`merged model logits vs the (IA)³ adapter (${name})`, mergedLogits, engine, { atol: 2e-2, rtol: 1e-2 });
    console.log(`(IA)³ ${name} merged vs adapter: max |diff| ${report.maxAbsErr.toExponential(2)}`);
  }, 300_000);
});
