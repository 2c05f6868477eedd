// Attention version 3 (FA2 tiles, the forward's softmax split over subgroup lanes) against the
// f64 TS reference on awkward shapes (head dims 8, 64, 80, 96, 128; GQA; causal; packed
// documents; sliding windows; ragged tiles and blocks), and its gating: no 'subgroups' -> version 2
// with the reason, a failing check -> never used, head dims above 128 -> version 2.
import { describe, expect, it } from 'vitest';
import { acquireGpu } from '../device';
import { expectClose } from '../../util/check';
import { getTestGpu, newTestGpu, nodeGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, releaseTensor, uploadF32, uploadI32, type Tensor } from '../tensor';
import { attentionBackward, attentionChoiceFor, attentionForward, attentionVariantFor, FA2_ATTENTION_VARIANT, FA2_SG_ATTENTION_VARIANT, prepareAttentionKernels } from './attention';
import { attentionBackwardRef, attentionForwardRef } from './attention.ref';
import type { AttentionRunner } from './attentionValidate';
import { fa2SgIllegalReason } from './attentionFa2Sg';

const TOL = { atol: 2e-5, rtol: 1e-4 };
const docs = (B: number, T: number, cut: number) => Array.from({ length: B * T }, (_, i) => 10 * Math.floor(i / T) + (i % T < cut ? 0 : 1));
const CASES = [
  { name: 'D 8, gqa 2, T 70 (three blocks, ragged tile), documents, two batches', B: 2, T: 70, Hq: 4, Hkv: 2, D: 8, docIds: docs(2, 70, 23) },
  { name: 'D 8, T 1', B: 1, T: 1, Hq: 2, Hkv: 1, D: 8 },
  { name: 'D 64, gqa 3, documents', B: 1, T: 33, Hq: 3, Hkv: 1, D: 64, docIds: docs(1, 33, 9) },
  { name: 'D 80, window 7, odd T', B: 1, T: 35, Hq: 2, Hkv: 1, D: 80, window: 7 },
  { name: 'D 96, mha, window 40 (wider than a tile)', B: 1, T: 45, Hq: 2, Hkv: 2, D: 96, window: 40 },
  { name: 'D 128, gqa 4, window 9, documents', B: 1, T: 40, Hq: 4, Hkv: 1, D: 128, window: 9, docIds: docs(1, 40, 17) },
];

describe('attention v3 (subgroup softmax) vs the f64 reference', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const ctx = await getTestGpu();
    if (!ctx.description.features.subgroups) return; // gating tests below cover such devices
    const { B, T, Hq, Hkv, D } = c;
    const x = { q: randn(B * T * Hq * D, 1 + D), k: randn(B * T * Hkv * D, 2 + D), v: randn(B * T * Hkv * D, 3 + D), dout: randn(B * T * Hq * D, 4 + D) };
    const made: Tensor[] = [];
    const up = (a: Float32Array, s: number[], l: string) => (made.push(uploadF32(ctx, a, s, l)), made[made.length - 1]);
    const q = up(x.q, [B, T, Hq, D], 'q');
    const k = up(x.k, [B, T, Hkv, D], 'k');
    const v = up(x.v, [B, T, Hkv, D], 'v');
    const dout = up(x.dout, [B, T, Hq, D], 'dout');
    const docIds = c.docIds ? uploadI32(ctx, c.docIds, [B * T], 'doc') : undefined;
    const opts = { B, T, Hq, Hkv, D, window: c.window, docIds, variant: FA2_SG_ATTENTION_VARIANT };
    const { out, lse } = await attentionForward(ctx, q, k, v, opts);
    const g = await attentionBackward(ctx, q, k, v, out, lse, dout, opts);
    const cfg = { B, T, Hq, Hkv, D, window: c.window, docIds: c.docIds };
    const f = attentionForwardRef(x.q, x.k, x.v, cfg);
    const r = attentionBackwardRef(x.q, x.k, x.v, x.dout, cfg);
    expectClose('out', await downloadF32(ctx, out), f.out, TOL);
    expectClose('lse', await downloadF32(ctx, lse), f.lse, TOL);
    expectClose('dq', await downloadF32(ctx, g.dq), r.dq, TOL);
    expectClose('dk', await downloadF32(ctx, g.dk), r.dk, TOL);
    expectClose('dv', await downloadF32(ctx, g.dv), r.dv, TOL);
    for (const t of [...made, out, lse, g.dq, g.dk, g.dv, g.scratch, ...(docIds ? [docIds] : [])]) releaseTensor(ctx, t);
  }, 300_000);
});

describe('attention v3 gating', () => {
  const SHAPE = { B: 1, T: 40, Hq: 2, Hkv: 1, D: 8 };
  it('is chosen only after its check passed on this device (subgroups: yes)', async () => {
    const ctx = await newTestGpu();
    expect(ctx.description.features.subgroups).toBe(true);
    expect(attentionChoiceFor(ctx, SHAPE).variant).not.toBe(FA2_SG_ATTENTION_VARIANT);
    await prepareAttentionKernels(ctx, 8);
    const c = attentionChoiceFor(ctx, SHAPE);
    expect(c.variant, c.reason).toBe(FA2_SG_ATTENTION_VARIANT);
    // above 128 dims version 2 stays, with the reason
    expect(fa2SgIllegalReason(ctx, 256, 40, 2)).toMatch(/above 128/);
    ctx.device.destroy();
  }, 300_000);

  it('falls back to version 2, recording why, when its check fails', async () => {
    const ctx = await newTestGpu();
    const broken: AttentionRunner = async () => {
      throw new Error('planted failure');
    };
    await prepareAttentionKernels(ctx, 8, undefined, broken);
    const c = attentionChoiceFor(ctx, SHAPE);
    expect(c.variant).toBe(FA2_ATTENTION_VARIANT);
    expect(c.reason).toMatch(/subgroup softmax failed its check: .*planted failure/);
    ctx.device.destroy();
  }, 300_000);

  it('is never chosen (nor compiled) on a device without subgroups', async () => {
    const ctx = await acquireGpu({ gpu: nodeGpu(), timeoutMs: 30_000, useSubgroups: false });
    expect(ctx.description.features.subgroups).toBe(false);
    let ran = false;
    await prepareAttentionKernels(ctx, 8, undefined, async () => {
      ran = true;
      throw new Error('must not run');
    });
    expect(ran).toBe(false);
    expect(attentionVariantFor(ctx, SHAPE)).toBe(FA2_ATTENTION_VARIANT);
    expect(attentionChoiceFor(ctx, SHAPE).reason).toMatch(/no 'subgroups' feature/);
    ctx.device.destroy();
  }, 300_000);
});
