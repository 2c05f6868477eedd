// Sliding-window attention (Mistral, Gemma 3's local layers) and explicit scales (Gemma 3's
// query_pre_attn_scalar), in the training forward/backward and in KV-cache decode.
// Hugging Face's semantics (masking_utils.sliding_window_overlay): query i sees key j iff
// i - window < j <= i.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, emptyTensor, releaseTensor, uploadF32, uploadI32, type Tensor } from '../tensor';
import { ATTENTION_VARIANTS, attentionBackward, attentionForward, FA2_ATTENTION_VARIANT, FA2_SG_ATTENTION_VARIANT } from './attention';
import { FA2_SG_MAX_D } from './attentionFa2Sg';
import { attentionBackwardRef, attentionForwardRef, type AttentionRefConfig } from './attention.ref';
import { attentionDecode, kvCacheWrite } from './attentionDecode';
import { loadFixture, type AttentionWindowFixture } from './fixtures';

// f32 kernels against the f64 reference on the same f32 inputs (as attention.test.ts).
const TOL = { atol: 2e-5, rtol: 1e-4 };
const FD_TOL = { atol: 2e-5, rtol: 1e-4 };

interface Case {
  name: string;
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  window: number;
  scale?: number;
  docIds?: number[];
}

// Windows of 1 (only the token itself), not multiples of the key blocks (1/16/32), larger than T
// (no effect), crossing workgroups (64 rows), with packed documents, GQA/MQA, T = 1.
const CASES: Case[] = [
  { name: 'window 1: each token sees itself only', B: 2, T: 9, Hq: 2, Hkv: 1, D: 8, window: 1 },
  { name: 'window 5, gqa, several key blocks', B: 1, T: 37, Hq: 4, Hkv: 2, D: 8, window: 5 },
  { name: 'window 17 (one past a key block), mqa D=4, two workgroups', B: 1, T: 70, Hq: 3, Hkv: 1, D: 4, window: 17 },
  { name: 'window 3 with packed documents, rep 3 D=12', B: 2, T: 9, Hq: 6, Hkv: 2, D: 12, window: 3, docIds: [0, 0, 0, 0, 1, 1, 1, 1, 1, 5, 5, 5, 7, 7, 7, 7, 7, 7] },
  { name: 'window larger than T', B: 1, T: 11, Hq: 2, Hkv: 2, D: 8, window: 40 },
  { name: 'single token, window 4', B: 2, T: 1, Hq: 2, Hkv: 1, D: 8, window: 4 },
  { name: 'window 6 with Gemma 3 scale 256^-0.5 at D=16', B: 1, T: 20, Hq: 4, Hkv: 1, D: 16, window: 6, scale: 1 / 16 },
  // Gemma 3's head dim: each row split over two threads
  { name: 'Gemma 3 head dim 256, window 5, gqa 4:1, scale 1/16', B: 1, T: 11, Hq: 4, Hkv: 1, D: 256, window: 5, scale: 1 / 16 },
  { name: 'head dim 136 (two threads of 68), window 40 > T, packed docs', B: 1, T: 7, Hq: 2, Hkv: 2, D: 136, window: 40, docIds: [0, 0, 1, 1, 1, 2, 2] },
  { name: 'head dim 256, T = 70 (rows over two workgroups), window 17, interleaved docs, two batches', B: 2, T: 70, Hq: 2, Hkv: 1, D: 256, window: 17, docIds: Array.from({ length: 140 }, (_, i) => (i * 7) % 3) },
];

interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dout: Float32Array;
}

function makeInputs(c: Case, seed: number): Inputs {
  const { B, T, Hq, Hkv, D } = c;
  return {
    q: randn(B * T * Hq * D, seed + 1),
    k: randn(B * T * Hkv * D, seed + 2),
    v: randn(B * T * Hkv * D, seed + 3),
    dout: randn(B * T * Hq * D, seed + 4),
  };
}

function refConfig(c: Case, window: number | null = c.window): AttentionRefConfig {
  return { B: c.B, T: c.T, Hq: c.Hq, Hkv: c.Hkv, D: c.D, docIds: c.docIds, scale: c.scale, window };
}

async function runGpu(ctx: GpuContext, c: Case, x: Inputs, variant?: string) {
  const { B, T, Hq, Hkv, D } = c;
  const tq = uploadF32(ctx, x.q, [B, T, Hq, D], 'q');
  const tk = uploadF32(ctx, x.k, [B, T, Hkv, D], 'k');
  const tv = uploadF32(ctx, x.v, [B, T, Hkv, D], 'v');
  const tdout = uploadF32(ctx, x.dout, [B, T, Hq, D], 'dout');
  const tdoc = c.docIds ? uploadI32(ctx, c.docIds, [B * T], 'docIds') : undefined;
  const opts = { B, T, Hq, Hkv, D, docIds: tdoc, window: c.window, scale: c.scale, variant };
  const { out, lse } = await attentionForward(ctx, tq, tk, tv, opts);
  const g = await attentionBackward(ctx, tq, tk, tv, out, lse, tdout, opts);
  const res = {
    out: await downloadF32(ctx, out),
    lse: await downloadF32(ctx, lse),
    dq: await downloadF32(ctx, g.dq),
    dk: await downloadF32(ctx, g.dk),
    dv: await downloadF32(ctx, g.dv),
  };
  const all: (Tensor | undefined)[] = [tq, tk, tv, tdout, tdoc, out, lse, g.dq, g.dk, g.dv, g.scratch];
  for (const t of all) if (t) releaseTensor(ctx, t);
  return res;
}

describe('attention reference: the sliding window is Hugging Face\'s', () => {
  it('query i sees keys i - window + 1 .. i', () => {
    // one-hot values: out row i is the probability-weighted mix of the keys it sees, so the set
    // of keys with nonzero weight is read straight off the output
    const T = 6;
    const W = 3;
    const q = new Float32Array(T * T).fill(0);
    const k = new Float32Array(T * T).fill(0);
    const v = new Float32Array(T * T);
    for (let j = 0; j < T; j++) v[j * T + j] = 1;
    const { out } = attentionForwardRef(q, k, v, { B: 1, T, Hq: 1, Hkv: 1, D: T, window: W });
    for (let i = 0; i < T; i++) {
      const seen = [...Array(T).keys()].filter((j) => out[i * T + j] > 0);
      const want = [...Array(T).keys()].filter((j) => j <= i && j > i - W);
      expect(seen, `query ${i}`).toEqual(want);
      for (const j of seen) expect(out[i * T + j]).toBeCloseTo(1 / want.length, 12);
    }
  });
});

describe.each(Object.keys(ATTENTION_VARIANTS))('windowed attention vs f64 reference, variant %s', (variant) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const ctx = await getTestGpu();
    const x = makeInputs(c, c.T * 10 + c.window);
    if (variant === FA2_SG_ATTENTION_VARIANT && c.D > FA2_SG_MAX_D) {
      // version 3 keeps a whole row in one lane: larger head dims are refused by name, never run
      await expect(runGpu(ctx, c, x, variant)).rejects.toThrow(/variant v3_fa2_sg cannot run on this device: head dim \d+ is above 128/);
      return;
    }
    const got = await runGpu(ctx, c, x, variant);
    const ref = attentionForwardRef(x.q, x.k, x.v, refConfig(c));
    const g = attentionBackwardRef(x.q, x.k, x.v, x.dout, refConfig(c));
    expectClose('out', got.out, ref.out, TOL);
    expectClose('lse', got.lse, ref.lse, TOL);
    expectClose('dq', got.dq, g.dq, TOL);
    expectClose('dk', got.dk, g.dk, TOL);
    expectClose('dv', got.dv, g.dv, TOL);
  }, 300_000); // compiling the v2 pipelines of D = 256 takes about a minute on a loaded SwiftShader
});

describe('the window matters', () => {
  it('a window shorter than T changes out, lse and every gradient; one of T or more changes nothing', async () => {
    const ctx = await getTestGpu();
    const c = CASES[1];
    const x = makeInputs(c, 3);
    const windowed = await runGpu(ctx, c, x);
    const full = attentionForwardRef(x.q, x.k, x.v, refConfig(c, null));
    const fullG = attentionBackwardRef(x.q, x.k, x.v, x.dout, refConfig(c, null));
    const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    expect(maxDiff(windowed.out, full.out)).toBeGreaterThan(0.05);
    expect(maxDiff(windowed.lse, full.lse)).toBeGreaterThan(0.05);
    expect(maxDiff(windowed.dq, fullG.dq)).toBeGreaterThan(0.05);
    expect(maxDiff(windowed.dk, fullG.dk)).toBeGreaterThan(0.05);
    expect(maxDiff(windowed.dv, fullG.dv)).toBeGreaterThan(0.05);
    const wide = await runGpu(ctx, { ...c, window: c.T }, x);
    expectClose('window T = full attention', wide.out, full.out, TOL);
    expectClose('window T = full attention (dk)', wide.dk, fullG.dk, TOL);
  });

  it('rejects a window that is not a positive integer, naming it', async () => {
    const ctx = await getTestGpu();
    const t = uploadF32(ctx, new Float32Array(16), [1, 2, 1, 8], 'q');
    for (const window of [0, -3, 2.5, Number.NaN]) {
      await expect(attentionForward(ctx, t, t, t, { B: 1, T: 2, Hq: 1, Hkv: 1, D: 8, window })).rejects.toThrow(
        /attentionForward: window must be a positive integer number of keys \(or null for full attention\)/,
      );
    }
    releaseTensor(ctx, t);
  });
});

describe('windowed attention backward vs central finite differences of the forward', () => {
  const fdCases: Case[] = [
    { name: 'head dim 256 (two threads per row), window 2', B: 1, T: 3, Hq: 2, Hkv: 1, D: 256, window: 2, scale: 1 / 16 },
    { name: 'gqa window 2', B: 1, T: 5, Hq: 2, Hkv: 1, D: 4, window: 2 },
    { name: 'docs and window 2, scale 0.3', B: 2, T: 4, Hq: 2, Hkv: 2, D: 4, window: 2, scale: 0.3, docIds: [0, 0, 0, 1, 4, 4, 2, 2] },
  ];
  it.each(fdCases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const ctx = await getTestGpu();
    const x = makeInputs(c, 41);
    const got = await runGpu(ctx, c, x);
    const cfg = refConfig(c);
    const h = 1e-4;
    expectClose('dq vs FD', got.dq, centralDiffVjp((q) => attentionForwardRef(q, x.k, x.v, cfg).out, x.q, x.dout, h), FD_TOL);
    expectClose('dk vs FD', got.dk, centralDiffVjp((k) => attentionForwardRef(x.q, k, x.v, cfg).out, x.k, x.dout, h), FD_TOL);
    expectClose('dv vs FD', got.dv, centralDiffVjp((v) => attentionForwardRef(x.q, x.k, v, cfg).out, x.v, x.dout, h), FD_TOL);
  });
});

describe('windowed attention vs the PyTorch fixtures', () => {
  const fx = loadFixture<AttentionWindowFixture>('attention_window');
  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', async (_, fc) => {
    const ctx = await getTestGpu();
    const { B, T, Hq, Hkv, D, scale, window } = fc.config;
    const c: Case = { name: fc.name, B, T, Hq, Hkv, D, window, scale, docIds: fc.docIds };
    const x = { q: Float32Array.from(fc.q), k: Float32Array.from(fc.k), v: Float32Array.from(fc.v), dout: Float32Array.from(fc.dout) };
    const got = await runGpu(ctx, c, x);
    expectClose('out', got.out, fc.out, TOL);
    expectClose('lse', got.lse, fc.lse, TOL);
    expectClose('dq', got.dq, fc.dq, TOL);
    expectClose('dk', got.dk, fc.dk, TOL);
    expectClose('dv', got.dv, fc.dv, TOL);
  });
});

/** Rows t0 .. t1-1 of every batch entry of a (B, T, H, D) array, as (B, t1-t0, H, D). */
function rows(x: Float32Array | Float64Array, B: number, T: number, HD: number, t0: number, t1: number): Float32Array {
  const out = new Float32Array(B * (t1 - t0) * HD);
  for (let b = 0; b < B; b++) out.set(x.subarray((b * T + t0) * HD, (b * T + t1) * HD), b * (t1 - t0) * HD);
  return out;
}

function lseRows(lse: Float64Array, B: number, H: number, T: number, t0: number, t1: number): Float64Array {
  const out = new Float64Array(B * H * (t1 - t0));
  for (let bh = 0; bh < B * H; bh++) out.set(lse.subarray(bh * T + t0, bh * T + t1), bh * (t1 - t0));
  return out;
}

describe.each(Object.keys(ATTENTION_VARIANTS))('windowed KV-cache decode equals rows of the windowed training attention, variant %s', (variant) => {
  const decodeCases = [
    { name: 'window 4, prefill 9 then single tokens', B: 2, T: 13, Hq: 4, Hkv: 2, D: 8, Tmax: 16, window: 4, chunks: [9, 1, 1, 1, 1] },
    { name: 'window 20 past a key block, scale 0.2, mqa', B: 1, T: 45, Hq: 3, Hkv: 1, D: 4, Tmax: 45, window: 20, scale: 0.2, chunks: [1, 30, 1, 13] },
    { name: 'Gemma 3 head dim 256, window 6, scale 1/16', B: 1, T: 10, Hq: 2, Hkv: 1, D: 256, Tmax: 12, window: 6, scale: 1 / 16, chunks: [7, 1, 1, 1] },
  ];
  it.each(decodeCases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const ctx = await getTestGpu();
    const { B, T, Hq, Hkv, D, Tmax } = c;
    // version 3 refuses head dims above 128 (the training cases above check the refusal)
    const run = variant === FA2_SG_ATTENTION_VARIANT && D > FA2_SG_MAX_D ? FA2_ATTENTION_VARIANT : variant;
    const q = randn(B * T * Hq * D, T + 1);
    const k = randn(B * T * Hkv * D, T + 2);
    const v = randn(B * T * Hkv * D, T + 3);
    const ref = attentionForwardRef(q, k, v, { B, T, Hq, Hkv, D, window: c.window, scale: c.scale });
    const kCache = emptyTensor(ctx, 'f32', [B, Tmax, Hkv, D], 'k cache');
    const vCache = emptyTensor(ctx, 'f32', [B, Tmax, Hkv, D], 'v cache');
    let pos = 0;
    for (const n of c.chunks) {
      const tk = uploadF32(ctx, rows(k, B, T, Hkv * D, pos, pos + n), [B, n, Hkv, D], 'new k');
      const tv = uploadF32(ctx, rows(v, B, T, Hkv * D, pos, pos + n), [B, n, Hkv, D], 'new v');
      const tq = uploadF32(ctx, rows(q, B, T, Hq * D, pos, pos + n), [B, n, Hq, D], 'new q');
      kvCacheWrite(ctx, tk, tv, kCache, vCache, { pos });
      const { out, lse } = await attentionDecode(ctx, tq, kCache, vCache, { pos, Hq, variant: run, window: c.window, scale: c.scale });
      expectClose(`out rows ${pos}..${pos + n - 1}`, await downloadF32(ctx, out), rows(ref.out, B, T, Hq * D, pos, pos + n), TOL);
      expectClose(`lse rows ${pos}..${pos + n - 1}`, await downloadF32(ctx, lse), lseRows(ref.lse, B, Hq, T, pos, pos + n), TOL);
      for (const t of [tk, tv, tq, out, lse]) releaseTensor(ctx, t);
      pos += n;
    }
    releaseTensor(ctx, kCache);
    releaseTensor(ctx, vCache);
  }, 300_000);
});
