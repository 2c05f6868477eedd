// Q5_K and Q6_K (the other tensors of llama.cpp's Q4_K_M / Q5_K_M files): hand-checked blocks of
// the reference decoders (ggmlBlocks.ts, written from ggml-common.h's block layouts), the test
// encoders' round trips, Q6_K's lossless map onto the q8 layout (group 16), and GGUF sizing.
import { describe, expect, it } from 'vitest';
import { f32ToF16Bits } from '../util/f16';
import { randn } from '../util/random';
import { dequantizeMatrix } from '../util/quant';
import { decodeQ5_K, decodeQ6_K, encodeQ5_K, encodeQ6_K, GGML_BLOCKS, GGML_KEPT_QUANTIZED, GGML_Q5_K, GGML_Q6_K, ggmlToQuantMatrix } from './ggmlBlocks';
import { GgmlType, readGguf, writeGguf } from './gguf';

const half = (v: number) => [f32ToF16Bits(v) & 0xff, f32ToF16Bits(v) >> 8];

function expectSameBits(what: string, got: Float32Array, want: Float32Array) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i]) && got[i] !== want[i]) throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
}

/** A hand-made Q6_K block: d = 0.5 (last 2 bytes), a few scales and codes in each half and nibble position. */
function q6kBlock(): Uint8Array {
  const b = new Uint8Array(210);
  b.set(half(0.5), 208);
  const sc = 192;
  b[sc + 0] = 3; // values 0..15
  b[sc + 4] = 4; // values 64..79
  b[sc + 5] = -2 & 0xff; // values 80..95 (int8)
  b[sc + 15] = 1; // values 240..255
  b[0] = 0x07 | (0x9 << 4); // value 0 low nibble 7; value 64 (t = 2) low nibble 9
  b[128 + 0] = 3 | (1 << 4); // qh[0]: value 0 high bits 3 (q = 55); value 64 high bits 1 (q = 25)
  b[21] = 0xa0; // value 85 = 64 + 21 (half 0, t = 2, l = 21): high nibble of ql[21] = 10
  b[128 + 21] = 2 << 4; // its high bits 2: q = 42
  b[64 + 26 + 32] = 0xf0; // value 250 = 128 + 96 + 26 (half 1, t = 3): high nibble of ql[64 + 32 + 26]
  b[128 + 32 + 26] = 3 << 6; // qh[32 + 26] bits 6-7: q = 63
  return b;
}

describe('Q6_K: 256 values, ql low 4 bits, qh high 2 bits, 16 int8 scales, fp16 d; x = d·sc·(q - 32)', () => {
  it('decodes a hand-checked block', () => {
    const x = decodeQ6_K(q6kBlock(), 256);
    expect(x[0]).toBe(0.5 * 3 * (55 - 32));
    expect(x[1]).toBe(0.5 * 3 * -32); // code 0
    expect(x[64]).toBe(0.5 * 4 * (25 - 32));
    expect(x[85]).toBe(0.5 * -2 * (42 - 32));
    expect(x[80]).toBe(0.5 * -2 * -32);
    expect(x[250]).toBe(0.5 * 1 * (63 - 32));
    expect(x[249]).toBe(0.5 * 1 * -32);
    expect(Math.abs(x[16])).toBe(0); // scale 0
  });

  it('maps onto the q8 layout (group 16, scale d·sc, code q - 32) bit for bit', () => {
    const b = q6kBlock();
    const m = ggmlToQuantMatrix(GGML_Q6_K, b, 1, 256);
    expect([m.format, m.group, m.meta.length]).toEqual(['q8', 16, 16]);
    expect(m.meta[5]).toBe(-1);
    expectSameBits('hand block', dequantizeMatrix(m), decodeQ6_K(b, 256));
    const [N, K] = [3, 512];
    const w = randn(N * K, 7, 0.3);
    const bytes = encodeQ6_K(w);
    expectSameBits('random 3 x 512', dequantizeMatrix(ggmlToQuantMatrix(GGML_Q6_K, bytes, N, K)), decodeQ6_K(bytes, N * K));
  });

  it('encoder round trip: each value within 1.5 steps |d·sc| of its group (half a step, or a clamped code), steps well below the values', () => {
    const w = randn(1024, 3, 0.2);
    const bytes = encodeQ6_K(w);
    const y = decodeQ6_K(bytes, w.length);
    const meta = ggmlToQuantMatrix(GGML_Q6_K, bytes, 4, 256).meta; // d·sc per 16 values
    const steps = Float32Array.from(w, (_, i) => Math.abs(meta[i >> 4]));
    let inside = 0;
    for (let i = 0; i < w.length; i++) {
      expect(Math.abs(y[i] - w[i]), `value ${i}`).toBeLessThanOrEqual(1.5 * steps[i] * (1 + 1e-6));
      if (Math.abs(y[i] - w[i]) <= 0.5 * steps[i] * (1 + 1e-6)) inside++;
      expect(steps[i]).toBeLessThan(0.05);
    }
    expect(inside).toBeGreaterThan(0.95 * w.length);
  });
});

describe('Q5_K: fp16 d, dmin, Q4_K scales/mins, qh fifth bits, nibbles; x = d·sc·q - dmin·m', () => {
  it('decodes a hand-checked block (sub-blocks 0 and 5, qh bits 0 and 5)', () => {
    const b = new Uint8Array(176);
    b.set(half(1), 0);
    b.set(half(0.5), 2);
    const s = 4;
    b[s + 0] = 3; // sc0
    b[s + 4] = 2; // m0
    b[s + 1] = 2 << 6; // sc5 = 42: high bits
    b[s + 5] = 1 << 6; // m5 = 21: high bits
    b[s + 9] = 10 | (5 << 4); // low bits of sc5, m5
    b[48 + 0] = 0x05; // value 0: low nibble 5
    b[48 + 64] = 0x70; // value 160 (chunk 2, high nibble): 7
    b[16 + 0] = 1 | (1 << 5); // qh[0]: bit 0 (value 0) and bit 5 (value 160 = 64·2 + 32 + 0)
    const x = decodeQ5_K(b, 256);
    expect(x[0]).toBe(3 * 21 - 0.5 * 2);
    expect(x[1]).toBe(-1);
    expect(x[32]).toBe(0);
    expect(x[160]).toBe(42 * 23 - 0.5 * 21);
    expect(x[161]).toBe(-0.5 * 21);
  });

  it('encoder round trip stays within a sub-block step; no lossless kernel layout (refused, dequantized instead)', () => {
    const w = randn(512, 5, 0.2);
    const bytes = encodeQ5_K(w);
    const y = decodeQ5_K(bytes, w.length);
    for (let sb = 0; sb < 16; sb++) {
      let lo = 0;
      let hi = -Infinity;
      for (let j = 0; j < 32; j++) [lo, hi] = [Math.min(lo, w[32 * sb + j]), Math.max(hi, w[32 * sb + j])];
      for (let j = 0; j < 32; j++) expect(Math.abs(y[32 * sb + j] - w[32 * sb + j])).toBeLessThan(((hi - lo) / 31) * 1.5 + 0.01);
    }
    expect(GGML_KEPT_QUANTIZED.has(GGML_Q5_K)).toBe(false);
    expect(() => ggmlToQuantMatrix(GGML_Q5_K, bytes, 2, 256)).toThrow(/Q5_K\) has no lossless kernel layout/);
  });
});

describe('GGUF files with Q5_K and Q6_K tensors', () => {
  it('sizes them by blocks (176 and 210 bytes per 256 values) and reads back the same bytes', () => {
    const w = randn(2 * 256, 9);
    const file = writeGguf([], [
      { name: 'a', dims: [256, 2], type: GgmlType.Q5_K, data: encodeQ5_K(w) },
      { name: 'b', dims: [256, 2], type: GgmlType.Q6_K, data: encodeQ6_K(w) },
    ]);
    const g = readGguf(file, 'k.gguf');
    expect(g.tensors.map((t) => [t.name, t.type, t.byteLength])).toEqual([
      ['a', GGML_Q5_K, 2 * 176],
      ['b', GGML_Q6_K, 2 * 210],
    ]);
    expect(GGML_BLOCKS[GGML_Q6_K]).toEqual({ values: 256, bytes: 210, name: 'Q6_K' });
    expectSameBits('Q6_K through a file', decodeQ6_K(g.tensors[1].bytes, 512), decodeQ6_K(encodeQ6_K(w), 512));
    expect(() => writeGguf([], [{ name: 'x', dims: [128, 1], type: GgmlType.Q6_K, data: new Uint8Array(105) }])).toThrow(/whole 256-value blocks/);
  });
});
