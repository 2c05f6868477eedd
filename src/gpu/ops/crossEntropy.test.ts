import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { centralDiffGrad } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn, rng } from '../../util/random';
import { downloadF32, emptyTensor, releaseTensor, uploadF32, uploadI32, type Tensor } from '../tensor';
import { zeroTensor } from './elementwise';
import { countCountedLabels, crossEntropyForwardBackward, crossEntropyLossOnly, sumRows } from './crossEntropy';
import { crossEntropyRef } from './crossEntropy.ref';
import { loadFixture, type CrossEntropyFixture } from './fixtures';

// f32 kernel (GPU exp/log over up to V terms) against the f64 reference on identical inputs.
const TOL = { atol: 1e-5, rtol: 1e-4 };
// gradients are O(1/count): an absolute tolerance scaled to them
const GRAD_TOL = { atol: 1e-6, rtol: 1e-4 };
// f32 gradient against a central finite difference (h = 1e-4) of the f64 mean loss.
const FD_TOL = { atol: 1e-5, rtol: 1e-3 };
const FIXTURE_TOL = { atol: 2e-5, rtol: 1e-4 };

function randomLabels(N: number, V: number, seed: number, ignoreEvery = 3): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: N }, (_, i) => (i % ignoreEvery === 1 ? -100 : Math.floor(r() * V)));
}

async function zeros(ctx: Awaited<ReturnType<typeof getTestGpu>>, shape: number[], label: string): Promise<Tensor> {
  return zeroTensor(ctx, emptyTensor(ctx, 'f32', shape, label));
}

// [N, V, wg]: single row and class, V below / above / many times the workgroup, wg 1.
const SHAPES: [number, number, number][] = [
  [1, 1, 256],
  [3, 7, 256],
  [5, 300, 256],
  [4, 1000, 64],
  [6, 37, 1],
  [7, 513, 4],
];

describe.each([0, 0.1])('cross-entropy, smoothing %s', (smoothing) => {
  it.each(SHAPES)('N=%i V=%i wg=%i: per-row losses, accumulated mean, separate and in-place gradients', async (N, V, wg) => {
    const ctx = await getTestGpu();
    const logits = randn(N * V, N * 7 + V, 3);
    const labels = randomLabels(N, V, N + V);
    labels[0] = V - 1; // at least one counted row, with the last class
    const counted = countCountedLabels(labels);
    const ref = crossEntropyRef(logits, labels, N, V, smoothing, counted);
    const tl = uploadF32(ctx, logits, [N, V], 'logits');
    const ty = uploadI32(ctx, labels, [N], 'labels');
    const rows = await zeros(ctx, [N], 'row losses');
    const { dlogits } = await crossEntropyForwardBackward(ctx, tl, ty, { smoothing, countedTokens: counted, lossOut: rows, wg });
    expectClose('row losses', await downloadF32(ctx, rows), ref.rowLoss, TOL);
    expectClose('dlogits', await downloadF32(ctx, dlogits), ref.dlogits, GRAD_TOL);
    const mean = await sumRows(ctx, rows, { scale: 1 / counted });
    expectClose('sumRows mean', await downloadF32(ctx, mean), [ref.loss], TOL);
    // in place, accumulating the mean directly
    const acc = await zeros(ctx, [1], 'loss');
    const res = await crossEntropyForwardBackward(ctx, tl, ty, { smoothing, countedTokens: counted, lossOut: acc, dlogits: 'inPlace', wg });
    expect(res.dlogits).toBe(tl);
    expectClose('accumulated mean', await downloadF32(ctx, acc), [ref.loss], TOL);
    expectClose('in-place dlogits', await downloadF32(ctx, tl), ref.dlogits, GRAD_TOL);
    for (const t of [tl, ty, rows, dlogits, mean, acc]) releaseTensor(ctx, t);
  });
});

describe('cross-entropy chunking', () => {
  it('two chunks of rows give the same losses and gradients as one', async () => {
    const ctx = await getTestGpu();
    const [N, V, split] = [7, 45, 3];
    const logits = randn(N * V, 5, 2);
    const labels = randomLabels(N, V, 6);
    const counted = countCountedLabels(labels);
    const opts = { smoothing: 0.1, countedTokens: counted };
    const ty = uploadI32(ctx, labels, [N], 'labels');
    // one chunk
    const all = uploadF32(ctx, logits, [N, V], 'logits');
    const rowsAll = await zeros(ctx, [N], 'rows one chunk');
    const accAll = await zeros(ctx, [1], 'loss one chunk');
    const gAll = await crossEntropyForwardBackward(ctx, all, ty, { ...opts, lossOut: rowsAll });
    await crossEntropyLossOnly(ctx, all, ty, { ...opts, lossOut: accAll });
    // two chunks, each with only its own rows of logits: per-row losses first, then the
    // accumulated mean with the gradient written in place over the chunk's logits
    const a = uploadF32(ctx, logits.subarray(0, split * V), [split, V], 'chunk a');
    const b = uploadF32(ctx, logits.subarray(split * V), [N - split, V], 'chunk b');
    const rowsChunks = await zeros(ctx, [N], 'rows two chunks');
    const accChunks = await zeros(ctx, [1], 'loss two chunks');
    for (const [chunk, rowOffset] of [
      [a, 0],
      [b, split],
    ] as const) {
      await crossEntropyLossOnly(ctx, chunk, ty, { ...opts, rowOffset, lossOut: rowsChunks });
      await crossEntropyForwardBackward(ctx, chunk, ty, { ...opts, rowOffset, lossOut: accChunks, dlogits: 'inPlace' });
    }
    // per row the arithmetic is identical: exactly equal
    expect(await downloadF32(ctx, rowsChunks)).toEqual(await downloadF32(ctx, rowsAll));
    const g = await downloadF32(ctx, gAll.dlogits);
    expect(await downloadF32(ctx, a)).toEqual(g.subarray(0, split * V));
    expect(await downloadF32(ctx, b)).toEqual(g.subarray(split * V));
    // the mean is summed in a different grouping: equal to f32 rounding
    expectClose('chunked mean loss', await downloadF32(ctx, accChunks), await downloadF32(ctx, accAll), { atol: 0, rtol: 1e-6 });
    expectClose('mean loss', await downloadF32(ctx, accAll), [crossEntropyRef(logits, labels, N, V, 0.1).loss], TOL);
  });
});

describe('cross-entropy gradient', () => {
  it('matches a central finite difference of the mean loss (smoothing, ignored rows, dloss)', async () => {
    const ctx = await getTestGpu();
    const [N, V] = [4, 6];
    const logits = randn(N * V, 9);
    const labels = Int32Array.from([2, -100, 5, 0]);
    const dloss = 0.7;
    const { dlogits } = await crossEntropyForwardBackward(ctx, uploadF32(ctx, logits, [N, V], 'logits'), uploadI32(ctx, labels, [N], 'labels'), {
      smoothing: 0.2,
      countedTokens: 3,
      dloss,
      lossOut: await zeros(ctx, [1], 'loss'),
    });
    const h = 1e-4;
    const fd = centralDiffGrad((v) => crossEntropyRef(v, labels, N, V, 0.2).loss, logits, h).map((g) => g * dloss);
    expectClose('dlogits vs finite difference', await downloadF32(ctx, dlogits), fd, FD_TOL);
  });
});

describe('cross-entropy numerics and edge cases', () => {
  it('handles a 150k vocabulary and large logits without overflow', async () => {
    const ctx = await getTestGpu();
    const [N, V] = [2, 150_000];
    const logits = randn(N * V, 10, 4).map((z, i) => z + (i < V ? 1e4 : -50));
    const labels = Int32Array.from([123_456, 7]);
    const ref = crossEntropyRef(logits, labels, N, V, 0.1);
    const rows = await zeros(ctx, [N], 'rows');
    const { dlogits } = await crossEntropyForwardBackward(ctx, uploadF32(ctx, logits, [N, V], 'logits'), uploadI32(ctx, labels, [N], 'labels'), {
      smoothing: 0.1,
      countedTokens: 2,
      lossOut: rows,
    });
    expectClose('row losses', await downloadF32(ctx, rows), ref.rowLoss, TOL);
    expectClose('dlogits', await downloadF32(ctx, dlogits), ref.dlogits, { atol: 1e-7, rtol: 1e-3 });
  });

  it('an out-of-range label gives a NaN loss and a zero gradient row; labelsHost rejects it', async () => {
    const ctx = await getTestGpu();
    const [N, V] = [3, 5];
    const logits = randn(N * V, 11);
    const labels = [1, 5, -3];
    const tl = uploadF32(ctx, logits, [N, V], 'logits');
    const ty = uploadI32(ctx, labels, [N], 'labels');
    const rows = await zeros(ctx, [N], 'rows');
    const { dlogits } = await crossEntropyForwardBackward(ctx, tl, ty, { countedTokens: 3, lossOut: rows });
    const loss = await downloadF32(ctx, rows);
    expect(Number.isFinite(loss[0])).toBe(true);
    expect(Number.isNaN(loss[1]) && Number.isNaN(loss[2])).toBe(true);
    const g = await downloadF32(ctx, dlogits);
    expect(Array.from(g.subarray(V)).every((v) => v === 0)).toBe(true);
    const mean = await downloadF32(ctx, await sumRows(ctx, rows));
    expect(Number.isNaN(mean[0])).toBe(true);
    await expect(crossEntropyLossOnly(ctx, tl, ty, { lossOut: rows, labelsHost: labels })).rejects.toThrow(
      /2 labels outside \[0, 5\) and not -100: labels\[1\] = 5, labels\[2\] = -3/,
    );
  });

  it('loss only leaves the logits untouched and matches the fused loss', async () => {
    const ctx = await getTestGpu();
    const [N, V] = [5, 33];
    const logits = randn(N * V, 12);
    const labels = randomLabels(N, V, 13);
    const tl = uploadF32(ctx, logits, [N, V], 'logits');
    const ty = uploadI32(ctx, labels, [N], 'labels');
    const rows = await zeros(ctx, [N], 'rows');
    await crossEntropyLossOnly(ctx, tl, ty, { lossOut: rows, lossMode: 'rows' });
    expect(await downloadF32(ctx, tl)).toEqual(logits);
    expectClose('row losses', await downloadF32(ctx, rows), crossEntropyRef(logits, labels, N, V).rowLoss, TOL);
  });

  it('handles more rows than one grid dimension holds', async () => {
    const ctx = await getTestGpu();
    const N = ctx.description.limits.maxComputeWorkgroupsPerDimension + 2;
    const V = 2;
    const logits = randn(N * V, 14);
    const labels = Int32Array.from({ length: N }, (_, i) => i % 2);
    const acc = await zeros(ctx, [1], 'loss');
    await crossEntropyLossOnly(ctx, uploadF32(ctx, logits, [N, V], 'logits'), uploadI32(ctx, labels, [N], 'labels'), {
      lossOut: acc,
      countedTokens: N,
      wg: 1,
    });
    let ref = 0;
    for (let n = 0; n < N; n++) {
      const [a, b] = [logits[2 * n], logits[2 * n + 1]];
      const m = Math.max(a, b);
      ref += m + Math.log(Math.exp(a - m) + Math.exp(b - m)) - (labels[n] === 0 ? a : b);
    }
    expectClose('mean loss', await downloadF32(ctx, acc), [ref / N], TOL);
  });

  it('names bad options', async () => {
    const ctx = await getTestGpu();
    const tl = uploadF32(ctx, new Float32Array(6), [2, 3], 'logits');
    const ty = uploadI32(ctx, [0, -100], [2], 'labels');
    const acc = await zeros(ctx, [1], 'loss');
    await expect(crossEntropyForwardBackward(ctx, tl, ty, { countedTokens: 0, lossOut: acc })).rejects.toThrow(/countedTokens must be/);
    await expect(crossEntropyLossOnly(ctx, tl, ty, { lossOut: acc, rowOffset: 1 })).rejects.toThrow(/at least rowOffset \+ N = 3/);
    await expect(crossEntropyLossOnly(ctx, tl, ty, { lossOut: acc, lossMode: 'rows' })).rejects.toThrow(/'rows' needs lossOut/);
    await expect(crossEntropyLossOnly(ctx, tl, ty, { lossOut: acc, smoothing: 1 })).rejects.toThrow(/smoothing must be in \[0, 1\)/);
  });
});

describe('sumRows', () => {
  it('sums a range with a scale, accumulates, and repeats bit for bit', async () => {
    const ctx = await getTestGpu();
    const x = randn(1000, 15);
    const t = uploadF32(ctx, x, [1000], 'x');
    const out = await sumRows(ctx, t, { offset: 10, count: 777, scale: 0.5 });
    const want = x.subarray(10, 787).reduce((s, v) => s + v, 0) * 0.5;
    expectClose('sum', await downloadF32(ctx, out), [want], { atol: 1e-5, rtol: 1e-5 });
    const first = (await downloadF32(ctx, out))[0];
    await sumRows(ctx, t, { out, offset: 10, count: 777, scale: 0.5, accumulate: true });
    const second = (await downloadF32(ctx, out))[0];
    expect(second).toBe(Math.fround(first + first));
    const again = await sumRows(ctx, t, { offset: 10, count: 777, scale: 0.5 });
    expect((await downloadF32(ctx, again))[0]).toBe(first);
  });
});

describe('cross-entropy vs PyTorch fixture', () => {
  const fx = loadFixture<CrossEntropyFixture>('cross_entropy');
  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const ctx = await getTestGpu();
    const { N, V, labelSmoothing, numCounted } = c.config;
    expect(countCountedLabels(c.labels)).toBe(numCounted);
    const tl = uploadF32(ctx, c.logits, [N, V], 'logits');
    const ty = uploadI32(ctx, c.labels, [N], 'labels');
    const rows = await zeros(ctx, [N], 'rows');
    const acc = await zeros(ctx, [1], 'loss');
    const opts = { smoothing: labelSmoothing, countedTokens: numCounted, labelsHost: c.labels, dloss: c.dloss };
    await crossEntropyLossOnly(ctx, tl, ty, { ...opts, lossOut: acc });
    const { dlogits } = await crossEntropyForwardBackward(ctx, tl, ty, { ...opts, lossOut: rows });
    expectClose('rowLoss', await downloadF32(ctx, rows), c.rowLoss, FIXTURE_TOL);
    expectClose('loss', await downloadF32(ctx, acc), [c.loss], FIXTURE_TOL);
    expectClose('dlogits', await downloadF32(ctx, dlogits), c.dlogits, FIXTURE_TOL);
  });
});
