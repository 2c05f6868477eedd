// The context's command counters: passes, dispatches, submits, writes and buffers are counted as
// they are issued; consecutive dispatches share one compute pass (a copy or a flush ends it) and
// give the same results as one pass per dispatch; the pass timer gets one pass per dispatch and
// gives the shared passes back when it is removed.
import { describe, expect, it } from 'vitest';
import { PassTimer } from '../train/passTimer';
import { diffCounts, perUnit } from './counters';
import { addInPlace, copyTensor, scaleInPlace } from './ops/elementwise';
import { downloadF32, emptyTensor, releaseTensor, uploadF32 } from './tensor';
import { getTestGpu } from './testing/nodeGpu';

describe('diffCounts and perUnit', () => {
  it('subtract field by field and divide by the units (at least 1)', () => {
    const a = { passes: 10, dispatches: 20, submits: 3, writes: 4, writeBytes: 400, buffers: 2, bindGroups: 20 };
    const b = { passes: 4, dispatches: 5, submits: 1, writes: 1, writeBytes: 100, buffers: 2, bindGroups: 5 };
    expect(diffCounts(a, b)).toEqual({ passes: 6, dispatches: 15, submits: 2, writes: 3, writeBytes: 300, buffers: 0, bindGroups: 15 });
    expect(perUnit(diffCounts(a, b), 3)).toEqual({ passes: 2, dispatches: 5, submits: 2 / 3, writes: 1, writeBytes: 100, buffers: 0, bindGroups: 5 });
    expect(perUnit(a, 0).passes).toBe(10);
  });
});

describe('GPU command counters on the test GPU', () => {
  it('count writes (with bytes), buffers, dispatches, passes and submits as issued', async () => {
    const ctx = await getTestGpu();
    const before = ctx.counters.snapshot();
    const a = uploadF32(ctx, [1, 2, 3, 4, 5], [5], 'a');
    const b = uploadF32(ctx, [1, 1, 1, 1, 1], [5], 'b');
    let c = ctx.counters.since(before);
    expect(c.buffers).toBe(2);
    expect(c.writes).toBe(2);
    expect(c.writeBytes).toBe(40);
    // the first dispatch makes the pipeline and the uniform arena's buffer; later ones make none
    await scaleInPlace(ctx, b, 1);
    ctx.flush();
    const mid = ctx.counters.snapshot();
    await addInPlace(ctx, a, b);
    await addInPlace(ctx, a, b);
    await scaleInPlace(ctx, a, 2);
    ctx.flush();
    c = ctx.counters.since(mid);
    expect(c.dispatches).toBe(3);
    expect(c.bindGroups).toBe(3);
    expect(c.passes).toBe(1);
    expect(c.submits).toBe(1);
    // the three dispatches' uniforms go up in one write at the flush
    expect(c.writes).toBe(1);
    expect(c.buffers).toBe(0);
    expect(Array.from(await downloadF32(ctx, a))).toEqual([6, 8, 10, 12, 14]);
    releaseTensor(ctx, a);
    releaseTensor(ctx, b);
  });

  it('the uniforms of a thousand dispatches go up in one write at the flush', async () => {
    const ctx = await getTestGpu();
    const a = uploadF32(ctx, [1, 2], [2], 'a');
    ctx.flush();
    const before = ctx.counters.snapshot();
    for (let i = 0; i < 1000; i++) await scaleInPlace(ctx, a, i % 2 === 0 ? 2 : 0.5);
    ctx.flush();
    const c = ctx.counters.since(before);
    expect(c.dispatches).toBe(1000);
    expect(c.writes).toBe(1);
    expect(c.submits).toBe(1);
    // each dispatch got its own value: the halvings and doublings cancel
    expect(Array.from(await downloadF32(ctx, a))).toEqual([1, 2]);
    releaseTensor(ctx, a);
  });

  it('a copy between dispatches ends the shared pass; a flush with nothing recorded submits nothing', async () => {
    const ctx = await getTestGpu();
    const a = uploadF32(ctx, [1, 2], [2], 'a');
    const b = uploadF32(ctx, [10, 20], [2], 'b');
    ctx.flush();
    const before = ctx.counters.snapshot();
    await addInPlace(ctx, a, b); // a = 11 22
    copyTensor(ctx, a, b); // b = 11 22
    await addInPlace(ctx, a, b); // a = 22 44
    ctx.flush();
    ctx.flush();
    const c = ctx.counters.since(before);
    expect(c.passes).toBe(2);
    expect(c.dispatches).toBe(2);
    expect(c.submits).toBe(1);
    expect(Array.from(await downloadF32(ctx, a))).toEqual([22, 44]);
    releaseTensor(ctx, a);
    releaseTensor(ctx, b);
  });

  it('a chain of dependent dispatches in one pass gives the results of one pass per dispatch', async () => {
    const ctx = await getTestGpu();
    const n = 3000;
    const init = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const run = async (merge: boolean) => {
      ctx.mergePasses = merge;
      try {
        const x = uploadF32(ctx, init, [n], 'x');
        const y = uploadF32(ctx, init.map((v) => v * 0.5), [n], 'y');
        const before = ctx.counters.snapshot();
        // every op reads what the previous one wrote (read-after-write and write-after-read)
        for (let i = 0; i < 20; i++) {
          await addInPlace(ctx, x, y);
          await scaleInPlace(ctx, x, 0.75);
          await addInPlace(ctx, y, x);
        }
        ctx.flush();
        const counts = ctx.counters.since(before);
        const out = [await downloadF32(ctx, x), await downloadF32(ctx, y)];
        releaseTensor(ctx, x);
        releaseTensor(ctx, y);
        return { counts, out };
      } finally {
        ctx.mergePasses = true;
      }
    };
    const merged = await run(true);
    const separate = await run(false);
    expect(merged.counts.passes).toBe(1);
    expect(separate.counts.passes).toBe(60);
    expect(merged.counts.dispatches).toBe(60);
    expect(separate.counts.dispatches).toBe(60);
    expect(merged.out[0]).toEqual(separate.out[0]);
    expect(merged.out[1]).toEqual(separate.out[1]);
    expect(merged.out[0].every(Number.isFinite)).toBe(true);
  });

  it('the pass timer gets one pass per dispatch and gives the shared pass back when removed', async () => {
    const ctx = await getTestGpu();
    const a = emptyTensor(ctx, 'f32', [8], 'a');
    const b = emptyTensor(ctx, 'f32', [8], 'b');
    expect(ctx.mergePasses).toBe(true);
    const timer = new PassTimer(ctx);
    expect(ctx.mergePasses).toBe(false);
    timer.begin();
    await addInPlace(ctx, a, b);
    await addInPlace(ctx, a, b);
    const got = await timer.end();
    expect(got.passes.length).toBe(2);
    timer.uninstall();
    expect(ctx.mergePasses).toBe(true);
    const before = ctx.counters.snapshot();
    await addInPlace(ctx, a, b);
    await addInPlace(ctx, a, b);
    ctx.flush();
    expect(ctx.counters.since(before).passes).toBe(1);
    releaseTensor(ctx, a);
    releaseTensor(ctx, b);
  });
});
