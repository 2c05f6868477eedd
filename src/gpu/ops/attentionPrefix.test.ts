// Attention over a key/value prefix + the sequence (prefix tuning) against the f64 reference
// written from Hugging Face's cache semantics (attentionPrefix.ref.ts), on every attention variant,
// and the reference's backward against central finite differences of its forward.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../device';
import { expectClose } from '../../util/check';
import { centralDiffVjp } from '../testing/gradcheck';
import { getTestGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32 } from '../tensor';
import { ATTENTION_VARIANTS } from './attention';
import { attentionPrefixBackward, attentionPrefixForward, emptyPrefixSaved, emptyPrefixScratch } from './attentionPrefix';
import { attentionPrefixBackwardRef, attentionPrefixForwardRef, type AttentionPrefixRefConfig } from './attentionPrefix.ref';

// f32 kernels against the f64 reference on the same f32 inputs (as attention.test.ts).
const TOL = { atol: 2e-5, rtol: 1e-4 };

type Case = AttentionPrefixRefConfig & { name: string };

// Prefix of 1 and odd lengths, T = 1, GQA / MQA / MHA, several key blocks and two workgroups of
// rows over the extended sequence, a window shorter than the prefix (far queries lose prefix keys,
// as in HF's cache mask) and one longer than P + T, D = 4 and 128, an explicit scale.
const CASES: Case[] = [
  { name: 'P 1, T 1', B: 1, T: 1, Hq: 1, Hkv: 1, D: 8, P: 1 },
  { name: 'P 1, gqa, two batches', B: 2, T: 13, Hq: 4, Hkv: 2, D: 8, P: 1 },
  { name: 'P 3, mqa D=4, several key blocks', B: 1, T: 37, Hq: 3, Hkv: 1, D: 4, P: 3 },
  { name: 'P 7, rep 3 D=12, two batches', B: 2, T: 9, Hq: 6, Hkv: 2, D: 12, P: 7 },
  { name: 'P 5, window 4 (< P)', B: 2, T: 11, Hq: 2, Hkv: 1, D: 8, P: 5, window: 4 },
  { name: 'P 9, window 40 (> P + T), scale 0.3', B: 1, T: 20, Hq: 2, Hkv: 2, D: 8, P: 9, window: 40, scale: 0.3 },
  { name: 'P 11, T 70 (rows over workgroups), gqa', B: 1, T: 70, Hq: 2, Hkv: 1, D: 8, P: 11 },
  { name: 'P 2, mha D=128', B: 1, T: 5, Hq: 2, Hkv: 2, D: 128, P: 2 },
];

function makeInputs(c: Case, seed: number) {
  const { B, T, Hq, Hkv, D, P } = c;
  return {
    q: randn(B * T * Hq * D, seed + 1),
    k: randn(B * T * Hkv * D, seed + 2),
    v: randn(B * T * Hkv * D, seed + 3),
    prefix: randn(2 * P * Hkv * D, seed + 4),
    dout: randn(B * T * Hq * D, seed + 5),
  };
}

async function runGpu(ctx: GpuContext, c: Case, x: ReturnType<typeof makeInputs>, variant?: string, initialGrad?: Float32Array) {
  const { B, T, Hq, Hkv, D, P } = c;
  const s = { B, T, Hq, Hkv, D, scale: c.scale, window: c.window, variant };
  const tq = uploadF32(ctx, x.q, [B, T, Hq, D], 'q');
  const tk = uploadF32(ctx, x.k, [B, T, Hkv, D], 'k');
  const tv = uploadF32(ctx, x.v, [B, T, Hkv, D], 'v');
  const tdout = uploadF32(ctx, x.dout, [B, T, Hq, D], 'dout');
  const kv = uploadF32(ctx, x.prefix, [2, P, Hkv * D], 'prefix');
  const pg = uploadF32(ctx, initialGrad ?? new Float32Array(x.prefix.length), [2, P, Hkv * D], 'prefix grad');
  const out = uploadF32(ctx, new Float32Array(B * T * Hq * D), [B, T, Hq * D], 'out');
  const dq = uploadF32(ctx, new Float32Array(B * T * Hq * D), [B, T, Hq * D], 'dq');
  const dk = uploadF32(ctx, new Float32Array(B * T * Hkv * D), [B, T, Hkv * D], 'dk');
  const dv = uploadF32(ctx, new Float32Array(B * T * Hkv * D), [B, T, Hkv * D], 'dv');
  const saved = emptyPrefixSaved(ctx, s, P);
  const scratch = emptyPrefixScratch(ctx, s, P);
  const prefix = { P, kv };
  await attentionPrefixForward(ctx, tq, tk, tv, prefix, out, saved, s);
  await attentionPrefixBackward(ctx, prefix, saved, tdout, { dq, dk, dv, prefixGrad: pg }, scratch, s);
  const res = {
    out: await downloadF32(ctx, out),
    dq: await downloadF32(ctx, dq),
    dk: await downloadF32(ctx, dk),
    dv: await downloadF32(ctx, dv),
    dprefix: await downloadF32(ctx, pg),
  };
  for (const t of [tq, tk, tv, tdout, kv, pg, out, dq, dk, dv, ...Object.values(saved), ...Object.values(scratch)]) releaseTensor(ctx, t);
  return res;
}

describe.each(Object.keys(ATTENTION_VARIANTS))('prefix attention vs f64 reference, variant %s', (variant) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const ctx = await getTestGpu();
    const x = makeInputs(c, c.T * 100 + c.P);
    const got = await runGpu(ctx, c, x, variant);
    const out = attentionPrefixForwardRef(x.q, x.k, x.v, x.prefix, c);
    const g = attentionPrefixBackwardRef(x.q, x.k, x.v, x.prefix, x.dout, c);
    expectClose('out', got.out, out, TOL);
    expectClose('dq', got.dq, g.dq, TOL);
    expectClose('dk', got.dk, g.dk, TOL);
    expectClose('dv', got.dv, g.dv, TOL);
    expectClose('dprefix', got.dprefix, g.dprefix, TOL);
  }, 300_000);
});

describe('prefix attention semantics', () => {
  it('accumulates into the prefix gradient and sees the prefix (output differs from plain causal attention)', async () => {
    const ctx = await getTestGpu();
    const c = CASES[3];
    const x = makeInputs(c, 3);
    const init = randn(x.prefix.length, 99);
    const got = await runGpu(ctx, c, x, undefined, init);
    const g = attentionPrefixBackwardRef(x.q, x.k, x.v, x.prefix, x.dout, c);
    expectClose('dprefix accumulated', got.dprefix, g.dprefix.map((d, i) => d + init[i]), TOL);
    // a zero-length view of the prefix would be plain causal attention: P = 1 with a key that
    // dominates must change the output, so the prefix is really attended
    const far = { ...x, prefix: x.prefix.map(() => 0) };
    const none = attentionPrefixForwardRef(far.q, far.k, far.v, far.prefix, c);
    expect(Math.max(...got.out.map((o, i) => Math.abs(o - none[i])))).toBeGreaterThan(1e-2);
  });

  it('window shorter than the prefix: the last queries no longer see the first prefix keys (HF cache positions)', () => {
    const c: Case = { name: 'w', B: 1, T: 6, Hq: 1, Hkv: 1, D: 4, P: 4, window: 3 };
    const x = makeInputs(c, 8);
    // moving prefix key 0 changes query 0's output... (its window reaches position 4 - 3 + 1 = 2, not 0)
    const moved = Float32Array.from(x.prefix);
    for (let d = 0; d < 4; d++) moved[d] += 5;
    const a = attentionPrefixForwardRef(x.q, x.k, x.v, x.prefix, c);
    const b = attentionPrefixForwardRef(x.q, x.k, x.v, moved, c);
    // no query sees prefix position 0: every query is at >= 4 with window 3
    expect(Array.from(a)).toEqual(Array.from(b));
    const c2 = { ...c, window: null };
    const a2 = attentionPrefixForwardRef(x.q, x.k, x.v, x.prefix, c2);
    const b2 = attentionPrefixForwardRef(x.q, x.k, x.v, moved, c2);
    expect(Math.max(...a2.map((o, i) => Math.abs(o - b2[i])))).toBeGreaterThan(1e-3);
  });

  it('names the op and the tensor in input errors', async () => {
    const ctx = await getTestGpu();
    const s = { B: 1, T: 2, Hq: 2, Hkv: 1, D: 4 };
    const q = uploadF32(ctx, new Float32Array(16), [2, 8], 'q');
    const k = uploadF32(ctx, new Float32Array(8), [2, 4], 'k');
    const kv = uploadF32(ctx, new Float32Array(8), [2, 1, 4], 'prefix');
    const saved = emptyPrefixSaved(ctx, s, 1);
    await expect(attentionPrefixForward(ctx, q, k, k, { P: 2, kv }, q, saved, s)).rejects.toThrow(/attentionPrefixForward: prefix kv must be an f32 tensor of 16 elements/);
    await expect(attentionPrefixForward(ctx, q, k, k, { P: 0, kv }, q, saved, s)).rejects.toThrow(/at least one position/);
    for (const t of [q, k, kv, ...Object.values(saved)]) releaseTensor(ctx, t);
  });
});

describe('prefix attention reference vs central finite differences of its forward', () => {
  const c: Case = { name: 'fd', B: 2, T: 3, Hq: 2, Hkv: 1, D: 4, P: 2, window: 4 };
  it('dq, dk, dv, dprefix', () => {
    const x = makeInputs(c, 21);
    const g = attentionPrefixBackwardRef(x.q, x.k, x.v, x.prefix, x.dout, c);
    const h = 1e-4;
    const tol = { atol: 1e-7, rtol: 1e-6 };
    expectClose('dq', g.dq, centralDiffVjp((q) => attentionPrefixForwardRef(q, x.k, x.v, x.prefix, c), x.q, x.dout, h), tol);
    expectClose('dk', g.dk, centralDiffVjp((k) => attentionPrefixForwardRef(x.q, k, x.v, x.prefix, c), x.k, x.dout, h), tol);
    expectClose('dv', g.dv, centralDiffVjp((v) => attentionPrefixForwardRef(x.q, x.k, v, x.prefix, c), x.v, x.dout, h), tol);
    expectClose('dprefix', g.dprefix, centralDiffVjp((p) => attentionPrefixForwardRef(x.q, x.k, x.v, p, c), x.prefix, x.dout, h), tol);
  });
});
