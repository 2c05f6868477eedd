import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../util/f16';
import { expectClose } from '../../util/check';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, downloadI32, releaseTensor, uploadF16, uploadF32, uploadI32 } from '../tensor';
import { addInPlace, addTensors, copyTensor, fillTensor, scaleInPlace, scaleTensor, zeroTensor } from './elementwise';
import { addRef, scaleRef } from './elementwise.ref';

// One f32 add or multiply per element: the GPU result must equal the correctly rounded f32 value.
const EXACT = { atol: 0, rtol: 0 };
// Sizes: 1, below one workgroup, not a multiple of 256, several workgroups.
const SIZES = [1, 3, 257, 1000];

describe('elementwise', () => {
  it.each(SIZES)('add, add in place, scale, scale in place (n=%i)', async (n) => {
    const ctx = await getTestGpu();
    const a = randn(n, n + 1);
    const b = randn(n, n + 2);
    const ta = uploadF32(ctx, a, [n], 'a');
    const tb = uploadF32(ctx, b, [n], 'b');
    const y = await addTensors(ctx, ta, tb);
    expectClose(`add n=${n}`, await downloadF32(ctx, y), addRef(a, b), EXACT);
    const s = await scaleTensor(ctx, ta, 0.3);
    expectClose(`scale n=${n}`, await downloadF32(ctx, s), scaleRef(a, 0.3), EXACT);
    // add and scale left a untouched, so a += b must give exactly a + b again
    await addInPlace(ctx, ta, tb);
    expectClose(`add in place n=${n}`, await downloadF32(ctx, ta), addRef(a, b), EXACT);
    await scaleInPlace(ctx, tb, -2.5);
    expectClose(`scale in place n=${n}`, await downloadF32(ctx, tb), scaleRef(b, -2.5), EXACT);
    for (const t of [ta, tb, y, s]) releaseTensor(ctx, t);
  });

  it('reuses an out buffer and rejects aliasing and shape mismatches', async () => {
    const ctx = await getTestGpu();
    const ta = uploadF32(ctx, [1, 2, 3, 4, 5, 6], [2, 3], 'a');
    const tb = uploadF32(ctx, [10, 20, 30, 40, 50, 60], [2, 3], 'b');
    const out = uploadF32(ctx, new Float32Array(6), [2, 3], 'out');
    expect(await addTensors(ctx, ta, tb, out)).toBe(out);
    expect(Array.from(await downloadF32(ctx, out))).toEqual([11, 22, 33, 44, 55, 66]);
    await expect(addTensors(ctx, ta, tb, ta)).rejects.toThrow(/use addInPlace/);
    await expect(addInPlace(ctx, ta, ta)).rejects.toThrow(/same buffer/);
    const wrong = uploadF32(ctx, new Float32Array(6), [3, 2], 'wrong');
    await expect(addTensors(ctx, ta, wrong)).rejects.toThrow(/different shapes \[2,3\].*\[3,2\]/);
    const ints = uploadI32(ctx, [1, 2, 3, 4, 5, 6], [2, 3], 'ints');
    await expect(scaleTensor(ctx, ints, 2)).rejects.toThrow(/x \(ints\) must be f32/);
    for (const t of [ta, tb, out, wrong, ints]) releaseTensor(ctx, t);
  });

  it('fill and zero every dtype, including odd-length fp16', async () => {
    const ctx = await getTestGpu();
    const f = uploadF32(ctx, randn(301, 3), [301], 'f');
    await fillTensor(ctx, f, -1.25);
    expect(Array.from(await downloadF32(ctx, f)).every((v) => v === -1.25)).toBe(true);
    zeroTensor(ctx, f);
    expect(Array.from(await downloadF32(ctx, f)).every((v) => v === 0)).toBe(true);
    const h = uploadF16(ctx, randn(7, 4), [7], 'h');
    await fillTensor(ctx, h, 0.1);
    expect(Array.from(await downloadF32(ctx, h))).toEqual(new Array(7).fill(roundToF16(0.1)));
    const i = uploadI32(ctx, [1, 2, 3], [3], 'i');
    await fillTensor(ctx, i, -7);
    expect(Array.from(await downloadI32(ctx, i))).toEqual([-7, -7, -7]);
    zeroTensor(ctx, i);
    expect(Array.from(await downloadI32(ctx, i))).toEqual([0, 0, 0]);
    await expect(fillTensor(ctx, i, 0.5)).rejects.toThrow(/not an integer/);
    for (const t of [f, h, i]) releaseTensor(ctx, t);
  });

  it('uses a 2-D grid when the workgroup count exceeds the per-dimension limit', async () => {
    const ctx = await getTestGpu();
    const n = ctx.description.limits.maxComputeWorkgroupsPerDimension + 3;
    const t = uploadF32(ctx, new Float32Array(n), [n], 'big');
    // one thread per workgroup makes n workgroups: more than fit in one dimension
    await fillTensor(ctx, t, 2, { wg: 1 });
    const got = await downloadF32(ctx, t);
    expect(got.every((v) => v === 2)).toBe(true);
    releaseTensor(ctx, t);
  });

  it('copies whole tensors and element ranges', async () => {
    const ctx = await getTestGpu();
    const src = uploadF32(ctx, [1, 2, 3, 4, 5], [5], 'src');
    const dst = uploadF32(ctx, new Float32Array(7), [7], 'dst');
    copyTensor(ctx, src, dst, { dstOffset: 2 });
    expect(Array.from(await downloadF32(ctx, dst))).toEqual([0, 0, 1, 2, 3, 4, 5]);
    copyTensor(ctx, src, dst, { srcOffset: 3, dstOffset: 0, count: 2 });
    expect(Array.from(await downloadF32(ctx, dst))).toEqual([4, 5, 1, 2, 3, 4, 5]);
    expect(() => copyTensor(ctx, src, dst, { dstOffset: 3 })).toThrow(/does not fit/);
    expect(() => copyTensor(ctx, src, src)).toThrow(/same buffer/);
    const h1 = uploadF16(ctx, [1, 2, 3], [3], 'h1');
    const h2 = uploadF16(ctx, [0, 0, 0], [3], 'h2');
    copyTensor(ctx, h1, h2);
    expect(Array.from(await downloadF32(ctx, h2))).toEqual([1, 2, 3]);
    expect(() => copyTensor(ctx, h1, h2, { srcOffset: 1, count: 1 })).toThrow(/even elements/);
    for (const t of [src, dst, h1, h2]) releaseTensor(ctx, t);
  });
});
