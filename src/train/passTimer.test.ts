// PassTimer: records every op's compute pass with its label and category, times them with
// timestamp queries where the device has them, leaves results unchanged, skips passes outside
// `only`, spans several query sets, and restores ctx.encoder.
import { describe, expect, it } from 'vitest';
import { attentionForward } from '../gpu/ops/attention';
import { addInPlace } from '../gpu/ops/elementwise';
import { matmulXWt } from '../gpu/ops/matmul';
import { downloadF32, emptyTensor, releaseTensor, uploadF16, uploadF32 } from '../gpu/tensor';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { randn } from '../util/random';
import { passCategory, PassTimer, sumByCategory } from './passTimer';

describe('passCategory', () => {
  it('sorts the ops’ pass labels into matmul, attention and other', () => {
    expect(passCategory('matmulXWt v5_q2x2 1024x576x576')).toBe('matmul');
    expect(passCategory('matmulDyW v4_8x8 1024x1536x576')).toBe('matmul');
    expect(passCategory('matmulDyTX v1 16x16x16')).toBe('matmul');
    expect(passCategory('lora u=drop(x)Aᵀ 1024x16x576 v2')).toBe('matmul');
    expect(passCategory('attention fwd B4 T256 Hq9 Hkv3 D64')).toBe('attention');
    expect(passCategory('attention bwd dk dv B4 T256')).toBe('attention');
    expect(passCategory('rmsnorm_forward 1024x576')).toBe('other');
    expect(passCategory('ew_add_inplace n=100')).toBe('other');
    expect(passCategory('adamw lora_A t=1')).toBe('other');
    expect(passCategory('')).toBe('other');
  });
});

describe('PassTimer on the test GPU', () => {
  it('records each pass in order with its category and time, without changing results', async () => {
    const ctx = await getTestGpu();
    const [M, N, K] = [96, 80, 64];
    const x = uploadF32(ctx, randn(M * K, 1), [M, K], 'x');
    const w = uploadF16(ctx, randn(N * K, 2, 0.2), [N, K], 'w');
    const b = uploadF32(ctx, randn(M * N, 3), [M, N], 'b');
    const [B, T, Hq, Hkv, D] = [1, 32, 2, 1, 16];
    const q = uploadF32(ctx, randn(B * T * Hq * D, 4), [B, T, Hq, D], 'q');
    const k = uploadF32(ctx, randn(B * T * Hkv * D, 5), [B, T, Hkv, D], 'k');
    const v = uploadF32(ctx, randn(B * T * Hkv * D, 6), [B, T, Hkv, D], 'v');
    const work = async () => {
      const y = await matmulXWt(ctx, x, w);
      await addInPlace(ctx, y, b);
      const a = await attentionForward(ctx, q, k, v, { B, T, Hq, Hkv, D });
      return { y, o: a.out, lse: a.lse };
    };
    const plain = await work();
    const yPlain = await downloadF32(ctx, plain.y);

    const encoder = ctx.encoder;
    const timer = new PassTimer(ctx);
    try {
      expect(timer.timestamps).toBe(ctx.device.features.has('timestamp-query'));
      timer.begin();
      const timed = await work();
      const t0 = performance.now();
      const { passes, timed: ok } = await timer.end();
      const wall = performance.now() - t0;
      expect(passes.map((p) => p.category)).toEqual(['matmul', 'other', 'attention']);
      expect(passes[0].label).toMatch(/^matmulXWt .*96x80x64$/);
      expect(await downloadF32(ctx, timed.y)).toEqual(yPlain);
      expect(await downloadF32(ctx, timed.o)).toEqual(await downloadF32(ctx, plain.o));
      if (timer.timestamps) {
        expect(ok).toBe(true);
        // Chromium quantises timestamps, Dawn in Node does not: every pass takes some time here
        for (const p of passes) expect(p.ms).toBeGreaterThan(0);
        const sum = sumByCategory(passes);
        // the passes ran inside end()'s submit: they cannot add up to more than its wall time
        expect(sum.matmul + sum.attention + sum.other).toBeLessThan(wall);
      } else {
        expect(ok).toBe(false);
      }

      // only: the other categories' passes are not run at all
      const y2 = emptyTensor(ctx, 'f32', [M, N], 'y2');
      timer.only = 'attention';
      timer.begin();
      await matmulXWt(ctx, x, w, null, { out: y2 });
      await addInPlace(ctx, y2, b);
      await attentionForward(ctx, q, k, v, { B, T, Hq, Hkv, D, out: timed.o, lse: timed.lse });
      const r = await timer.end();
      expect(r.passes.map((p) => p.category)).toEqual(['attention']);
      expect(timer.skippedPasses).toBe(2);
      expect((await downloadF32(ctx, y2)).every((z) => z === 0)).toBe(true);
      timer.only = 'none';
      timer.begin();
      await matmulXWt(ctx, x, w, null, { out: y2 });
      expect((await timer.end()).passes).toEqual([]);
      expect(timer.skippedPasses).toBe(1);
      for (const t of [y2, timed.y, timed.o, timed.lse]) releaseTensor(ctx, t);
    } finally {
      timer.uninstall();
    }
    expect(ctx.encoder).toBe(encoder);
    for (const t of [x, w, b, q, k, v, plain.y, plain.o, plain.lse]) releaseTensor(ctx, t);
  });

  it('times more passes than one query set holds (2048)', async () => {
    const ctx = await getTestGpu();
    const a = uploadF32(ctx, new Float32Array(64), [64], 'a');
    const one = uploadF32(ctx, new Float32Array(64).fill(1), [64], 'one');
    const timer = new PassTimer(ctx);
    try {
      timer.begin();
      const n = 2100;
      for (let i = 0; i < n; i++) {
        await addInPlace(ctx, a, one);
        // submit now and then, as the trainer does between micro-batches
        if (i % 700 === 699) ctx.flush();
      }
      const { passes, timed } = await timer.end();
      expect(passes.length).toBe(n);
      expect(timed).toBe(timer.timestamps);
      if (timer.timestamps) expect(passes.every((p) => p.ms >= 0 && p.ms < 1000)).toBe(true);
      expect((await downloadF32(ctx, a))[0]).toBe(n);
    } finally {
      timer.uninstall();
    }
    releaseTensor(ctx, a);
    releaseTensor(ctx, one);
  });
});
