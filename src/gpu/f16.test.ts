import { afterAll, describe, expect, it } from 'vitest';
import { castF16ToF32, castF32ToF16 } from './ops/cast';
import { f16BitsToF32, f32ToF16Bits, packF16, unpackF16, unpackHalves } from '../util/f16';
import { getTestGpu } from './testing/nodeGpu';
import { downloadF32, downloadU32, releaseTensor, uploadF32 } from './tensor';

const f32 = (x: number) => Math.fround(x);

// Edge cases where a naive converter goes wrong.
const CASES: [number, number][] = [
  [0, 0x0000],
  [-0, 0x8000],
  [1, 0x3c00],
  [-2, 0xc000],
  [65504, 0x7bff], // max half
  [65519.99, 0x7bff], // just below the rounding point to inf
  [65520, 0x7c00], // ties to even -> overflow to inf
  [1e6, 0x7c00],
  [-1e6, 0xfc00],
  [Infinity, 0x7c00],
  [-Infinity, 0xfc00],
  [2 ** -14, 0x0400], // smallest normal
  [2 ** -24, 0x0001], // smallest subnormal
  [2 ** -25, 0x0000], // exactly half the smallest subnormal: tie to even (0)
  [3 * 2 ** -25, 0x0002], // 1.5 ulp: tie to even (2)
  [2 ** -26, 0x0000],
  [f32(2 ** -24 * 1.5000001), 0x0002],
  [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: even is 1
  [1 + 3 * 2 ** -11, 0x3c02], // tie: rounds up to even mantissa 2
  [f32(1 + 2 ** -11 + 2 ** -20), 0x3c01], // just above the tie: up
  [2 ** -14 - 2 ** -25, 0x0400], // largest subnormal rounds up into the smallest normal
];

describe('f32 -> f16 (TS)', () => {
  it.each(CASES)('%d -> 0x%s', (x, bits) => {
    expect(f32ToF16Bits(x).toString(16)).toBe(bits.toString(16));
  });

  it('NaN stays NaN, both ways', () => {
    const h = f32ToF16Bits(NaN);
    expect((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0).toBe(true);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
  });

  it('every half converts to f32 and back to itself', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = f16BitsToF32(h);
      if (Number.isNaN(x)) continue;
      expect(f32ToF16Bits(x)).toBe(h);
    }
  });

  it('packs element 2i in the low half and pads odd counts', () => {
    const p = packF16([1, -2, 0.5]);
    expect(p.length).toBe(2);
    expect(p[0]).toBe((0xc000 << 16 | 0x3c00) >>> 0);
    expect(p[1]).toBe(0x3800);
    expect(Array.from(unpackF16(p, 3))).toEqual([1, -2, 0.5]);
  });
});

describe('f16 on the GPU agrees with the TS conversion', () => {
  afterAll(async () => (await getTestGpu()).flush());

  it('the GPU cast (pack2x16float, plus explicit overflow handling) matches f32ToF16Bits', async () => {
    const ctx = await getTestGpu();
    const values: number[] = CASES.map(([x]) => x);
    // random magnitudes from 2^-30 to 2^17 with random mantissas, both signs
    let s = 12345;
    for (let i = 0; i < 4001; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const e = (s % 48) - 30;
      values.push(f32((s & 1 ? -1 : 1) * 2 ** e * (1 + ((s >>> 8) % 1024) / 1024 + ((s >>> 3) % 7) / 8192)));
    }
    const src = uploadF32(ctx, values, [values.length], 'cast test src');
    const packed = await castF32ToF16(ctx, src);
    const words = await downloadU32(ctx, packed);
    const gpuHalves = unpackHalves(words, values.length);
    const mismatches: string[] = [];
    for (let i = 0; i < values.length; i++) {
      const ts = f32ToF16Bits(values[i]);
      if (gpuHalves[i] !== ts) mismatches.push(`${values[i]}: gpu 0x${gpuHalves[i].toString(16)} ts 0x${ts.toString(16)}`);
    }
    expect(mismatches.slice(0, 8)).toEqual([]);
    // NaN separately: any NaN encoding is acceptable
    const nan = uploadF32(ctx, [NaN, 1], [2], 'nan');
    const nanBack = await downloadF32(ctx, await castF16ToF32(ctx, await castF32ToF16(ctx, nan)));
    expect(Number.isNaN(nanBack[0])).toBe(true);
    expect(nanBack[1]).toBe(1);
    for (const t of [src, packed, nan]) releaseTensor(ctx, t);
  });

  it('unpack2x16float matches f16BitsToF32 on every finite half', async () => {
    const ctx = await getTestGpu();
    const halves = new Uint16Array(0x10000);
    for (let h = 0; h < 0x10000; h++) halves[h] = h;
    const words = new Uint32Array(halves.buffer);
    const src = uploadF32(ctx, new Float32Array(words.buffer), [0x8000], 'halves as words');
    const f16View = { ...src, dtype: 'f16' as const, shape: [0x10000] };
    const back = await downloadF32(ctx, await castF16ToF32(ctx, f16View));
    const bad: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const ref = f16BitsToF32(h);
      if (Number.isNaN(ref) ? !Number.isNaN(back[h]) : back[h] !== ref) {
        // SwiftShader may flush f16 subnormals on unpack: report them distinctly
        if (bad.length < 8) bad.push(`0x${h.toString(16)}: gpu ${back[h]} ts ${ref}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
