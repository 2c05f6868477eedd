// The engine with a DoRA job, in Node on the test GPU with the demo model and the sample dataset:
// it trains, exports PEFT DoRA files (the same from memory and from the run's checkpoint), refuses
// the GGUF adapter pointing at the merged model, exports the merged model, and the PEFT files
// imported into a fresh engine generate the same text as the trained adapter.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { DEMO_MODEL_DIR, REPO_ROOT } from '../model/testing/loadForTest';
import { MemoryKeyValueStore } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import type { ExportedFile } from './api';
import { Engine } from './engine';

function filesOf(dir: string): File[] {
  return readdirSync(dir).map((f) => new File([readFileSync(join(dir, f))], f));
}

async function readyEngine() {
  const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
  expect((await engine.init()).state).toBe('ready');
  await engine.loadModel({ kind: 'files', files: filesOf(DEMO_MODEL_DIR), name: 'stories260K' });
  const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
  await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 48, trainOn: 'all', onBadRow: 'skip', validationFraction: 0.1, seed: 1 });
  return engine;
}

const greedy = { chat: false, sampling: { maxTokens: 10, temperature: 0, topK: 0, topP: 1, seed: 0, greedy: true } };
const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  lora: { ...DEFAULT_CONFIG.lora, rank: 4, alpha: 8, useDora: true },
  batchSize: 2,
  seqLen: 48,
  warmupSteps: 0,
  schedule: 'constant',
  learningRate: 5e-3,
  evalEvery: 0,
  checkpointEvery: 3,
  maxSteps: 3,
};

describe('Engine: DoRA', () => {
  it('trains, exports PEFT DoRA and the merged model, refuses GGUF, imports back to the same generations', async () => {
    const engine = await readyEngine();
    await expect(engine.startTraining({ ...config, lora: { ...config.lora, dropout: 0.1 } }, { onProgress: () => {}, onStatus: () => {} })).rejects.toThrow(/DoRA trains without LoRA dropout/);
    const summary = await engine.startTraining(config, { onProgress: () => {}, onStatus: () => {} });
    expect(summary.status).toBe('finished');
    const [run] = await engine.listRuns();
    const files = await engine.exportPeft();
    const cfg = JSON.parse(new TextDecoder().decode(files.find((f) => f.name === 'adapter_config.json')!.bytes));
    expect(cfg).toMatchObject({ peft_type: 'LORA', use_dora: true, r: 4 });
    // the checkpoint of the last step holds the same adapter
    const fromRun = await engine.exportPeft(run.id);
    expect(Array.from(fromRun.find((f) => f.name === 'adapter_model.safetensors')!.bytes)).toEqual(Array.from(files.find((f) => f.name === 'adapter_model.safetensors')!.bytes));
    await expect(engine.exportGguf()).rejects.toThrow(/no DoRA magnitude.*Export the merged model instead/);
    const merged = await engine.exportMerged(run.id);
    expect(merged.map((f) => f.name)).toContain('model.safetensors');

    const tuned = await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: true });
    const plain = await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: false });
    const fresh = await readyEngine();
    expect(await fresh.importAdapter(files.map((f: ExportedFile) => new File([f.bytes as Uint8Array<ArrayBuffer>], f.name)))).toMatchObject({ method: 'lora', rank: 4 });
    expect(await fresh.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: true })).toBe(tuned);
    expect(await fresh.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: false })).toBe(plain);
  }, 300_000);
});
