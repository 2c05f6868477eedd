import { describe, expect, it } from 'vitest';
import { f32ToF16Bits } from '../util/f16';
import { randn } from '../util/random';
import { dequantizeMatrix, quantCode, quantizeInt4Blocks, quantizeInt8Rows, quantizeQ4_0Blocks } from '../util/quant';
import {
  decodeQ4_0,
  decodeQ4_K,
  decodeQ8_0,
  encodeQ4_0,
  encodeQ4_K,
  encodeQ8_0,
  GGML_Q4_0,
  GGML_Q4_K,
  GGML_Q8_0,
  ggmlToQuantMatrix,
  q4kScaleMin,
} from './ggmlBlocks';

const half = (v: number) => [f32ToF16Bits(v) & 0xff, f32ToF16Bits(v) >> 8];

/**
 * Exactly equal f32 values, with the first difference named. The one bit pattern allowed to differ
 * is the sign of zero: ggml's d·(q - 8) gives -0 for q = 8 and a negative d, our scale·q + offset +0.
 */
function expectSameBits(what: string, got: Float32Array, want: Float32Array) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

describe('ggml block decoders on hand-checked blocks', () => {
  it('Q8_0: fp16 d then 32 int8, x = d·q', () => {
    const block = new Uint8Array(34);
    block.set(half(0.5), 0);
    block.set([1, 0xfe, 127, 0x81, 0], 2); // 1, -2, 127, -127, 0
    const x = decodeQ8_0(block, 32);
    expect([...x.slice(0, 5)]).toEqual([0.5, -1, 63.5, -63.5, 0]);
    expect(x.slice(5).every((v) => v === 0)).toBe(true);
  });

  it('Q4_0: byte j holds value j (low nibble) and j + 16 (high nibble), x = d·(q - 8)', () => {
    const block = new Uint8Array(18).fill(0x88);
    block.set(half(2), 0);
    block[2] = 0x9f; // value 0: 15 -> 14; value 16: 9 -> 2
    block[3] = 0x08; // value 1: 8 -> 0; value 17: 0 -> -16
    const x = decodeQ4_0(block, 32);
    expect([x[0], x[16], x[1], x[17], x[2], x[31]]).toEqual([14, 2, 0, -16, 0, 0]);
  });

  it('Q4_K: 6-bit scales and mins of sub-blocks 0 and 5, chunked nibble order', () => {
    const block = new Uint8Array(144);
    block.set(half(1), 0); // d
    block.set(half(0.5), 2); // dmin
    const s = 4; // scales start
    block[s + 0] = 3; // sc0 = 3
    block[s + 4] = 2; // m0 = 2
    block[s + 1] = 2 << 6; // high bits of sc5 (42 = 0b10_1010)
    block[s + 5] = 1 << 6; // high bits of m5 (21 = 0b01_0101)
    block[s + 9] = 10 | (5 << 4); // low bits of sc5, m5
    expect(q4kScaleMin(block, s, 0)).toEqual([3, 2]);
    expect(q4kScaleMin(block, s, 5)).toEqual([42, 21]);
    expect(q4kScaleMin(block, s, 1)).toEqual([0, 0]);
    const qs = 16;
    block[qs + 0] = 0x05; // value 0 (sub-block 0): 1·3·5 - 0.5·2 = 14; value 32 (sub-block 1): 0
    block[qs + 64] = 0x70; // chunk 2: value 128 (sub-block 4) low 0, value 160 (sub-block 5) high 7
    const x = decodeQ4_K(block, 256);
    expect(x[0]).toBe(14);
    expect(x[32]).toBe(0);
    expect(x[128]).toBe(0);
    expect(x[160]).toBe(42 * 7 - 0.5 * 21);
    expect(x[161]).toBe(-0.5 * 21); // q = 0 in sub-block 5
    expect(x[1]).toBe(-1); // q = 0 in sub-block 0
  });

  it('rejects a size that is not whole blocks, and too few bytes', () => {
    expect(() => decodeQ8_0(new Uint8Array(34), 31)).toThrow(/whole number of 32-value blocks/);
    expect(() => decodeQ4_K(new Uint8Array(143), 256)).toThrow(/143 bytes for 256 values/);
  });
});

describe('encoders (ggml reference rules) and round trips', () => {
  const x = randn(512, 5, 0.7);
  x[3] = 0;
  x[40] = -2.5; // a negative largest magnitude: Q4_0's d is positive then

  it('Q8_0 round trip is within d/2 of each value', () => {
    const y = decodeQ8_0(encodeQ8_0(x), x.length);
    for (let b = 0; b < 16; b++) {
      const amax = Math.max(...Array.from(x.slice(b * 32, b * 32 + 32), Math.abs));
      for (let j = 0; j < 32; j++) expect(Math.abs(y[b * 32 + j] - x[b * 32 + j])).toBeLessThanOrEqual((amax / 127) * 0.5 + amax * 2 ** -11) // plus d's fp16 rounding, times |q| <= 127;
    }
  });

  it('Q4_0 round trip is within one step d of each value, and the largest value exactly (q = 0)', () => {
    const bytes = encodeQ4_0(x);
    const y = decodeQ4_0(bytes, x.length);
    expect(bytes[18 + 2 + 8] & 15).toBe(0); // value 40 = block 1, position 8: low nibble of byte 8
    for (let b = 0; b < 16; b++) {
      const amax = Math.max(...Array.from(x.slice(b * 32, b * 32 + 32), Math.abs));
      for (let j = 0; j < 32; j++) expect(Math.abs(y[b * 32 + j] - x[b * 32 + j])).toBeLessThanOrEqual(amax / 8 + 1e-3);
    }
    expect(Math.abs(y[40] - -2.5)).toBeLessThan(2e-3); // fp16 d
  });

  it('Q4_K round trip stays within a sub-block step', () => {
    const y = decodeQ4_K(encodeQ4_K(x), x.length);
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(y[i] - x[i]));
    expect(worst).toBeLessThan(0.5);
    expect(worst).toBeGreaterThan(0);
  });
});

describe('our kernel layouts (util/quant.ts)', () => {
  it('int8 per output channel: scale absmax/127 per row, codes round half away from zero', () => {
    const w = Float32Array.from([1.27, 0.3, -0.07, 0, -5, 2.5]);
    const m = quantizeInt8Rows(w, 2, 3);
    expect(m.meta[0]).toBe(Math.fround(1.27 / 127));
    expect(m.meta[1]).toBe(Math.fround(5 / 127));
    expect([0, 1, 2].map((c) => quantCode(m, 0, c))).toEqual([127, 30, -7]);
    expect([0, 1, 2].map((c) => quantCode(m, 1, c))).toEqual([0, -127, 64]); // 2.5·127/5 = 63.5 -> 64
    const d = dequantizeMatrix(m);
    expect(d[4]).toBe(Math.fround(m.meta[1] * -127));
  });

  it('the Q4_0 rule equals ggml Q4_0 value for value (K a multiple of 32), and pads a ragged K with zeros', () => {
    const [N, K] = [3, 64];
    const w = randn(N * K, 9);
    expectSameBits('Q4_0 rule vs Q4_0', dequantizeMatrix(quantizeQ4_0Blocks(w, N, K)), decodeQ4_0(encodeQ4_0(w), N * K));
    const ragged = quantizeQ4_0Blocks(w.subarray(0, 2 * 37), 2, 37);
    const padded = new Float32Array(2 * 64);
    for (let r = 0; r < 2; r++) padded.set(w.subarray(r * 37, r * 37 + 37), r * 64);
    const ref = decodeQ4_0(encodeQ4_0(padded), 128);
    const got = dequantizeMatrix(ragged);
    for (let r = 0; r < 2; r++) expectSameBits(`ragged row ${r}`, got.subarray(r * 37, r * 37 + 37), ref.subarray(r * 64, r * 64 + 37));
  });

  it('int4 (range fit + least-squares refits): codes span 0..15, scales exact times any code, error below Q4_0 rule', () => {
    const [N, K] = [6, 70];
    const w = randn(N * K, 21, 0.2);
    const m = quantizeInt4Blocks(w, N, K);
    const d = dequantizeMatrix(m);
    const sq = (a: Float32Array) => a.reduce((s, v, i) => s + (v - w[i]) ** 2, 0);
    const q40 = dequantizeMatrix(quantizeQ4_0Blocks(w, N, K));
    expect(sq(d)).toBeLessThan(0.8 * sq(q40));
    for (let g = 0; g < m.meta.length / 2; g++) {
      const s = m.meta[2 * g];
      expect(s).toBeGreaterThan(0);
      for (let q = 0; q < 16; q++) expect(Math.fround(s * q)).toBe(s * q); // scale·q exact in f32
    }
    const codes = new Set(Array.from({ length: N * K }, (_, i) => quantCode(m, Math.floor(i / K), i % K)));
    expect(codes.has(0) && codes.has(15)).toBe(true);
    for (let i = 0; i < N * K; i++) expect(Math.abs(d[i] - w[i])).toBeLessThanOrEqual(m.meta[2 * Math.floor((i % K) / 32) + 2 * 3 * Math.floor(i / K)] * 1.01);
  });

  it('int8 round trip within scale/2, all-zero rows stay zero', () => {
    const [N, K] = [4, 45];
    const w = randn(N * K, 2);
    w.fill(0, K, 2 * K);
    const m = quantizeInt8Rows(w, N, K);
    const d = dequantizeMatrix(m);
    for (let r = 0; r < N; r++) for (let c = 0; c < K; c++) expect(Math.abs(d[r * K + c] - w[r * K + c])).toBeLessThanOrEqual(m.meta[r] * 0.5 * (1 + 1e-5));
    expect(d.subarray(K, 2 * K).every((v) => v === 0)).toBe(true);
  });

  it.each([
    ['Q8_0', GGML_Q8_0, encodeQ8_0, decodeQ8_0, 64],
    ['Q4_0', GGML_Q4_0, encodeQ4_0, decodeQ4_0, 96],
    ['Q4_K', GGML_Q4_K, encodeQ4_K, decodeQ4_K, 512],
  ] as const)('GGUF %s maps onto our layout losslessly (exactly the values of the decoder)', (_name, type, encode, decode, K) => {
    const N = 3;
    const w = randn(N * K, K + 1, 0.3);
    const bytes = encode(w);
    const m = ggmlToQuantMatrix(type, bytes, N, K);
    expectSameBits('layout vs decoder', dequantizeMatrix(m), decode(bytes, N * K));
  });

  it('a row that is not whole blocks is refused', () => {
    expect(() => ggmlToQuantMatrix(GGML_Q4_K, new Uint8Array(144 * 2), 2, 256 + 32)).toThrow(/row of 288 values/);
  });
});

describe('GGUF files with block tensors (gguf.ts)', () => {
  it('writes and reads Q8_0, Q4_0 and Q4_K tensors (sized by blocks) and refuses a row that is not whole blocks', async () => {
    const { GgmlType, readGguf, writeGguf } = await import('./gguf');
    const w = randn(2 * 256, 4);
    const file = writeGguf([], [
      { name: 'a', dims: [256, 2], type: GgmlType.Q8_0, data: encodeQ8_0(w) },
      { name: 'b', dims: [256, 2], type: GgmlType.Q4_0, data: encodeQ4_0(w) },
      { name: 'c', dims: [256, 2], type: GgmlType.Q4_K, data: encodeQ4_K(w) },
    ]);
    const g = readGguf(file, 'blocks.gguf');
    expect(g.tensors.map((t) => [t.name, t.type, t.byteLength])).toEqual([
      ['a', GGML_Q8_0, 16 * 34],
      ['b', GGML_Q4_0, 16 * 18],
      ['c', GGML_Q4_K, 2 * 144],
    ]);
    expectSameBits('Q4_K through a file', decodeQ4_K(g.tensors[2].bytes, 512), decodeQ4_K(encodeQ4_K(w), 512));
    expect(() => writeGguf([], [{ name: 'x', dims: [48, 1], type: GgmlType.Q8_0, data: new Uint8Array(51) }])).toThrow(/whole 32-value blocks/);
  });
});
