import { describe, expect, it } from 'vitest';
import { acquireGpu, WebGpuUnavailableError } from './device';
import { newTestGpu } from './testing/nodeGpu';

describe('acquireGpu', () => {
  it('describes the adapter and takes the adapter limits, not the low defaults', async () => {
    const ctx = await newTestGpu();
    const d = ctx.description;
    expect(d.name.length).toBeGreaterThan(0);
    expect(['shader-f16', 'packed-u32']).toContain(d.fp16Mode);
    expect(d.fp16Mode === 'shader-f16').toBe(d.features.shaderF16);
    expect(d.limits.maxStorageBufferBindingSize).toBe(ctx.adapter.limits.maxStorageBufferBindingSize);
    expect(d.limits.maxBufferSize).toBe(ctx.adapter.limits.maxBufferSize);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d); // plain data, crosses postMessage
    ctx.destroy();
  });

  it('reports device loss as an event', async () => {
    const ctx = await newTestGpu();
    const seen: string[] = [];
    ctx.lost.then((e) => seen.push(e.reason));
    ctx.device.destroy();
    const e = await ctx.lost;
    expect(e.reason).toBe('destroyed');
    expect(seen).toEqual(['destroyed']);
  });

  it('says which browser to use when WebGPU is missing', async () => {
    const err = await acquireGpu({ gpu: undefined }).catch((e) => e);
    expect(err).toBeInstanceOf(WebGpuUnavailableError);
    expect(err.message).toMatch(/Chrome/);
    expect(err.message).toMatch(/--enable-unsafe-webgpu/);
  });

  it('times out instead of hanging when the adapter never answers', async () => {
    const hanging = { requestAdapter: () => new Promise<GPUAdapter | null>(() => {}) } as unknown as GPU;
    const err = await acquireGpu({ gpu: hanging, timeoutMs: 50 }).catch((e) => e);
    expect(err).toBeInstanceOf(WebGpuUnavailableError);
    expect(err.message).toMatch(/did not answer within 50 ms/);
  });
});
