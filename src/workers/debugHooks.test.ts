// The fault-injection hooks are test-only: the engine the worker exposes through comlink has no
// debug* methods and no reachable state; the hooks work through debugHooks.ts on a real device.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { DEMO_MODEL_DIR } from '../model/testing/loadForTest';
import { MemoryKeyValueStore } from '../train/checkpointStore';
import { Engine } from './engine';
import { engineDebug, engineDebugApi } from './debugHooks';

const files = () => readdirSync(DEMO_MODEL_DIR).map((f) => new File([readFileSync(join(DEMO_MODEL_DIR, f))], f));
const demo = { kind: 'files' as const, files: files(), name: 'stories260K' };

describe('debug hooks', () => {
  it('are not on the engine the worker exposes, and its state is not reachable by property path', () => {
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    const methods = Object.getOwnPropertyNames(Engine.prototype);
    expect(methods.filter((m) => /debug/i.test(m))).toEqual([]);
    expect(methods).toContain('startTraining');
    // comlink walks property paths: nothing but `store` leads into the engine's state
    expect(Object.keys(engine)).toEqual([]);
    for (const name of ['core', 'ctx', 'gpu', 'loaded', 'trained', 'training']) expect((engine as unknown as Record<string, unknown>)[name]).toBeUndefined();
    expect(Object.keys(engineDebugApi(engine)).sort()).toEqual(['injectNaN', 'loseDevice', 'simulateGpuMemory']);
  });

  it('simulate a full GPU and a lost device on a real one', async () => {
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    const hooks = engineDebugApi(engine);
    await expect(hooks.simulateGpuMemory(0)).rejects.toThrow(/The GPU is not ready yet/);
    expect((await engine.init()).state).toBe('ready');
    await hooks.simulateGpuMemory(0);
    await expect(engine.loadModel(demo)).rejects.toThrow(/memory/i);
    await hooks.simulateGpuMemory(null);
    expect((await engine.loadModel(demo)).layers).toBe(5);
    expect(engineDebug(engine).trained().kind).toBe('none');

    const events: string[] = [];
    await engine.subscribe({ onDeviceEvent: (kind) => events.push(kind) });
    await hooks.loseDevice();
    await expect.poll(async () => (await engine.status())?.state).toBe('lost');
    expect(events).toContain('lost');
    expect((await engine.recoverDevice()).state).toBe('ready');
    expect(engineDebug(engine).gpu().allocator.liveBytes).toBeGreaterThan(0);
  });
});
