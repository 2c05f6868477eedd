import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { getTestGpu } from '../testing/nodeGpu';
import { rowThreads, SOFTWARE_ROW_THREADS } from './rowThreads';

describe('rowThreads', () => {
  it('takes the request, else the hardware default on GPUs and SOFTWARE_ROW_THREADS on CPU rasterisers', async () => {
    const ctx = await getTestGpu();
    const as = (isSoftware: boolean) => ({ ...ctx, description: { ...ctx.description, isSoftware } }) as GpuContext;
    expect(rowThreads(as(false), 64)).toBe(64);
    expect(rowThreads(as(true), 64)).toBe(SOFTWARE_ROW_THREADS);
    expect(rowThreads(as(true), 64, 256)).toBe(256);
    expect(rowThreads(as(false), 64, 1)).toBe(1);
    // the test device here is SwiftShader: the ops' defaults are the software ones
    expect(ctx.description.isSoftware).toBe(/swiftshader/i.test(ctx.description.name));
  });
});
