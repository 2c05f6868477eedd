import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../util/f16';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn, rng } from '../../util/random';
import { downloadF32, downloadU32, emptyTensor, releaseTensor, uploadF16, uploadF32, uploadI32 } from '../tensor';
import { zeroTensor } from './elementwise';
import {
  buildEmbeddingGradPlan,
  embeddingBackward,
  embeddingForward,
  embeddingGradGroups,
  releaseEmbeddingGradPlan,
  validateIds,
} from './embedding';
import { embeddingBackwardRef, embeddingForwardRef } from './embedding.ref';

// A lookup copies values: exact. The backward sums at most a few f32 values per element.
const EXACT = { atol: 0, rtol: 0 };
const TOL = { atol: 1e-6, rtol: 1e-5 };
// against a central finite difference (h = 1e-3) of the f64 forward (linear, so FD is exact up to rounding)
const FD_TOL = { atol: 1e-5, rtol: 1e-4 };

function randomIds(n: number, V: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * V));
}

// [V, C, N]: single row/channel/token, odd C (fp16 rows start mid-word), C above one workgroup,
// more tokens than vocabulary (repeated ids).
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 5, 9],
  [11, 3, 4],
  [5, 300, 6],
  [50, 8, 17],
];

describe.each(['f32', 'f16'] as const)('embedding with %s table', (dtype) => {
  it.each(SHAPES)('forward V=%i C=%i N=%i', async (V, C, N) => {
    const ctx = await getTestGpu();
    const t0 = randn(V * C, V * 3 + C);
    const table = dtype === 'f16' ? t0.map(roundToF16) : t0;
    const ids = randomIds(N, V, N + V);
    const tt = dtype === 'f16' ? uploadF16(ctx, t0, [V, C], 'table') : uploadF32(ctx, t0, [V, C], 'table');
    const tids = uploadI32(ctx, ids, [N], 'ids');
    const out = await embeddingForward(ctx, tt, tids, { idsHost: ids });
    expectClose('out', await downloadF32(ctx, out), embeddingForwardRef(table, ids, V, C), EXACT);
    for (const t of [tt, tids, out]) releaseTensor(ctx, t);
  });
});

describe('embedding forward', () => {
  it('adds learned position embeddings onto token embeddings (GPT-2)', async () => {
    const ctx = await getTestGpu();
    const [V, P, C, B, T] = [13, 6, 7, 2, 5];
    const wte = randn(V * C, 1);
    const wpe = randn(P * C, 2);
    const ids = randomIds(B * T, V, 3);
    const pos = Int32Array.from({ length: B * T }, (_, i) => i % T);
    const twte = uploadF32(ctx, wte, [V, C], 'wte');
    const twpe = uploadF32(ctx, wpe, [P, C], 'wpe');
    const x = await embeddingForward(ctx, twte, uploadI32(ctx, ids, [B * T], 'ids'));
    await embeddingForward(ctx, twpe, uploadI32(ctx, pos, [B * T], 'positions'), { out: x, accumulate: true });
    const a = embeddingForwardRef(wte, ids, V, C);
    const b = embeddingForwardRef(wpe, pos, P, C);
    expectClose('wte[ids] + wpe[pos]', await downloadF32(ctx, x), a.map((v, i) => Math.fround(v + b[i])), EXACT);
  });

  it('clamps out-of-range ids, counts them on the GPU, and rejects them on the CPU', async () => {
    const ctx = await getTestGpu();
    const [V, C] = [4, 3];
    const table = randn(V * C, 5);
    const ids = Int32Array.from([2, -1, 4, 1000000, 0]);
    const tt = uploadF32(ctx, table, [V, C], 'table');
    const tids = uploadI32(ctx, ids, [ids.length], 'ids');
    const bad = zeroTensor(ctx, emptyTensor(ctx, 'u32', [1], 'bad ids'));
    const out = await embeddingForward(ctx, tt, tids, { badIdsOut: bad });
    expectClose('clamped rows', await downloadF32(ctx, out), embeddingForwardRef(table, ids, V, C), EXACT);
    expect((await downloadU32(ctx, bad))[0]).toBe(3);
    await expect(embeddingForward(ctx, tt, tids, { idsHost: ids })).rejects.toThrow(
      /3 of 5 ids outside \[0, 4\): ids\[1\] = -1, ids\[2\] = 4, ids\[3\] = 1000000\. The tokenizer and the model disagree/,
    );
    expect(() => buildEmbeddingGradPlan(ctx, ids, V)).toThrow(/outside \[0, 4\)/);
    expect(() => validateIds([0, 3], V)).not.toThrow();
  });

  it('names bad inputs', async () => {
    const ctx = await getTestGpu();
    const tt = uploadF32(ctx, new Float32Array(6), [2, 3], 'table');
    const fids = uploadF32(ctx, [0, 1], [2], 'float ids');
    await expect(embeddingForward(ctx, tt, fids)).rejects.toThrow(/ids \(float ids\) must be i32/);
    const tids = uploadI32(ctx, [0, 1], [2], 'ids');
    await expect(embeddingForward(ctx, tids, tids)).rejects.toThrow(/table \(ids\) must be a f16 or f32 \(V, C\)/);
    await expect(embeddingForward(ctx, tt, tids, { out: uploadF32(ctx, new Float32Array(5), [5], 'o') })).rejects.toThrow(/out \(o\)/);
  });
});

describe('embedding backward', () => {
  it('groups token indices by id, stably', () => {
    const g = embeddingGradGroups([3, 1, 3, 0, 1, 3], 5);
    expect(Array.from(g.uniqueIds)).toEqual([0, 1, 3]);
    expect(Array.from(g.segStart)).toEqual([0, 1, 3, 6]);
    expect(Array.from(g.order)).toEqual([3, 1, 4, 0, 2, 5]);
  });

  it.each(SHAPES)('scatter-adds V=%i C=%i N=%i into a zeroed and into a used dTable', async (V, C, N) => {
    const ctx = await getTestGpu();
    const ids = randomIds(N, V, 7 * N + V);
    const dout = randn(N * C, N + C);
    const tdout = uploadF32(ctx, dout, [N, C], 'dout');
    const plan = buildEmbeddingGradPlan(ctx, ids, V);
    const dTable = await embeddingBackward(ctx, tdout, plan);
    const ref = embeddingBackwardRef(dout, ids, V, C);
    expectClose('dTable', await downloadF32(ctx, dTable), ref, TOL);
    // accumulate into existing gradients (tied weights, micro-batches); unused rows keep theirs
    const prior = randn(V * C, 99);
    const used = uploadF32(ctx, prior, [V, C], 'dTable prior');
    await embeddingBackward(ctx, tdout, plan, used);
    expectClose('dTable accumulated', await downloadF32(ctx, used), ref.map((v, i) => v + prior[i]), TOL);
    releaseEmbeddingGradPlan(ctx, plan);
    for (const t of [tdout, dTable, used]) releaseTensor(ctx, t);
  });

  it('matches a central finite difference of the forward, and is bit-for-bit repeatable', async () => {
    const ctx = await getTestGpu();
    const [V, C, N] = [4, 3, 7];
    const ids = Int32Array.from([1, 3, 1, 1, 0, 3, 1]);
    const table = randn(V * C, 1);
    const dout = randn(N * C, 2);
    const plan = buildEmbeddingGradPlan(ctx, ids, V);
    const tdout = uploadF32(ctx, dout, [N, C], 'dout');
    const d1 = await downloadF32(ctx, await embeddingBackward(ctx, tdout, plan));
    const d2 = await downloadF32(ctx, await embeddingBackward(ctx, tdout, plan));
    expect(d2).toEqual(d1);
    const h = 1e-3;
    const fd = centralDiffVjp((t) => embeddingForwardRef(t, ids, V, C), table, dout, h);
    expectClose('dTable vs finite difference', d1, fd, FD_TOL);
    releaseEmbeddingGradPlan(ctx, plan);
  });

  it('names a dout that does not match the plan', async () => {
    const ctx = await getTestGpu();
    const plan = buildEmbeddingGradPlan(ctx, [0, 1, 0], 2);
    const dout = uploadF32(ctx, new Float32Array(8), [4, 2], 'dout');
    await expect(embeddingBackward(ctx, dout, plan)).rejects.toThrow(/dout \(dout\) must be f32 \(N, C\) with N = 3 tokens/);
    const d3 = uploadF32(ctx, new Float32Array(6), [3, 2], 'dout3');
    const wrong = uploadF32(ctx, new Float32Array(6), [3, 2], 'wrong dTable');
    await expect(embeddingBackward(ctx, d3, plan, wrong)).rejects.toThrow(/dTable \(wrong dTable\) is \[3,2\], expected \[2,2\]/);
    releaseEmbeddingGradPlan(ctx, plan);
  });
});
