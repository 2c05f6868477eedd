import { describe, expect, it } from 'vitest';
import { scaleInPlace } from '../gpu/ops/elementwise';
import { readBuffer } from '../gpu/tensor';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { Workspace } from './workspace';

describe('Workspace', () => {
  it('returns the same buffer for the same name and shape, and a view for a new shape of the same size', async () => {
    const ctx = await getTestGpu();
    const ws = new Workspace(ctx);
    const a = ws.get('x', 'f32', [4, 6]);
    expect(ws.get('x', 'f32', [4, 6]).buffer).toBe(a.buffer);
    const v = ws.get('x', 'f32', [6, 4]);
    expect(v.buffer).toBe(a.buffer);
    expect(v.shape).toEqual([6, 4]);
    ws.release();
  });

  it('re-allocating a buffer that recorded work still uses submits that work first', async () => {
    const ctx = await getTestGpu();
    const ws = new Workspace(ctx);
    const errors: string[] = [];
    ctx.device.pushErrorScope('validation');
    const small = ws.get('y', 'f32', [8]);
    ctx.device.queue.writeBuffer(small.buffer, 0, new Float32Array(8).fill(2));
    await scaleInPlace(ctx, small, 3); // recorded, not submitted
    const big = ws.get('y', 'f32', [16]); // destroys the old buffer
    await scaleInPlace(ctx, big, 1);
    ctx.flush();
    const err = await ctx.device.popErrorScope();
    if (err) errors.push(err.message);
    expect(errors).toEqual([]);
    expect(new Float32Array(await readBuffer(ctx, big.buffer, 64)).length).toBe(16);
    ws.release();
  });
  it('makes a buffer again when its allocation ran out of memory', async () => {
    const ctx = await getTestGpu();
    const ws = new Workspace(ctx);
    ctx.allocator.simulatedLimitBytes = ctx.allocator.liveBytes;
    const failed = ws.get('z', 'f32', [8]);
    ctx.allocator.simulatedLimitBytes = null;
    expect((await ctx.allocator.checkOutOfMemory())?.label).toBe('z');
    const again = ws.get('z', 'f32', [8]);
    expect(again.buffer).not.toBe(failed.buffer);
    ctx.device.queue.writeBuffer(again.buffer, 0, new Float32Array(8).fill(5));
    expect(Array.from(new Float32Array(await readBuffer(ctx, again.buffer, 32)))).toEqual(new Array(8).fill(5));
    // and keeps the good one
    expect(ws.get('z', 'f32', [8]).buffer).toBe(again.buffer);
    ws.release();
  });
});
