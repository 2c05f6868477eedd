import { describe, expect, it } from 'vitest';
import { getTestGpu } from '../testing/nodeGpu';
import { matmulXWt } from '../ops/matmul';
import { emptyTensor, releaseTensor } from '../tensor';
import { timeGpu } from './timing';

describe('timeGpu', () => {
  it('times recorded work per run, with the requested reps', async () => {
    const ctx = await getTestGpu();
    const x = emptyTensor(ctx, 'f32', [16, 32], 'x');
    const w = emptyTensor(ctx, 'f32', [24, 32], 'W');
    const out = emptyTensor(ctx, 'f32', [16, 24], 'y');
    let runs = 0;
    const t = await timeGpu(ctx, () => (runs++, matmulXWt(ctx, x, w, null, { out })), { warmup: 2, reps: 3, minRepMs: 5 });
    expect(t.samples).toHaveLength(3);
    expect(t.samples.every((s) => s > 0)).toBe(true);
    expect(t.best).toBeLessThanOrEqual(t.ms);
    expect(['timestamp', 'wall']).toContain(t.method);
    expect(runs).toBe(2 + 3 * t.inner);
    expect(t.runs).toBe(runs);
    expect(t.gaveUp).toBe(false);
    const slow = await timeGpu(ctx, () => matmulXWt(ctx, x, w, null, { out }), { giveUpAboveMs: 0 });
    expect(slow).toMatchObject({ gaveUp: true, inner: 1 });
    expect(slow.samples).toHaveLength(1);
    for (const b of [x, w, out]) releaseTensor(ctx, b);
  });
});
