// The engine with a bottleneck-adapter job, in Node on the test GPU with the demo model and the
// sample dataset: the memory estimate names the method, it trains (Houlsby), exports the adapters
// library's folder (the same bytes from memory and from the run's checkpoint), refuses the GGUF
// adapter and the merged model with the reason, and generation with the adapter differs from the
// base model's; on GPT-2 (not a Llama-family block) the job is refused before anything is allocated.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { DEMO_MODEL_DIR, FIXTURES_DIR, REPO_ROOT } from '../model/testing/loadForTest';
import { MemoryKeyValueStore } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import { Engine } from './engine';

function filesOf(dir: string): File[] {
  return readdirSync(dir).map((f) => new File([readFileSync(join(dir, f))], f));
}

async function readyEngine(dir = DEMO_MODEL_DIR, name = 'stories260K') {
  const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
  expect((await engine.init()).state).toBe('ready');
  await engine.loadModel({ kind: 'files', files: filesOf(dir), name });
  const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
  await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 48, trainOn: 'all', onBadRow: 'skip', validationFraction: 0.1, seed: 1 });
  return engine;
}

const greedy = { chat: false, sampling: { maxTokens: 10, temperature: 0, topK: 0, topP: 1, seed: 0, greedy: true } };
const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  method: 'bottleneck',
  bottleneck: { variant: 'houlsby', reductionFactor: 8 },
  batchSize: 2,
  seqLen: 48,
  warmupSteps: 0,
  schedule: 'constant',
  learningRate: 1e-2,
  evalEvery: 0,
  checkpointEvery: 3,
  maxSteps: 6,
};

describe('Engine: bottleneck adapters', () => {
  it('estimates, trains, exports the adapters layout, refuses GGUF and merging, and changes the generations', async () => {
    const engine = await readyEngine();
    const est = await engine.estimate(config);
    expect(est.method).toBe('bottleneck');
    const summary = await engine.startTraining(config, { onProgress: () => {}, onStatus: () => {} });
    expect(summary.status).toBe('finished');
    expect(summary.method).toBe('bottleneck');
    const [run] = await engine.listRuns();
    const files = await engine.exportPeft();
    expect(files.map((f) => f.name)).toEqual(['adapter_config.json', 'adapter.safetensors']);
    const cfg = JSON.parse(new TextDecoder().decode(files[0].bytes));
    expect(cfg).toMatchObject({ name: 'bottleneck', model_type: 'llama', hidden_size: 64, config: { architecture: 'bottleneck', mh_adapter: true, non_linearity: 'swish', reduction_factor: 8 } });
    const fromRun = await engine.exportPeft(run.id);
    expect(Array.from(fromRun[1].bytes)).toEqual(Array.from(files[1].bytes));
    expect(new TextDecoder().decode(fromRun[0].bytes)).toBe(new TextDecoder().decode(files[0].bytes));
    await expect(engine.exportGguf()).rejects.toThrow(/llama\.cpp has no bottleneck adapters/);
    await expect(engine.exportMerged()).rejects.toThrow(/cannot be merged into the weights: its non-linearity/);
    await expect(engine.exportMerged(run.id)).rejects.toThrow(/cannot be merged/);
    const tuned = await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: true });
    const plain = await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: false });
    console.log(`bottleneck engine: base "${plain}" / adapter "${tuned}"`);
    expect(tuned).not.toBe(plain);
  }, 300_000);

  it('refuses the job on GPT-2 with a message naming the architecture and what to choose', async () => {
    const engine = await readyEngine(join(FIXTURES_DIR, 'tiny-gpt2'), 'tiny-gpt2');
    await expect(engine.startTraining({ ...config, seqLen: 32 }, { onProgress: () => {}, onStatus: () => {} })).rejects.toThrow(/Bottleneck adapters are not available for GPT2LMHeadModel yet.*Choose LoRA or prompt tuning/);
  }, 300_000);
});
