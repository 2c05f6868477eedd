// Our PEFT exports loaded by their real consumer: Hugging Face transformers loads each architecture's
// base folder and peft 0.21's PeftModel.from_pretrained the adapter folder exportPeftFiles wrote
// (.hf-venv, `npm run hf-stack`); its last-position logits equal the engine's with the same adapter
// applied. LoRA on every linear module of every architecture module's fixture (fused Phi-3
// qkv/gate_up, GPT-2's Conv1D c_attn / c_fc / c_proj), rsLoRA, and DoRA (use_dora with its
// lora_magnitude_vector), prompt tuning (PROMPT_TUNING prompt_embeddings, the virtual tokens
// before the ids) and prefix tuning (PREFIX_TUNING: PEFT turns prompt_embeddings into every layer's
// past keys/values and starts the ids at position n). A and B are both random so that every module moves the logits.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { archOf } from '../arch/registry';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { downloadF32, emptyTensor, readBuffer, releaseTensor } from '../gpu/tensor';
import { createAdapter, downloadAdapter, releaseAdapter, targetedModules, type AdapterSpec, type ModuleWeights } from '../model/adapter';
import type { CausalLM } from '../model/causalLM';
import { createPromptTuning, downloadPromptEmbeddings, promptRun, releasePromptTuning } from '../model/promptTuning';
import { DEMO_MODEL_DIR, FIXTURES_DIR, REPO_ROOT, loadModelDir } from '../model/testing/loadForTest';
import { expectClose } from '../util/check';
import { randn, randUniform } from '../util/random';
import { hfEnv, hfPython } from '../util/testing/hfStack';
import { exportPeftFiles, exportPrefixTuningFiles, exportPromptTuningFiles } from './export';
import { parsePrefixTuningConfig, readPeftPrefixTuning } from '../io/peftPrefix';
import { fileSource } from '../io/byteSourceNode';
import { createPrefixTuning, downloadPrefixTable, PREFIX_PROJECTION_NAMES, prefixRun, projectPrefix, projectPrefixBackward, releasePrefixTuning, withPrefixPositions } from '../model/prefixTuning';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';

const tmp = mkdtempSync(join(tmpdir(), 'whetstone-peft-hf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function lastLogits(model: CausalLM, ids: number[], run: Parameters<CausalLM['lastLogits']>[1]): Promise<Float32Array> {
  const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
  const l = await model.lastLogits(inp, run);
  return new Float32Array(await readBuffer(model.ctx, l.buffer, model.config.vocabSize * 4));
}

/** transformers + peft on the folders: the last position's logits with the adapter and with it disabled. */
function peftLogits(modelDir: string, adapterDir: string, ids: number[]): { adapter: Float32Array; base: Float32Array } {
  const idsFile = join(tmp, `ids-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(idsFile, JSON.stringify(ids));
  const py = spawnSync(hfPython(), [join(REPO_ROOT, 'reference/hf_peft_logits.py'), modelDir, adapterDir, idsFile], { encoding: 'utf8', env: hfEnv(), timeout: 300_000 });
  expect(py.status, py.stderr).toBe(0);
  const out = JSON.parse(py.stdout) as { adapter: number[]; base: number[] };
  return { adapter: Float32Array.from(out.adapter), base: Float32Array.from(out.base) };
}

const CASES: { name: string; dir: string; spec: Omit<AdapterSpec, 'targetModules'> }[] = [
  { name: 'stories260K (llama) LoRA', dir: DEMO_MODEL_DIR, spec: { rank: 4, alpha: 8, dropout: 0, useRslora: false } },
  { name: 'stories260K (llama) rsLoRA', dir: DEMO_MODEL_DIR, spec: { rank: 8, alpha: 4, dropout: 0, useRslora: true } },
  { name: 'stories260K (llama) DoRA', dir: DEMO_MODEL_DIR, spec: { rank: 4, alpha: 8, dropout: 0, useRslora: false, useDora: true } },
  { name: 'llama3 rope scaling', dir: join(FIXTURES_DIR, 'arch-llama3'), spec: { rank: 4, alpha: 8, dropout: 0, useRslora: false } },
  { name: 'qwen2', dir: join(FIXTURES_DIR, 'arch-qwen2'), spec: { rank: 4, alpha: 8, dropout: 0, useRslora: false } },
  { name: 'qwen3 DoRA', dir: join(FIXTURES_DIR, 'arch-qwen3'), spec: { rank: 4, alpha: 8, dropout: 0, useRslora: false, useDora: true } },
  { name: 'mistral', dir: join(FIXTURES_DIR, 'arch-mistral'), spec: { rank: 4, alpha: 8, dropout: 0, useRslora: false } },
  { name: 'gemma3', dir: join(FIXTURES_DIR, 'arch-gemma3'), spec: { rank: 4, alpha: 8, dropout: 0, useRslora: false } },
  { name: 'phi3 (fused qkv / gate_up)', dir: join(FIXTURES_DIR, 'arch-phi3'), spec: { rank: 4, alpha: 8, dropout: 0, useRslora: false } },
  { name: 'gpt2 (Conv1D)', dir: join(FIXTURES_DIR, 'arch-gpt2'), spec: { rank: 4, alpha: 8, dropout: 0, useRslora: false } },
];

describe('PEFT exports loaded by transformers + peft', () => {
  for (const [n, c] of CASES.entries()) {
    it(c.name, { timeout: 600_000 }, async () => {
      const ctx = await getTestGpu();
      const model = await loadModelDir(ctx, c.dir);
      const targets = [...archOf(model.config).loraTargets.allLinear];
      const spec: AdapterSpec = { ...c.spec, targetModules: targets };
      const init = new Map<string, ModuleWeights>();
      for (const [k, m] of targetedModules(model.config, targets).entries()) {
        const seed = 1000 * n + 10 * k;
        init.set(m.path, {
          A: randn(spec.rank * m.inFeatures, seed, 1 / Math.sqrt(m.inFeatures)),
          B: randn(m.outFeatures * spec.rank, seed + 1, 0.3 / Math.sqrt(spec.rank)),
          magnitude: spec.useDora ? randUniform(m.outFeatures, seed + 2, 0.5, 2) : undefined,
        });
      }
      const adapter = createAdapter(ctx, model.config, spec, 0, init);
      const ids = Array.from({ length: 23 }, (_, i) => (i * 37 + 5 * n + 3) % model.config.vocabSize);
      const engine = await lastLogits(model, ids, { adapter, seed: 0, training: false });
      const engineBase = await lastLogits(model, ids, null);
      const files = exportPeftFiles({
        config: model.config,
        modelName: c.name,
        rank: spec.rank,
        alpha: spec.alpha,
        dropout: 0,
        useRslora: spec.useRslora,
        useDora: spec.useDora,
        adapters: [...(await downloadAdapter(ctx, adapter))].map(([module, w]) => ({ module, a: w.A, b: w.B, magnitude: w.magnitude })),
      });
      releaseAdapter(ctx, adapter);
      const dir = join(tmp, `case-${n}`);
      mkdirSync(dir, { recursive: true });
      for (const f of files) writeFileSync(join(dir, f.name), f.bytes);

      const { adapter: hf, base: hfBase } = peftLogits(c.dir, dir, ids);
      // the adapter moves the logits far more than the tolerance (else the check would not see a wrong name or scale)
      let moved = 0;
      for (let i = 0; i < hf.length; i++) moved = Math.max(moved, Math.abs(hf[i] - hfBase[i]));
      const base = expectClose(`${c.name}: engine base logits vs transformers`, engineBase, hfBase, { atol: 1e-4, rtol: 1e-4 });
      const r = expectClose(`${c.name}: engine adapter logits vs transformers + peft on the exported files`, engine, hf, { atol: 1e-4, rtol: 1e-4 });
      console.log(`${c.name}: the adapter moves the logits by up to ${moved.toFixed(3)}; engine vs peft max |diff| ${r.maxAbsErr.toExponential(2)} (base ${base.maxAbsErr.toExponential(2)})`);
      expect(moved).toBeGreaterThan(50 * r.maxAbsErr + 0.05);
    });
  }

  for (const [name, dir] of [['stories260K (llama)', DEMO_MODEL_DIR], ['qwen3', join(FIXTURES_DIR, 'arch-qwen3')]] as const) {
    it(`prompt tuning on ${name}`, { timeout: 600_000 }, async () => {
      const ctx = await getTestGpu();
      const model = await loadModelDir(ctx, dir);
      const p = await createPromptTuning(ctx, model, { n: 5, init: 'random', seed: 11 });
      const ids = Array.from({ length: 17 }, (_, i) => (i * 29 + 7) % model.config.vocabSize);
      // the engine writes the virtual tokens over the first n positions: placeholders there
      const engine = await lastLogits(model, [...new Array<number>(p.n).fill(0), ...ids], promptRun(p, false));
      const files = exportPromptTuningFiles({ config: model.config, modelName: name, numVirtualTokens: p.n, embeddings: await downloadPromptEmbeddings(ctx, p) });
      releasePromptTuning(ctx, p);
      const out = join(tmp, `prompt-${name.split(' ')[0]}`);
      mkdirSync(out, { recursive: true });
      for (const f of files) writeFileSync(join(out, f.name), f.bytes);
      const { adapter: hf, base: hfBase } = peftLogits(dir, out, ids);
      let moved = 0;
      for (let i = 0; i < hf.length; i++) moved = Math.max(moved, Math.abs(hf[i] - hfBase[i]));
      const r = expectClose(`${name}: engine prompt-tuned logits vs transformers + peft on the exported files`, engine, hf, { atol: 1e-4, rtol: 1e-4 });
      console.log(`prompt tuning on ${name}: the virtual tokens move the logits by up to ${moved.toFixed(3)}; engine vs peft max |diff| ${r.maxAbsErr.toExponential(2)}`);
      expect(moved).toBeGreaterThan(50 * r.maxAbsErr + 0.05);
    });
  }

  for (const [name, dir] of [['stories260K (llama)', DEMO_MODEL_DIR], ['qwen2 (grouped kv heads, q/k/v bias)', join(FIXTURES_DIR, 'arch-qwen2')]] as const) {
    it(`prefix tuning on ${name}`, { timeout: 600_000 }, async () => {
      const ctx = await getTestGpu();
      const model = await loadModelDir(ctx, dir);
      const p = createPrefixTuning(ctx, model.config, { n: 6, seed: 13 });
      const ids = Array.from({ length: 19 }, (_, i) => (i * 31 + 5) % model.config.vocabSize);
      // the ids sit at positions n.. after the prefix (HF's cache_position), no document ids
      const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => p.n + i), docIds: null }, 'test');
      const l = await model.lastLogits(inp, prefixRun(p, false));
      const engine = new Float32Array(await readBuffer(ctx, l.buffer, model.config.vocabSize * 4));
      const files = exportPrefixTuningFiles({ config: model.config, modelName: name, numVirtualTokens: p.n, table: await downloadPrefixTable(ctx, p) });
      releasePrefixTuning(ctx, p);
      const out = join(tmp, `prefix-${name.split(' ')[0]}`);
      mkdirSync(out, { recursive: true });
      for (const f of files) writeFileSync(join(out, f.name), f.bytes);
      const { adapter: hf, base: hfBase } = peftLogits(dir, out, ids);
      let moved = 0;
      for (let i = 0; i < hf.length; i++) moved = Math.max(moved, Math.abs(hf[i] - hfBase[i]));
      const r = expectClose(`${name}: engine prefix-tuned logits vs transformers + peft on the exported files`, engine, hf, { atol: 1e-4, rtol: 1e-4 });
      console.log(`prefix tuning on ${name}: the prefix moves the logits by up to ${moved.toFixed(3)}; engine vs peft max |diff| ${r.maxAbsErr.toExponential(2)}`);
      expect(moved).toBeGreaterThan(50 * r.maxAbsErr + 0.05);
    });
  }

  it('a prefix PEFT trained with prefix_projection (its MLP) imports as the table PEFT saved, with PEFT’s logits', { timeout: 600_000 }, async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const ids = Array.from({ length: 15 }, (_, i) => (i * 23 + 9) % model.config.vocabSize);
    const out = join(tmp, 'prefix-projection');
    const idsFile = join(tmp, 'prefix-projection-ids.json');
    writeFileSync(idsFile, JSON.stringify(ids));
    const py = spawnSync(hfPython(), [join(REPO_ROOT, 'reference/hf_peft_prefix_projection.py'), DEMO_MODEL_DIR, out, idsFile, '6'], { encoding: 'utf8', env: hfEnv(), timeout: 300_000 });
    expect(py.status, py.stderr).toBe(0);
    const hf = JSON.parse(py.stdout) as { adapter: number[]; base: number[] };
    const cfgText = readFileSync(join(out, 'adapter_config.json'), 'utf8');
    expect(JSON.parse(cfgText)).toMatchObject({ peft_type: 'PREFIX_TUNING', prefix_projection: true });
    const pc = parsePrefixTuningConfig(cfgText);
    const table = await readPeftPrefixTuning(pc, await fileSource(join(out, 'adapter_model.safetensors')), model.config);
    const p = createPrefixTuning(ctx, model.config, { n: pc.numVirtualTokens, seed: 0, initialTable: table });
    const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => p.n + i), docIds: null }, 'test');
    const l = await model.lastLogits(inp, prefixRun(p, false));
    const engine = new Float32Array(await readBuffer(ctx, l.buffer, model.config.vocabSize * 4));
    releasePrefixTuning(ctx, p);
    let moved = 0;
    for (let i = 0; i < hf.adapter.length; i++) moved = Math.max(moved, Math.abs(hf.adapter[i] - hf.base[i]));
    const r = expectClose('imported prefix_projection adapter vs PEFT’s own model (its MLP)', engine, Float32Array.from(hf.adapter), { atol: 1e-4, rtol: 1e-4 });
    console.log(`prefix_projection adapter from peft: the prefix moves the logits by up to ${moved.toFixed(3)}; engine (imported table) vs peft (MLP) max |diff| ${r.maxAbsErr.toExponential(2)}`);
    expect(moved).toBeGreaterThan(50 * r.maxAbsErr + 0.05);
    model.release();
  });

  for (const [name, dir] of [['stories260K (llama)', DEMO_MODEL_DIR], ['qwen2', join(FIXTURES_DIR, 'arch-qwen2')]] as const)
  it(`prefix_projection training on ${name}: the loss and the gradient of every tensor of the MLP equal PEFT’s own backward`, { timeout: 600_000 }, async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, dir);
    const ids = Array.from({ length: 21 }, (_, i) => (i * 29 + 11) % model.config.vocabSize);
    const tag = name.split(' ')[0];
    const out = join(tmp, `prefix-projection-grads-${tag}`);
    const idsFile = join(tmp, `prefix-projection-grads-ids-${tag}.json`);
    const gradsFile = join(tmp, `prefix-projection-grads-${tag}.safetensors`);
    writeFileSync(idsFile, JSON.stringify(ids));
    const py = spawnSync(hfPython(), [join(REPO_ROOT, 'reference/hf_peft_prefix_projection.py'), dir, out, idsFile, '6', gradsFile], { encoding: 'utf8', env: hfEnv(), timeout: 300_000 });
    expect(py.status, py.stderr).toBe(0);
    const want = JSON.parse(py.stdout) as { loss: number };
    const src = await fileSource(gradsFile);
    const header = await readSafetensorsHeader(src);
    const N = PREFIX_PROJECTION_NAMES;
    const initial = { emb: await readTensorF32(src, header, N.emb), w1: await readTensorF32(src, header, N.w1), b1: await readTensorF32(src, header, N.b1), w2: await readTensorF32(src, header, N.w2), b2: await readTensorF32(src, header, N.b2) };
    const p = createPrefixTuning(ctx, model.config, { n: 6, seed: 0, projection: { hidden: 24, initial } });
    await projectPrefix(ctx, p);
    const T = ids.length;
    const batch = { B: 1, T, tokens: Int32Array.from(ids), labels: Int32Array.from(ids, (_, t) => (t + 1 < T ? ids[t + 1] : -100)), positions: Int32Array.from(ids, (_, i) => i), docIds: new Int32Array(T), trainedTokens: T - 1 };
    const lossAcc = emptyTensor(ctx, 'f32', [1], 'loss');
    model.zero(lossAcc);
    for (const l of p.layers) model.zero(l.grad);
    await model.trainStep(model.upload(withPrefixPositions(batch, p.n)), lossAcc, { run: { ...prefixRun(p, true), seed: 1 }, countedTokens: T - 1, labelSmoothing: 0, activationCheckpointing: false });
    await projectPrefixBackward(ctx, p);
    ctx.flush();
    const loss = new Float32Array(await readBuffer(ctx, lossAcc.buffer, 4))[0];
    expect(Math.abs(loss - want.loss), `loss ${loss} vs PEFT ${want.loss}`).toBeLessThanOrEqual(1e-5 * want.loss);
    const m = p.projection!;
    const worst: string[] = [];
    for (const [name, t] of [[N.emb, m.dEmb], [N.w1, m.dW1], [N.b1, m.dB1], [N.w2, m.dW2], [N.b2, m.dB2]] as const) {
      const ref = await readTensorF32(src, header, `grad/${name}`);
      const scale = ref.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
      expect(scale, name).toBeGreaterThan(0);
      const r = expectClose(`d ${name} vs PEFT`, await downloadF32(ctx, t), ref, { atol: 2e-4 * scale, rtol: 1e-3 });
      worst.push(`${name.replace('prompt_encoder.', '')} ${(r.maxAbsErr / scale).toExponential(1)}`);
    }
    console.log(`prefix_projection on ${name} vs PEFT: loss ${loss} vs ${want.loss}; gradient max |diff| / max |grad|: ${worst.join(', ')}`);
    releaseTensor(ctx, lossAcc);
    releasePrefixTuning(ctx, p);
    model.release();
  });
});
