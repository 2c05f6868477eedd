// A call that needs the GPU may reach the engine before (or while) the device is acquired: the
// page sends it as soon as the user clicks. It waits for the device instead of failing.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { DEMO_MODEL_DIR } from '../model/testing/loadForTest';
import { MemoryKeyValueStore } from '../train/checkpointStore';
import { Engine } from './engine';

const files = () => readdirSync(DEMO_MODEL_DIR).map((f) => new File([readFileSync(join(DEMO_MODEL_DIR, f))], f));

describe('Engine: actions wait for the GPU', () => {
  it('loadModel sent before init() waits for the device and loads', async () => {
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    // the page's order on a quick click: the load message arrives first, init() after it
    const loading = engine.loadModel({ kind: 'files', files: files(), name: 'stories260K' });
    const status = engine.init();
    const info = await loading;
    expect(info.layers).toBe(5);
    expect((await status).state).toBe('ready');
  });

  it('without WebGPU, an action says WebGPU is unavailable (not "not ready yet")', async () => {
    const noGpu = { requestAdapter: async () => null } as unknown as GPU;
    const engine = new Engine({ gpu: noGpu, kv: new MemoryKeyValueStore() });
    await expect(engine.loadModel({ kind: 'files', files: files(), name: 'stories260K' })).rejects.toThrow(/WebGPU is not available/);
  });
});
