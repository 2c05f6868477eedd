import { describe, expect, it } from 'vitest';
import { getTestGpu, newTestGpu } from '../testing/nodeGpu';
import { defaultVariant, legalVariants } from '../ops/matmulVariants';
import { forgetTuned, problemOf, shapeClassKey, variantFor, type MatmulShapeClass } from '../ops/matmulRegistry';
import { MemoryTuneStore } from './store';
import { TUNE_SCHEMA, tuneMatmul, tuneStoreKey, type TuneRecord } from './matmulTuner';

// Tiny shapes, real timings. Nothing here asserts which variant is faster.
const CLASSES: MatmulShapeClass[] = [
  { op: 'xwt', m: 8, n: 12, k: 16, wDtype: 'f16' },
  { op: 'xwt', m: 9, n: 5, k: 7, wDtype: 'f32' },
  { op: 'dyw', m: 10, n: 12, k: 8, wDtype: 'f16' },
  { op: 'dytx', m: 11, n: 6, k: 5 },
];

describe.each(CLASSES)('tuneMatmul %o', (sc) => {
  it('returns a legal variant, persists it, and the ops then use it', async () => {
    const ctx = await newTestGpu();
    const store = new MemoryTuneStore();
    const legal = legalVariants(ctx, problemOf(sc));
    expect(variantFor(ctx, sc)).toBe(defaultVariant(ctx, problemOf(sc)));

    const lines: string[] = [];
    const r = await tuneMatmul(ctx, sc, { store, reps: 2, onProgress: (l) => lines.push(l) });
    expect(r.source).toBe('measured');
    expect(legal).toContain(r.winner);
    // every legal variant was checked and timed (or rejected with a reason)
    expect(r.timings.map((t) => t.variant).sort()).toEqual([...legal].sort());
    for (const t of r.timings) {
      if (t.rejected) continue;
      expect(t.ms).toBeGreaterThan(0);
      expect(t.gflops).toBeGreaterThan(0);
    }
    expect(lines.length).toBe(legal.length);
    expect(variantFor(ctx, sc)).toBe(r.winner);

    // persisted under adapter + shape class
    const saved = (await store.get(tuneStoreKey(ctx, r.key))) as TuneRecord;
    expect(saved.schema).toBe(TUNE_SCHEMA);
    expect(saved.winner).toBe(r.winner);
    expect(saved.adapter).toBe(ctx.description.name);
    expect(saved.shapeClass).toBe(shapeClassKey(sc));

    // known in memory: no timing
    const again = await tuneMatmul(ctx, sc, { store });
    expect(again).toMatchObject({ source: 'memory', winner: r.winner, timings: [] });

    // a fresh session on the same adapter reloads it from the store
    forgetTuned(ctx);
    expect(variantFor(ctx, sc)).toBe(defaultVariant(ctx, problemOf(sc)));
    const reloaded = await tuneMatmul(ctx, sc, { store });
    expect(reloaded).toMatchObject({ source: 'store', winner: r.winner });
    expect(variantFor(ctx, sc)).toBe(r.winner);
    ctx.destroy();
  });
});

describe('tuneMatmul options and keys', () => {
  it('force re-measures; candidates restrict the choice; a stale record is ignored', async () => {
    const ctx = await getTestGpu();
    const store = new MemoryTuneStore();
    const sc: MatmulShapeClass = { op: 'xwt', m: 6, n: 7, k: 12, wDtype: 'f32' };
    const r = await tuneMatmul(ctx, sc, { store, candidates: ['v1_16x16', 'v2_8x8'], reps: 1 });
    expect(['v1_16x16', 'v2_8x8']).toContain(r.winner);
    expect(r.timings).toHaveLength(2);
    const forced = await tuneMatmul(ctx, sc, { store, force: true, candidates: ['v2_8x8'], reps: 1 });
    expect(forced).toMatchObject({ source: 'measured', winner: 'v2_8x8' });

    forgetTuned(ctx);
    await store.set(tuneStoreKey(ctx, r.key), { schema: TUNE_SCHEMA - 1, winner: 'v1_16x16' });
    const fresh = await tuneMatmul(ctx, sc, { store, candidates: ['v3_8x8_k16'], reps: 1 });
    expect(fresh).toMatchObject({ source: 'measured', winner: 'v3_8x8_k16' });
  });

  it('probes big problems on a smaller one and times only the finalists in full', async () => {
    const ctx = await getTestGpu();
    const sc: MatmulShapeClass = { op: 'dyw', m: 80, n: 16, k: 12, wDtype: 'f16' };
    const r = await tuneMatmul(ctx, sc, { store: new MemoryTuneStore(), force: true, probeAboveFlops: 0, finalists: 2, reps: 1 });
    const full = r.timings.filter((t) => !t.probe && !t.rejected);
    const probed = r.timings.filter((t) => t.probe);
    expect(full).toHaveLength(2);
    expect(probed.length).toBe(legalVariants(ctx, problemOf(sc)).length - 2 - r.timings.filter((t) => t.rejected).length);
    expect(full.map((t) => t.variant)).toContain(r.winner);
    for (const t of probed) expect(t.gflops).toBeGreaterThan(0);
  });

  it('keys shape classes by power-of-two buckets and everything that changes legality', () => {
    const k = (s: MatmulShapeClass) => shapeClassKey(s);
    expect(k({ op: 'xwt', m: 500, n: 1536, k: 576 })).toBe(k({ op: 'xwt', m: 512, n: 1100, k: 600 }));
    expect(k({ op: 'xwt', m: 512, n: 1536, k: 576 })).not.toBe(k({ op: 'xwt', m: 512, n: 1536, k: 577 }));
    expect(k({ op: 'xwt', m: 512, n: 1536, k: 576 })).not.toBe(k({ op: 'xwt', m: 512, n: 1536, k: 576, wDtype: 'f32' }));
    expect(k({ op: 'dyw', m: 512, n: 1536, k: 576 })).not.toBe(k({ op: 'xwt', m: 512, n: 1536, k: 576 }));
    expect(k({ op: 'dytx', m: 64, n: 8, k: 8 })).toBe('dytx/wf32/v4/r8/c8/d64');
  });

  it('rejects unknown candidates loudly', async () => {
    const ctx = await getTestGpu();
    await expect(tuneMatmul(ctx, { op: 'xwt', m: 2, n: 2, k: 3 }, { candidates: ['v4_8x8'] })).rejects.toThrow(/no legal variant/);
  });
});
