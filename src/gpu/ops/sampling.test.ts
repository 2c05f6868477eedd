import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32, type Tensor } from '../tensor';
import {
  argmaxToken,
  copyLogitsRow,
  nextToken,
  readToken,
  readTokenAndCandidates,
  SAMPLE_VARIANTS,
  sampleToken,
  type SamplingParams,
} from './sampling';
import { argmaxRef, filteredProbsRef, sampleRef } from './sampling.ref';

// Exactness: argmax and the candidate count must match exactly. The drawn token must match the
// f64 reference unless u lies within 1e-5 (relative) of a boundary between two candidates'
// cumulative intervals, where f32 rounding may pick the neighbour.

async function gpuArgmax(ctx: GpuContext, logits: Tensor, row?: number) {
  const t = await argmaxToken(ctx, logits, { row });
  const id = await readToken(ctx, t);
  releaseTensor(ctx, t);
  return id;
}

async function gpuSample(ctx: GpuContext, logits: Tensor, p: SamplingParams, row?: number, variant?: string) {
  const { token, scratch } = await sampleToken(ctx, logits, p, { row, variant });
  const r = await readTokenAndCandidates(ctx, token);
  releaseTensor(ctx, token);
  releaseTensor(ctx, scratch);
  return r;
}

describe('argmaxToken vs reference', () => {
  it.each([1, 7, 255, 256, 257, 1000, 5003])('V=%i, rows 0, 1 and the last', async (V) => {
    const ctx = await getTestGpu();
    const N = 3;
    const data = randn(N * V, V * 3 + 1);
    const logits = uploadF32(ctx, data, [N, V], 'logits');
    for (const row of [0, 1, undefined]) {
      const r = row ?? N - 1;
      expect(await gpuArgmax(ctx, logits, row)).toBe(argmaxRef(data.subarray(r * V, (r + 1) * V)));
    }
    releaseTensor(ctx, logits);
  });

  it('first index on ties; NaN never chosen; -inf rows give 0', async () => {
    const ctx = await getTestGpu();
    const V = 600;
    const rows = [new Float32Array(V).fill(-1), new Float32Array(V).fill(-1), new Float32Array(V).fill(-Infinity)];
    rows[0][599] = 5;
    rows[0][300] = 5; // tie: the first one wins, though another thread owns it
    rows[0][17] = NaN;
    rows[1][0] = NaN;
    rows[1][2] = Infinity;
    const logits = uploadF32(ctx, Float32Array.from(rows.flatMap((r) => [...r])), [3, V], 'logits');
    expect(await gpuArgmax(ctx, logits, 0)).toBe(300);
    expect(await gpuArgmax(ctx, logits, 1)).toBe(2);
    expect(await gpuArgmax(ctx, logits, 2)).toBe(0);
    releaseTensor(ctx, logits);
  });
});

const CONFIGS: [string, Omit<SamplingParams, 'uniform'>][] = [
  ['T=1', { temperature: 1 }],
  ['T=0.7 topK=5', { temperature: 0.7, topK: 5 }],
  ['T=1.3 topP=0.9', { temperature: 1.3, topP: 0.9 }],
  ['T=1 topK=50 topP=0.8', { temperature: 1, topK: 50, topP: 0.8 }],
  ['topK=1', { temperature: 1, topK: 1 }],
  ['topP=0.05', { temperature: 0.5, topP: 0.05 }],
  ['topK >= V', { temperature: 2, topK: 100_000 }],
];
const UNIFORMS = [0, 0.13, 0.5, 0.77, 0.999];

describe.each(Object.keys(SAMPLE_VARIANTS))('sampleToken %s vs reference', (variant) => {
  it.each([1, 10, 257, 3000])('V=%i', async (V) => {
    const ctx = await getTestGpu();
    const N = 2;
    const data = randn(N * V, V + 17, 2);
    const logits = uploadF32(ctx, data, [N, V], 'logits');
    const row = data.subarray(V, 2 * V);
    for (const [name, cfg] of CONFIGS) {
      for (const u of UNIFORMS) {
        const [token, candidates] = await gpuSample(ctx, logits, { ...cfg, uniform: u }, undefined, variant);
        const ref = sampleRef(row, cfg, u);
        const what = `V=${V} ${name} u=${u}: GPU token ${token} (${candidates} candidates), reference ${ref.token} (${ref.candidates})`;
        expect(candidates, what).toBe(ref.candidates);
        expect(ref.acceptable, what).toContain(token);
      }
    }
    releaseTensor(ctx, logits);
  });

  it('keeps every token tied with the k-th largest logit (as Hugging Face top-k)', async () => {
    const ctx = await getTestGpu();
    const data = Float32Array.from([0, 3, 1, 2, 2, 2, -1, 3]);
    const logits = uploadF32(ctx, data, [1, 8], 'logits');
    // top-3 by value: 3, 3, 2 -> every 2 is kept: indices 1, 7, 3, 4, 5
    const [, candidates] = await gpuSample(ctx, logits, { temperature: 1, topK: 3, uniform: 0.5 }, undefined, variant);
    expect(candidates).toBe(5);
    expect(sampleRef(data, { temperature: 1, topK: 3 }, 0.5).candidates).toBe(5);
    releaseTensor(ctx, logits);
  });

  it('draws follow the filtered distribution (u on a uniform grid)', async () => {
    const ctx = await getTestGpu();
    const data = Float32Array.from([0.5, -1, 2, 0.1, 1.5, -3, 0.9]);
    const logits = uploadF32(ctx, data, [1, 7], 'logits');
    const cfg = { temperature: 0.8, topK: 5, topP: 0.95 };
    const probs = filteredProbsRef(data, cfg);
    const M = 60;
    const counts = new Array(7).fill(0);
    for (let i = 0; i < M; i++) counts[(await gpuSample(ctx, logits, { ...cfg, uniform: (i + 0.5) / M }, undefined, variant))[0]]++;
    // a midpoint grid of M points puts each token's count within 1 of M·p
    counts.forEach((c, i) => expect(Math.abs(c - M * probs[i]), `token ${i}: ${c} draws, p ${probs[i]}`).toBeLessThanOrEqual(1));
    releaseTensor(ctx, logits);
  });

  it('never draws -inf or NaN logits; a row without finite logits gives -1', async () => {
    const ctx = await getTestGpu();
    const V = 40;
    const data = new Float32Array(2 * V).fill(-Infinity);
    data[5] = 1;
    data[6] = NaN;
    data[30] = 1.2;
    data[V + 3] = NaN;
    const logits = uploadF32(ctx, data, [2, V], 'logits');
    for (const u of [0, 0.3, 0.6, 0.99]) {
      const [token, candidates] = await gpuSample(ctx, logits, { temperature: 1, topK: 10, uniform: u }, 0, variant);
      expect([5, 30]).toContain(token);
      expect(candidates).toBe(2);
    }
    expect((await gpuSample(ctx, logits, { temperature: 1, uniform: 0.5 }, 1, variant))[0]).toBe(-1);
    await expect(nextToken(ctx, logits, { temperature: 1, uniform: 0.5 }, 1)).rejects.toThrow(/no token of row 1 has a finite logit/);
    releaseTensor(ctx, logits);
  });

  it('handles a 151,936-token vocabulary (Qwen-sized) with top-k and top-p', async () => {
    const ctx = await getTestGpu();
    const V = 151_936;
    const data = randn(V, 31337, 3);
    const logits = uploadF32(ctx, data, [1, V], 'logits');
    for (const [cfg, u] of [
      [{ temperature: 0.9, topK: 50, topP: 0.9 }, 0.42],
      [{ temperature: 1, topP: 0.5 }, 0.9],
    ] as const) {
      const [token, candidates] = await gpuSample(ctx, logits, { ...cfg, uniform: u }, undefined, variant);
      const ref = sampleRef(data, cfg, u);
      expect(candidates).toBe(ref.candidates);
      expect(ref.acceptable).toContain(token);
    }
    expect(await gpuArgmax(ctx, logits)).toBe(argmaxRef(data));
    releaseTensor(ctx, logits);
  });
});

describe('nextToken and copyLogitsRow', () => {
  it('greedy below the temperature floor, sampled above; copies the last row', async () => {
    const ctx = await getTestGpu();
    const V = 33;
    const data = randn(4 * V, 5);
    const logits = uploadF32(ctx, data, [4, V], 'logits');
    const last = data.subarray(3 * V);
    expect(await nextToken(ctx, logits, { temperature: 0, uniform: 0.3 })).toBe(argmaxRef(last));
    expect(await nextToken(ctx, logits, { temperature: 1, topK: 4, uniform: 0.3 })).toBe(sampleRef(last, { temperature: 1, topK: 4 }, 0.3).token);
    const rowT = copyLogitsRow(ctx, logits);
    expect(Array.from(await downloadF32(ctx, rowT))).toEqual(Array.from(last));
    releaseTensor(ctx, rowT);
    const row1 = copyLogitsRow(ctx, logits, 1);
    expect(Array.from(await downloadF32(ctx, row1))).toEqual(Array.from(data.subarray(V, 2 * V)));
    releaseTensor(ctx, row1);
    releaseTensor(ctx, logits);
  });

  it('rejects bad parameters with a message naming them', async () => {
    const ctx = await getTestGpu();
    const logits = uploadF32(ctx, new Float32Array(6), [2, 3], 'logits');
    await expect(sampleToken(ctx, logits, { temperature: 0, uniform: 0.1 })).rejects.toThrow(/use argmaxToken/);
    await expect(sampleToken(ctx, logits, { temperature: 1, uniform: 1 })).rejects.toThrow(/uniform must be in \[0, 1\)/);
    await expect(sampleToken(ctx, logits, { temperature: 1, topP: 0, uniform: 0 })).rejects.toThrow(/topP/);
    await expect(sampleToken(ctx, logits, { temperature: 1, topK: 1.5, uniform: 0 })).rejects.toThrow(/topK/);
    await expect(argmaxToken(ctx, logits, { row: 2 })).rejects.toThrow(/row 2 is outside the 2 rows/);
    releaseTensor(ctx, logits);
  });
});
