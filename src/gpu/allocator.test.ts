// The allocator's out-of-memory reporting, on the real device: SwiftShader cannot back a single
// buffer of about 1 GiB (vkAllocateMemory fails) although maxBufferSize allows it, which gives a
// genuine GPUOutOfMemoryError to catch; the simulated limit used by the engine's fault-injection
// hook is checked to fail the same way (an unusable buffer, reported later).
import { describe, expect, it } from 'vitest';
import { GpuAllocator } from './allocator';
import { getTestGpu } from './testing/nodeGpu';

describe('GpuAllocator out-of-memory reporting', () => {
  it('reports nothing when every allocation fits', async () => {
    const ctx = await getTestGpu();
    const a = new GpuAllocator(ctx.device);
    const b1 = a.create(1000, GPUBufferUsage.STORAGE, 'small');
    const b2 = a.create(3, GPUBufferUsage.STORAGE, 'tiny');
    expect(a.liveBytes).toBe(1004);
    expect(await a.checkOutOfMemory()).toBeNull();
    a.release(b1);
    a.release(b2);
    expect(a.liveBytes).toBe(0);
  });

  it('names the buffer a real out-of-memory hit, with its size and what was live', async () => {
    const ctx = await getTestGpu();
    const a = new GpuAllocator(ctx.device);
    const size = Math.min(ctx.device.limits.maxBufferSize, 2 ** 30) - 4;
    const small = a.create(64, GPUBufferUsage.STORAGE, 'before');
    const huge = a.create(size, GPUBufferUsage.STORAGE, 'L0.huge activations');
    const f = await a.checkOutOfMemory();
    // A GPU that can hold ~1 GiB in one buffer would not fail; SwiftShader (CI) cannot.
    if (/swiftshader/i.test(ctx.description.name)) {
      expect(f).not.toBeNull();
      expect(f!.label).toBe('L0.huge activations');
      expect(f!.size).toBe(size);
      expect(f!.liveBytes).toBe(64);
      expect(f!.message).toMatch(/memory/i);
    }
    // reported once
    expect(await a.checkOutOfMemory()).toBeNull();
    a.release(huge);
    a.release(small);
  });

  it('a simulated limit fails the allocation that crosses it, and the buffer is unusable', async () => {
    const ctx = await getTestGpu();
    const a = new GpuAllocator(ctx.device);
    a.simulatedLimitBytes = 4096;
    const ok = a.create(4000, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'fits');
    const bad = a.create(200, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'crosses the limit');
    const f = await a.checkOutOfMemory();
    expect(f).toMatchObject({ label: 'crosses the limit', size: 200, liveBytes: 4000 });
    ctx.device.pushErrorScope('validation');
    ctx.device.queue.writeBuffer(bad, 0, new Float32Array(4));
    const err = await ctx.device.popErrorScope();
    expect(err?.message).toMatch(/destroyed/i);
    ctx.device.pushErrorScope('validation');
    ctx.device.queue.writeBuffer(ok, 0, new Float32Array(4));
    expect(await ctx.device.popErrorScope()).toBeNull();
    a.simulatedLimitBytes = null;
    expect(await a.checkOutOfMemory()).toBeNull();
    a.release(ok);
    a.release(bad);
    expect(a.liveBytes).toBe(0);
  });
});
