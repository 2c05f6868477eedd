// A run keeps its tokenized dataset: the file format reads back bit for bit, and a resume in a
// fresh engine (a reopened tab: same stores, nothing loaded but the model) continues the run
// without the dataset being loaded again and ends with the same adapter bytes as a run that was
// never interrupted. Deleting the run frees the files.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TokenizedDataset } from '../data';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { DEMO_MODEL_DIR, REPO_ROOT } from '../model/testing/loadForTest';
import { MemoryKeyValueStore } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import type { DatasetInfo } from './api';
import { Engine } from './engine';
import { decodeRunDataset, encodeRunDataset, MemoryRunFiles } from './runStorage';

const modelFiles = () => readdirSync(DEMO_MODEL_DIR).map((f) => new File([readFileSync(join(DEMO_MODEL_DIR, f))], f));
const sample = () => new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
const datasetOpts = { maxSeqLen: 64, trainOn: 'completions' as const, onBadRow: 'skip' as const, validationFraction: 0.1, seed: 1 };

const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  lora: { ...DEFAULT_CONFIG.lora, rank: 4, alpha: 8 },
  maxSteps: 4,
  batchSize: 2,
  seqLen: 64,
  learningRate: 5e-3,
  warmupSteps: 0,
  evalEvery: 2,
  checkpointEvery: 2,
};

function split(n: number, tokens: number[]): TokenizedDataset {
  return {
    fileName: 'x.jsonl',
    format: { kind: 'jsonl', name: 'text', columns: ['text'] } as unknown as TokenizedDataset['format'],
    maxSeqLen: 16,
    tokens: Int32Array.from(tokens),
    trained: Uint8Array.from(tokens.map((t) => t & 1)),
    offsets: Int32Array.from({ length: n + 1 }, (_, i) => Math.round((i * tokens.length) / n)),
    lines: Int32Array.from({ length: n }, (_, i) => 2 * i + 1),
    badRows: [{ line: 7, code: 'empty', message: 'row 7 is empty' }] as unknown as TokenizedDataset['badRows'],
    stats: { examples: n } as unknown as TokenizedDataset['stats'],
  };
}

describe('run storage: the dataset kept with a run', () => {
  it('reads back bit for bit (odd lengths, negative and large ids, empty validation split)', async () => {
    const train = split(3, [5, -1, 2 ** 31 - 1, 0, 7, 9, 11]);
    const validation = split(0, []);
    const info = { name: 'x.jsonl', fingerprint: 'abc-7' } as DatasetInfo;
    const back = decodeRunDataset(await encodeRunDataset({ train, validation, info }).arrayBuffer());
    expect(back.info).toEqual(info);
    for (const [a, b] of [
      [back.train, train],
      [back.validation, validation],
    ] as const) {
      expect(a).toEqual(b);
      expect(a.tokens).toBeInstanceOf(Int32Array);
      expect(a.trained).toBeInstanceOf(Uint8Array);
    }
  });

  it('refuses a file it did not write, and one cut short', async () => {
    expect(() => decodeRunDataset(new Uint32Array([1, 2, 3]).buffer)).toThrow(/not one Whetstone wrote/);
    const whole = await encodeRunDataset({ train: split(2, [1, 2, 3, 4]), validation: split(1, [5]), info: { fingerprint: 'f' } as DatasetInfo }).arrayBuffer();
    expect(() => decodeRunDataset(whole.slice(0, whole.byteLength - 8))).toThrow(/cut short/);
  });

  it('a fresh engine resumes a paused run with only the model loaded, to the same adapter bytes as an uninterrupted run; deleting frees the files', async () => {
    const gpu = nodeGpu();
    const kv = new MemoryKeyValueStore();
    const runFiles = new MemoryRunFiles();
    const first = new Engine({ gpu, kv, runFiles });
    await first.loadModel({ kind: 'files', files: modelFiles(), name: 'stories260K' });
    await first.loadDataset({ kind: 'file', file: sample() }, datasetOpts);
    const paused = await first.startTraining(config, { onProgress: (p) => void (p.step === 2 && first.pause()), onStatus: () => {} }, 'interrupted');
    expect(paused.status).toBe('paused');
    expect(paused.checkpointStep).toBeLessThan(4);
    expect(paused.modelSource).toEqual({ kind: 'folder', name: 'stories260K' });
    expect(paused.storage!.datasetBytes).toBeGreaterThan(1000);
    expect(paused.storage!.checkpointBytes).toBeGreaterThan(0);
    expect(runFiles.files.size).toBe(1);

    // the reopened tab: same stores, a new engine with the model loaded and no dataset
    const second = new Engine({ gpu, kv, runFiles });
    await second.loadModel({ kind: 'files', files: modelFiles(), name: 'stories260K' });
    const steps: number[] = [];
    const resumed = await second.resume(paused.id, { onProgress: (p) => steps.push(p.step), onStatus: () => {} });
    expect(resumed.status).toBe('finished');
    expect(steps[0]).toBe(paused.checkpointStep + 1);
    const resumedPeft = await second.exportPeft(paused.id);

    const straight = new Engine({ gpu, kv: new MemoryKeyValueStore(), runFiles: new MemoryRunFiles() });
    await straight.loadModel({ kind: 'files', files: modelFiles(), name: 'stories260K' });
    await straight.loadDataset({ kind: 'file', file: sample() }, datasetOpts);
    const done = await straight.startTraining(config, { onProgress: () => {}, onStatus: () => {} });
    const straightPeft = await straight.exportPeft(done.id);
    const weights = (files: { name: string; bytes: Uint8Array }[]) => Buffer.from(files.find((f) => f.name === 'adapter_model.safetensors')!.bytes);
    expect(weights(resumedPeft).equals(weights(straightPeft))).toBe(true);

    await second.deleteRun(paused.id);
    expect(runFiles.files.size).toBe(0);
    expect(await second.listRuns()).toEqual([]);
  }, 120_000);

  it('a run whose dataset was not kept asks for it by name', async () => {
    const gpu = nodeGpu();
    const kv = new MemoryKeyValueStore();
    const runFiles = new MemoryRunFiles();
    const first = new Engine({ gpu, kv, runFiles });
    await first.loadModel({ kind: 'files', files: modelFiles(), name: 'stories260K' });
    await first.loadDataset({ kind: 'file', file: sample() }, datasetOpts);
    const paused = await first.startTraining(config, { onProgress: (p) => void (p.step === 2 && first.pause()), onStatus: () => {} });
    await runFiles.remove(paused.id); // the browser cleared the site's files
    const second = new Engine({ gpu, kv, runFiles });
    await second.loadModel({ kind: 'files', files: modelFiles(), name: 'stories260K' });
    await expect(second.resume(paused.id, { onProgress: () => {}, onStatus: () => {} })).rejects.toThrow(/the copy kept with the run is gone.*load sample\.jsonl in step 2/);
  }, 120_000);
});
