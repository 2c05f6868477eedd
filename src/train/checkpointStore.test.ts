import { describe, expect, it } from 'vitest';
import { CheckpointStore, MemoryKeyValueStore, type CheckpointRecord, type RunRecord } from './checkpointStore';

function run(): RunRecord {
  return {
    id: 'r1',
    name: 'test',
    createdAt: 1,
    updatedAt: 1,
    status: 'running',
    model: { name: 'm', architecture: 'llama', fingerprint: 'f' },
    dataset: { name: 'd', fingerprint: 'g' },
    config: {},
    totalSteps: 10,
    history: [],
    checkpoint: null,
    checkpointStep: 0,
  };
}

function ckpt(step: number): CheckpointRecord {
  return {
    runId: 'r1',
    step,
    params: { a: new Float32Array([step, 2]) },
    adamM: { a: new Float32Array([0.1, 0.2]) },
    adamV: { a: new Float32Array([0.3, 0.4]) },
    cursor: { epoch: 0, position: step },
    rngState: [step],
    history: [{ step, loss: 1 / (step + 1), lr: 1, gradNorm: 1, tokensPerSecond: 1 }],
    savedAt: step,
  };
}

describe('CheckpointStore', () => {
  it('saves, points at the newest, deletes the previous, and loads back exactly', async () => {
    const kv = new MemoryKeyValueStore();
    const store = new CheckpointStore(kv);
    const r = run();
    await store.putRun(r);
    await store.saveCheckpoint(r, ckpt(5));
    await store.saveCheckpoint(r, ckpt(10));
    const back = await store.getRun('r1');
    expect(back?.checkpointStep).toBe(10);
    const c = await store.loadCheckpoint(back!);
    expect(Array.from(c!.params.a)).toEqual([10, 2]);
    expect((await kv.keys()).filter((k) => k.startsWith('ckpt:')).length).toBe(1);
  });

  it('a failure while writing the new record leaves the previous checkpoint usable', async () => {
    const kv = new MemoryKeyValueStore();
    const store = new CheckpointStore(kv);
    const r = run();
    await store.putRun(r);
    await store.saveCheckpoint(r, ckpt(5));
    kv.failNextSet = (k) => k.startsWith('ckpt:');
    await expect(store.saveCheckpoint({ ...r }, ckpt(10))).rejects.toThrow(/quota/);
    const back = await store.getRun('r1');
    expect(back?.checkpointStep).toBe(5);
    expect((await store.loadCheckpoint(back!))?.step).toBe(5);
  });

  it('a failure while moving the pointer leaves the previous checkpoint, and the orphan is cleaned', async () => {
    const kv = new MemoryKeyValueStore();
    const store = new CheckpointStore(kv);
    const r = run();
    await store.putRun(r);
    await store.saveCheckpoint(r, ckpt(5));
    kv.failNextSet = (k) => k.startsWith('run:');
    await expect(store.saveCheckpoint({ ...r }, ckpt(10))).rejects.toThrow();
    const back = await store.getRun('r1');
    expect((await store.loadCheckpoint(back!))?.step).toBe(5);
    expect(await store.removeOrphans()).toBe(1);
    expect((await store.loadCheckpoint(back!))?.step).toBe(5);
  });

  it('deletes a run with its checkpoints', async () => {
    const kv = new MemoryKeyValueStore();
    const store = new CheckpointStore(kv);
    const r = run();
    await store.putRun(r);
    await store.saveCheckpoint(r, ckpt(5));
    await store.deleteRun('r1');
    expect(await kv.keys()).toEqual([]);
  });
});
