// A run records its base's load-time precision: resuming on the same model at another precision
// (an int8-quantized base loaded now as fp16, or int4) is refused naming both and the fix; at the
// run's precision it resumes and finishes. Runs from before (no precision recorded) are fp16 runs.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { DEMO_MODEL_DIR, REPO_ROOT } from '../model/testing/loadForTest';
import { MemoryKeyValueStore, type RunRecord } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import { engineDebug } from './debugHooks';
import { Engine } from './engine';
import { checkRunBase } from './services/runBase';
import type { ModelInfo } from './api';

const files = () => readdirSync(DEMO_MODEL_DIR).map((f) => new File([readFileSync(join(DEMO_MODEL_DIR, f))], f));
const job: TrainConfig = { ...DEFAULT_CONFIG, batchSize: 2, seqLen: 48, warmupSteps: 0, schedule: 'constant', evalEvery: 0, checkpointEvery: 2, maxSteps: 5 };
const quiet = { onProgress: () => {}, onStatus: () => {} };

describe('a run remembers the precision of its base', () => {
  it('an int8 run paused at step 2: refused on fp16 and int4 bases (both precisions and the fix named), resumes on int8', async () => {
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    expect((await engine.init()).state).toBe('ready');
    const load = (quantize: 'none' | 'int8' | 'int4') => engine.loadModel({ kind: 'files', files: files(), name: 'stories260K' }, undefined, { quantize });
    expect((await load('int8')).quantization).toBe('int8');
    const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
    await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 48, trainOn: 'all', onBadRow: 'skip', validationFraction: 0.1, seed: 1 });
    await engineDebug(engine).injectNaN(3);
    await engine.startTraining(job, quiet).catch(() => {});
    const [paused] = await engine.listRuns();
    expect(paused).toMatchObject({ status: 'paused', checkpointStep: 2 });

    await load('none');
    const fp16 = await engine.resume(paused.id, quiet).catch((e: Error) => e);
    expect(fp16).toBeInstanceOf(Error);
    expect((fp16 as Error).message).toMatch(/trained on stories260K with an int8 base, but it is loaded now with an fp16 \(not quantized at load\) base.*Base weights int8 in the model step \(command line: --quantize int8\) to resume it/);
    await load('int4');
    expect(((await engine.resume(paused.id, quiet).catch((e: Error) => e)) as Error).message).toMatch(/int8 base, but it is loaded now with an int4 base/);
    expect((await engine.listRuns()).map((r) => [r.status, r.checkpointStep])).toEqual([['paused', 2]]); // untouched

    await load('int8');
    expect((await engine.resume(paused.id, quiet)).status).toBe('finished');
  }, 300_000);

  it('a run from before (no precision recorded) is an fp16 run; a different fingerprint is still the model message', () => {
    const info = { name: 'm', fingerprint: 'abc', hfArchitecture: 'LlamaForCausalLM' } as ModelInfo;
    const run = { model: { name: 'm', architecture: 'LlamaForCausalLM', fingerprint: 'abc' } } as RunRecord;
    expect(() => checkRunBase(run, info, 'resume it')).not.toThrow();
    expect(() => checkRunBase(run, { ...info, quantization: 'int4' }, 'resume it')).toThrow(/fp16 \(not quantized at load\) base, but it is loaded now with an int4 base.*Base weights fp16.*--quantize none \(the default\)/);
    expect(() => checkRunBase(run, { ...info, fingerprint: 'def' }, 'resume it')).toThrow(/^This run was trained on m; load that model to resume it\.$/);
  });
});
