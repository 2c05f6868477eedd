// A merged-model export reports its progress: the base weights read back from the GPU (bytes,
// up to their total, so the page can show an ETA), then the writing of the file.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { DEMO_MODEL_DIR, REPO_ROOT } from '../model/testing/loadForTest';
import { MemoryKeyValueStore } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import type { ExportProgressEvent } from './api';
import { Engine } from './engine';

const config: TrainConfig = { ...DEFAULT_CONFIG, lora: { ...DEFAULT_CONFIG.lora, rank: 4, alpha: 8 }, maxSteps: 2, batchSize: 2, seqLen: 64, warmupSteps: 0, evalEvery: 0, checkpointEvery: 2 };

describe('Engine: export progress', () => {
  it('exportMerged reports the weights read (monotone, up to the model size) and then the writing', async () => {
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    const files = readdirSync(DEMO_MODEL_DIR).map((f) => new File([readFileSync(join(DEMO_MODEL_DIR, f))], f));
    const info = await engine.loadModel({ kind: 'files', files, name: 'stories260K' });
    const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
    await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 64, trainOn: 'completions', onBadRow: 'skip', validationFraction: 0, seed: 1 });
    await engine.startTraining(config, { onProgress: () => {}, onStatus: () => {} });
    const events: ExportProgressEvent[] = [];
    const out = await engine.exportMerged(undefined, undefined, (e) => events.push(e));
    expect(out.map((f) => f.name)).toContain('model.safetensors');
    const reading = events.filter((e) => e.phase === 'reading');
    expect(reading.length).toBeGreaterThan(2);
    expect(reading.every((e) => e.bytesTotal === info.weightBytes)).toBe(true);
    for (let i = 1; i < reading.length; i++) expect(reading[i].bytesDone).toBeGreaterThan(reading[i - 1].bytesDone);
    expect(reading[0].bytesDone).toBe(0);
    expect(reading.at(-1)!.bytesDone).toBe(info.weightBytes);
    expect(events.at(-1)!.phase).toBe('writing');
  }, 60_000);
});
