// Bottleneck adapters' export in the AdapterHub adapters layout, checked by the PyTorch reference
// that applies a saved folder the way the library does (reference/bottleneck_fixtures.py
// --check-adapters: the flags read from adapter_config.json, the tensors by the library's names):
// on the demo model (Pfeiffer and Houlsby) and the tiny Qwen2 (Houlsby), the exported folder gives
// the engine's last-position logits. The config carries the library's SeqBnConfig /
// DoubleSeqBnConfig fields; a tensor the checkpoint lacks or misshapes is refused by name.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { downloadF32, readBuffer } from '../gpu/tensor';
import { fileSource } from '../io/byteSourceNode';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { expectClose } from '../util/check';
import { bottleneckParams, createBottleneck, releaseBottleneck, type BottleneckVariant } from '../model/bottleneck';
import { FIXTURES_DIR, loadModelDir } from '../model/testing/loadForTest';
import { exportBottleneckFiles } from './exportBottleneck';
import { BOTTLENECK_NO_GGUF, BOTTLENECK_NO_MERGE, ggufRefusal } from './export';

const ROOT = join(FIXTURES_DIR, '..', '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'whetstone-bottleneck-export-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CASES: [string, string, BottleneckVariant, number][] = [
  ['stories260k-pfeiffer', 'public/models/stories260K', 'pfeiffer', 16],
  ['stories260k-houlsby', 'public/models/stories260K', 'houlsby', 8],
  ['qwen2-houlsby', 'src/model/fixtures/arch-qwen2', 'houlsby', 5],
];

describe.each(CASES)('bottleneck export %s', (fixture, folder, variant, reductionFactor) => {
  it("loads in the adapters library's semantics (PyTorch) and gives the engine's logits", async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, join(ROOT, folder));
    // the fixture's random adapter (a fresh one is near the identity and would test little)
    const src = await fileSource(join(FIXTURES_DIR, 'bottleneck', `${fixture}.safetensors`));
    const header = await readSafetensorsHeader(src);
    const initial = new Map<string, Float32Array>();
    for (const k of header.byName.keys()) if (!k.startsWith('grad/')) initial.set(k, await readTensorF32(src, header, k));
    const b = createBottleneck(ctx, model.config, { variant, reductionFactor, seed: 0, initial });
    const params = new Map<string, Float32Array>();
    for (const p of bottleneckParams(b)) params.set(p.name, await downloadF32(ctx, p.param));
    const files = exportBottleneckFiles({ config: model.config, modelName: fixture, variant, reductionFactor, name: b.name, params });
    expect(files.map((f) => f.name)).toEqual(['adapter_config.json', 'adapter.safetensors']);
    const cfg = JSON.parse(new TextDecoder().decode(files[0].bytes)) as { name: string; hidden_size: number; model_class: string; config: Record<string, unknown> };
    expect(cfg.name).toBe('bottleneck');
    expect(cfg.hidden_size).toBe(model.config.hiddenSize);
    expect(cfg.model_class).toBe(model.config.hfArchitecture);
    expect(cfg.config).toMatchObject(
      variant === 'houlsby'
        ? { architecture: 'bottleneck', mh_adapter: true, output_adapter: true, original_ln_before: false, original_ln_after: true, non_linearity: 'swish', reduction_factor: reductionFactor }
        : { architecture: 'bottleneck', mh_adapter: false, output_adapter: true, original_ln_before: true, original_ln_after: true, non_linearity: 'relu', reduction_factor: reductionFactor },
    );

    const dir = join(tmp, fixture);
    mkdirSync(dir, { recursive: true });
    for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
    const ids = Array.from({ length: 40 }, (_, t) => (t * 37 + 11) % model.config.vocabSize);
    writeFileSync(join(dir, 'ids.json'), JSON.stringify(ids));
    const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
    const l = await model.lastLogits(inp, { bottleneck: b, seed: 0, training: false });
    const engine = new Float32Array(await readBuffer(ctx, l.buffer, model.config.vocabSize * 4));
    const py = spawnSync('/usr/bin/python3', [join(ROOT, 'reference/bottleneck_fixtures.py'), '--check-adapters', dir, folder, join(dir, 'ids.json')], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    expect(py.status, py.stderr).toBe(0);
    const ref = Float32Array.from(JSON.parse(py.stdout) as number[]);
    expectClose(`${fixture} exported adapter logits`, engine, ref, { atol: 5e-4, rtol: 1e-4 });
    // the adapter matters: the base model's logits are far from these
    const base = await model.lastLogits(model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test'), null);
    const baseLogits = new Float32Array(await readBuffer(ctx, base.buffer, model.config.vocabSize * 4));
    expect(baseLogits.reduce((s, x, i) => Math.max(s, Math.abs(x - ref[i])), 0)).toBeGreaterThan(0.05);
    releaseBottleneck(ctx, b);
    model.release();
  }, 240_000);
});

describe('bottleneck export refusals', () => {
  it('names a missing or misshapen tensor, and says why there is no GGUF or merged model', async () => {
    const ctx = await getTestGpu();
    const model = await loadModelDir(ctx, join(ROOT, 'public/models/stories260K'));
    const params = new Map<string, Float32Array>();
    const base = { config: model.config, modelName: 'x', variant: 'pfeiffer' as const, reductionFactor: 16, name: 'bottleneck', params };
    expect(() => exportBottleneckFiles(base)).toThrow(/has no tensor model\.layers\.0\.output_adapters\.adapters\.bottleneck\.adapter_down\.0\.weight/);
    params.set('model.layers.0.output_adapters.adapters.bottleneck.adapter_down.0.weight', new Float32Array(3));
    expect(() => exportBottleneckFiles(base)).toThrow(/adapter_down\.0\.weight has 3 values, expected \[4, 64\]/);
    expect(ggufRefusal('bottleneck')).toBe(BOTTLENECK_NO_GGUF);
    expect(BOTTLENECK_NO_MERGE).toMatch(/non-linearity/);
    model.release();
  });
});
