// ggml's quantized block formats as GGUF files store them (llama.cpp, ggml-common.h), written from
// the layouts: reference decoders, the encoders tests use to write GGUF files, and the lossless
// maps onto the layouts our kernels read (util/quant.ts). Little-endian; a tensor's rows are
// consecutive runs of blocks along its fastest dimension (K of an (N, K) weight).
//   Q8_0  34 bytes per 32 values: fp16 d, then 32 int8 q;           x = d · q
//   Q4_0  18 bytes per 32 values: fp16 d, then 16 bytes; byte j has value j in its low nibble and
//         value j + 16 in its high nibble;                           x = d · (q - 8)
//   Q4_K  144 bytes per 256 values: fp16 d, fp16 dmin, 12 bytes of eight 6-bit scales and eight
//         6-bit mins, 128 bytes of nibbles. Sub-block s (32 values) has scale sc_s and min m_s:
//           s < 4:  sc = b[s] & 63,                      m = b[s + 4] & 63
//           s >= 4: sc = (b[s + 4] & 15) | (b[s - 4] >> 6) << 4,  m = (b[s + 4] >> 4) | (b[s] >> 6) << 4
//         The nibbles come in 4 chunks of 32 bytes, chunk c covering values 64c .. 64c + 63: byte l
//         has value 64c + l (sub-block 2c) in its low nibble and 64c + 32 + l (sub-block 2c + 1) in
//         its high nibble;                                           x = d·sc_s · q - dmin·m_s
//   Q5_K  176 bytes per 256 values: fp16 d, fp16 dmin, the 12 scale/min bytes of Q4_K, 32 bytes qh,
//         128 bytes of low nibbles laid out as Q4_K's. Value v = 64c + 32h + l (h = 0 low nibble,
//         1 high) has its fifth bit (16) in bit 2c + h of qh[l];    x = d·sc_s · q - dmin·m_s
//   Q6_K  210 bytes per 256 values: 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8
//         scales (one per 16 values), fp16 d last. Per half n (128 values) ql[64n ..], qh[32n ..]:
//         for l < 32, value 128n + l + 32t (t = 0..3) takes the low nibble (t even) or high nibble
//         (t odd) of ql[64n + l + 32(t & 1)] and bits 2t, 2t+1 of qh[32n + l] as bits 4, 5;
//         scale index = value index / 16;                            x = d·sc · (q - 32)
import { f16BitsToF32, f32ToF16Bits } from '../util/f16';
import { Q4_BLOCK, rowWords, type QuantMatrix } from '../util/quant';

export const GGML_Q8_0 = 8;
export const GGML_Q4_0 = 2;
export const GGML_Q4_K = 12;
export const GGML_Q5_K = 13;
export const GGML_Q6_K = 14;

/** values per block and bytes per block, by ggml type code */
export const GGML_BLOCKS: Record<number, { values: number; bytes: number; name: string }> = {
  [GGML_Q4_0]: { values: 32, bytes: 18, name: 'Q4_0' },
  [GGML_Q8_0]: { values: 32, bytes: 34, name: 'Q8_0' },
  [GGML_Q4_K]: { values: 256, bytes: 144, name: 'Q4_K' },
  [GGML_Q5_K]: { values: 256, bytes: 176, name: 'Q5_K' },
  [GGML_Q6_K]: { values: 256, bytes: 210, name: 'Q6_K' },
};

/**
 * Block formats whose values our kernel layouts hold exactly (ggmlToQuantMatrix): Q8_0 and Q6_K as
 * q8 (Q6_K: group 16, scale d·sc, code q - 32), Q4_0 and Q4_K as q4. Q5_K has 5-bit codes with an
 * offset, which neither layout holds: its tensors are dequantized (to fp16 on the GPU).
 */
export const GGML_KEPT_QUANTIZED = new Set([GGML_Q8_0, GGML_Q4_0, GGML_Q4_K, GGML_Q6_K]);

function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

function checkSize(type: number, bytes: Uint8Array, n: number): number {
  const f = GGML_BLOCKS[type];
  if (n % f.values !== 0) throw new Error(`${f.name}: ${n} values is not a whole number of ${f.values}-value blocks`);
  const blocks = n / f.values;
  if (bytes.length < blocks * f.bytes) throw new Error(`${f.name}: ${bytes.length} bytes for ${n} values (${blocks * f.bytes} needed)`);
  return blocks;
}

export function decodeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const blocks = checkSize(GGML_Q8_0, bytes, n);
  const out = new Float32Array(n);
  for (let i = 0; i < blocks; i++) {
    const o = i * 34;
    const d = f16BitsToF32(u16(bytes, o));
    for (let j = 0; j < 32; j++) {
      const q = bytes[o + 2 + j];
      out[i * 32 + j] = d * (q >= 128 ? q - 256 : q);
    }
  }
  return out;
}

export function decodeQ4_0(bytes: Uint8Array, n: number): Float32Array {
  const blocks = checkSize(GGML_Q4_0, bytes, n);
  const out = new Float32Array(n);
  for (let i = 0; i < blocks; i++) {
    const o = i * 18;
    const d = f16BitsToF32(u16(bytes, o));
    for (let j = 0; j < 16; j++) {
      const b = bytes[o + 2 + j];
      out[i * 32 + j] = ((b & 15) - 8) * d;
      out[i * 32 + j + 16] = ((b >> 4) - 8) * d;
    }
  }
  return out;
}

/** Scale and min (6-bit integers) of sub-block s from the 12 packed bytes at `o`. */
export function q4kScaleMin(bytes: Uint8Array, o: number, s: number): [number, number] {
  const b = (i: number) => bytes[o + i];
  if (s < 4) return [b(s) & 63, b(s + 4) & 63];
  return [(b(s + 4) & 15) | ((b(s - 4) >> 6) << 4), (b(s + 4) >> 4) | ((b(s) >> 6) << 4)];
}

export function decodeQ4_K(bytes: Uint8Array, n: number): Float32Array {
  const blocks = checkSize(GGML_Q4_K, bytes, n);
  const out = new Float32Array(n);
  for (let i = 0; i < blocks; i++) {
    const o = i * 144;
    const d = f16BitsToF32(u16(bytes, o));
    const dmin = f16BitsToF32(u16(bytes, o + 2));
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = q4kScaleMin(bytes, o + 4, 2 * c);
      const [sc2, m2] = q4kScaleMin(bytes, o + 4, 2 * c + 1);
      const qs = o + 16 + 32 * c;
      for (let l = 0; l < 32; l++) {
        const q = bytes[qs + l];
        out[i * 256 + 64 * c + l] = Math.fround(Math.fround(d * sc1) * (q & 15) - Math.fround(dmin * m1));
        out[i * 256 + 64 * c + 32 + l] = Math.fround(Math.fround(d * sc2) * (q >> 4) - Math.fround(dmin * m2));
      }
    }
  }
  return out;
}

export function decodeQ5_K(bytes: Uint8Array, n: number): Float32Array {
  const blocks = checkSize(GGML_Q5_K, bytes, n);
  const out = new Float32Array(n);
  for (let i = 0; i < blocks; i++) {
    const o = i * 176;
    const d = f16BitsToF32(u16(bytes, o));
    const dmin = f16BitsToF32(u16(bytes, o + 2));
    for (let c = 0; c < 4; c++) {
      for (let h = 0; h < 2; h++) {
        const [sc, m] = q4kScaleMin(bytes, o + 4, 2 * c + h);
        const scale = Math.fround(d * sc);
        const min = Math.fround(dmin * m);
        for (let l = 0; l < 32; l++) {
          const lo = (bytes[o + 48 + 32 * c + l] >> (4 * h)) & 15;
          const hi = (bytes[o + 16 + l] >> (2 * c + h)) & 1;
          out[i * 256 + 64 * c + 32 * h + l] = Math.fround(scale * (lo + 16 * hi) - min);
        }
      }
    }
  }
  return out;
}

/** The 6-bit code (0..63) of value v (0..255) of the Q6_K block at o. */
function q6kCode(bytes: Uint8Array, o: number, v: number): number {
  const n = v >> 7;
  const t = (v >> 5) & 3;
  const l = v & 31;
  const lo = (bytes[o + 64 * n + l + 32 * (t & 1)] >> (t & 2 ? 4 : 0)) & 15;
  const hi = (bytes[o + 128 + 32 * n + l] >> (2 * t)) & 3;
  return lo | (hi << 4);
}

export function decodeQ6_K(bytes: Uint8Array, n: number): Float32Array {
  const blocks = checkSize(GGML_Q6_K, bytes, n);
  const out = new Float32Array(n);
  for (let i = 0; i < blocks; i++) {
    const o = i * 210;
    const d = f16BitsToF32(u16(bytes, o + 208));
    for (let v = 0; v < 256; v++) {
      const sc = (bytes[o + 192 + (v >> 4)] << 24) >> 24;
      out[i * 256 + v] = Math.fround(Math.fround(d * sc) * (q6kCode(bytes, o, v) - 32));
    }
  }
  return out;
}

export function decodeGgmlBlocks(type: number, bytes: Uint8Array, n: number): Float32Array {
  if (type === GGML_Q8_0) return decodeQ8_0(bytes, n);
  if (type === GGML_Q4_0) return decodeQ4_0(bytes, n);
  if (type === GGML_Q4_K) return decodeQ4_K(bytes, n);
  if (type === GGML_Q5_K) return decodeQ5_K(bytes, n);
  if (type === GGML_Q6_K) return decodeQ6_K(bytes, n);
  throw new Error(`ggml type ${type} is not a block format Whetstone reads (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)`);
}

const roundAway = (v: number) => (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5));

/** ggml's reference Q8_0 quantizer: d = absmax / 127, q = round(x / d). */
export function encodeQ8_0(x: ArrayLike<number>): Uint8Array {
  const blocks = checkSize(GGML_Q8_0, new Uint8Array(Math.ceil(x.length / 32) * 34), x.length);
  const out = new Uint8Array(blocks * 34);
  for (let i = 0; i < blocks; i++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i * 32 + j]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const h = f32ToF16Bits(d);
    out[i * 34] = h & 0xff;
    out[i * 34 + 1] = h >> 8;
    for (let j = 0; j < 32; j++) out[i * 34 + 2 + j] = roundAway(Math.fround(x[i * 32 + j] * id)) & 0xff;
  }
  return out;
}

/** ggml's reference Q4_0 quantizer: d = m / -8 for the value m of largest magnitude, q = min(15, trunc(x / d + 8.5)). */
export function encodeQ4_0(x: ArrayLike<number>): Uint8Array {
  const blocks = checkSize(GGML_Q4_0, new Uint8Array(Math.ceil(x.length / 32) * 18), x.length);
  const out = new Uint8Array(blocks * 18);
  for (let i = 0; i < blocks; i++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[i * 32 + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    const h = f32ToF16Bits(d);
    out[i * 18] = h & 0xff;
    out[i * 18 + 1] = h >> 8;
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, Math.trunc(Math.fround(Math.fround(x[i * 32 + j] * id) + 8.5)));
      const hi = Math.min(15, Math.trunc(Math.fround(Math.fround(x[i * 32 + 16 + j] * id) + 8.5)));
      out[i * 18 + 2 + j] = lo | (hi << 4);
    }
  }
  return out;
}

/**
 * A Q4_K encoder for tests (a simple min/max fit per sub-block, not llama.cpp's search): per
 * sub-block scale (max - min) / 15 and min -min, both quantized to 6 bits against the super-block's
 * largest, then each value to the nearest code. What matters for a test is that the bytes are
 * valid Q4_K, with every field and nibble position exercised.
 */
export function encodeQ4_K(x: ArrayLike<number>): Uint8Array {
  const blocks = checkSize(GGML_Q4_K, new Uint8Array(Math.ceil(x.length / 256) * 144), x.length);
  const out = new Uint8Array(blocks * 144);
  for (let i = 0; i < blocks; i++) {
    const o = i * 144;
    const scales: number[] = [];
    const mins: number[] = [];
    for (let s = 0; s < 8; s++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let j = 0; j < 32; j++) {
        lo = Math.min(lo, x[i * 256 + 32 * s + j]);
        hi = Math.max(hi, x[i * 256 + 32 * s + j]);
      }
      lo = Math.min(lo, 0);
      scales.push((hi - lo) / 15);
      mins.push(-lo);
    }
    const d = f16BitsToF32(f32ToF16Bits(Math.max(...scales) / 63));
    const dmin = f16BitsToF32(f32ToF16Bits(Math.max(...mins) / 63));
    const sc = scales.map((v) => (d > 0 ? Math.min(63, Math.round(v / d)) : 0));
    const mn = mins.map((v) => (dmin > 0 ? Math.min(63, Math.round(v / dmin)) : 0));
    const hd = f32ToF16Bits(d);
    const hm = f32ToF16Bits(dmin);
    out.set([hd & 0xff, hd >> 8, hm & 0xff, hm >> 8], o);
    packScaleMins(out, o + 4, sc, mn);
    for (let s = 0; s < 8; s++) {
      const scale = Math.fround(d * sc[s]);
      const min = Math.fround(dmin * mn[s]);
      for (let j = 0; j < 32; j++) {
        const q = scale > 0 ? Math.max(0, Math.min(15, Math.round((x[i * 256 + 32 * s + j] + min) / scale))) : 0;
        const byte = o + 16 + 32 * (s >> 1) + j;
        out[byte] |= s & 1 ? q << 4 : q;
      }
    }
  }
  return out;
}

/** The 6-bit scales and mins of a K-quant super-block (Q4_K, Q5_K) packed into 12 bytes at o. */
function packScaleMins(out: Uint8Array, o: number, sc: number[], mn: number[]): void {
  for (let s = 0; s < 4; s++) {
    out[o + s] = sc[s] | ((sc[s + 4] >> 4) << 6);
    out[o + 4 + s] = mn[s] | ((mn[s + 4] >> 4) << 6);
    out[o + 8 + s] = (sc[s + 4] & 15) | ((mn[s + 4] & 15) << 4);
  }
}

/**
 * A Q5_K encoder for tests (the min/max fit of encodeQ4_K with 31 steps): valid Q5_K bytes with
 * every field, nibble and high bit exercised, not llama.cpp's search.
 */
export function encodeQ5_K(x: ArrayLike<number>): Uint8Array {
  const blocks = checkSize(GGML_Q5_K, new Uint8Array(Math.ceil(x.length / 256) * 176), x.length);
  const out = new Uint8Array(blocks * 176);
  for (let i = 0; i < blocks; i++) {
    const o = i * 176;
    const scales: number[] = [];
    const mins: number[] = [];
    for (let s = 0; s < 8; s++) {
      let lo = 0;
      let hi = -Infinity;
      for (let j = 0; j < 32; j++) {
        lo = Math.min(lo, x[i * 256 + 32 * s + j]);
        hi = Math.max(hi, x[i * 256 + 32 * s + j]);
      }
      scales.push((hi - lo) / 31);
      mins.push(-lo);
    }
    const d = f16BitsToF32(f32ToF16Bits(Math.max(...scales) / 63));
    const dmin = f16BitsToF32(f32ToF16Bits(Math.max(...mins) / 63));
    const sc = scales.map((v) => (d > 0 ? Math.min(63, Math.round(v / d)) : 0));
    const mn = mins.map((v) => (dmin > 0 ? Math.min(63, Math.round(v / dmin)) : 0));
    const hd = f32ToF16Bits(d);
    const hm = f32ToF16Bits(dmin);
    out.set([hd & 0xff, hd >> 8, hm & 0xff, hm >> 8], o);
    packScaleMins(out, o + 4, sc, mn);
    for (let s = 0; s < 8; s++) {
      const scale = Math.fround(d * sc[s]);
      const min = Math.fround(dmin * mn[s]);
      const [c, h] = [s >> 1, s & 1];
      for (let l = 0; l < 32; l++) {
        const q = scale > 0 ? Math.max(0, Math.min(31, Math.round((x[i * 256 + 32 * s + l] + min) / scale))) : 0;
        out[o + 48 + 32 * c + l] |= (q & 15) << (4 * h);
        out[o + 16 + l] |= (q >> 4) << (2 * c + h);
      }
    }
  }
  return out;
}

/**
 * A Q6_K encoder for tests (not llama.cpp's search): per 16-value group the value m of largest
 * magnitude gives the scale m / -32, the super-block's d = (largest |scale|) / 127 in fp16, each
 * group's int8 sc = round(scale / d), each code round(x / (d·sc)) + 32 clamped to 0..63.
 */
export function encodeQ6_K(x: ArrayLike<number>): Uint8Array {
  const blocks = checkSize(GGML_Q6_K, new Uint8Array(Math.ceil(x.length / 256) * 210), x.length);
  const out = new Uint8Array(blocks * 210);
  for (let i = 0; i < blocks; i++) {
    const o = i * 210;
    const scales: number[] = [];
    for (let g = 0; g < 16; g++) {
      let m = 0;
      for (let j = 0; j < 16; j++) if (Math.abs(x[i * 256 + 16 * g + j]) > Math.abs(m)) m = x[i * 256 + 16 * g + j];
      scales.push(m / -32);
    }
    const d = f16BitsToF32(f32ToF16Bits(Math.max(...scales.map(Math.abs)) / 127));
    const hd = f32ToF16Bits(d);
    out[o + 208] = hd & 0xff;
    out[o + 209] = hd >> 8;
    for (let g = 0; g < 16; g++) {
      const sc = d > 0 ? Math.max(-128, Math.min(127, Math.round(scales[g] / d))) : 0;
      out[o + 192 + g] = sc & 0xff;
      const step = Math.fround(d * sc);
      for (let j = 0; j < 16; j++) {
        const v = 16 * g + j;
        const q = step !== 0 ? Math.max(0, Math.min(63, Math.round(x[i * 256 + v] / step) + 32)) : 32;
        const [n, t, l] = [v >> 7, (v >> 5) & 3, v & 31];
        out[o + 64 * n + l + 32 * (t & 1)] |= (q & 15) << (t & 2 ? 4 : 0);
        out[o + 128 + 32 * n + l] |= (q >> 4) << (2 * t);
      }
    }
  }
  return out;
}

/**
 * A GGUF block tensor of `rows` x `cols` values (cols = its fastest dimension) in our kernel
 * layout, bit for bit the values of the decoder: Q8_0 -> q8 with group 32; Q6_K -> q8 with group
 * 16 (scale d·sc, exact in f32: 11 x 8 bits; code q - 32 in -32..31, so scale · code rounds once as
 * the decoder's does); Q4_0 and Q4_K -> q4 (Q4_K's nibbles regrouped into Q4_0 order, each
 * sub-block's d·sc and -dmin·m as scale and offset). Q5_K has no such layout (GGML_KEPT_QUANTIZED).
 */
export function ggmlToQuantMatrix(type: number, bytes: Uint8Array, rows: number, cols: number): QuantMatrix {
  const f = GGML_BLOCKS[type];
  if (!f || !GGML_KEPT_QUANTIZED.has(type)) throw new Error(`ggml type ${type} (${f?.name ?? 'unknown'}) has no lossless kernel layout (Q8_0, Q6_K, Q4_0, Q4_K do); dequantize it`);
  if (cols % f.values !== 0) throw new Error(`${f.name}: a row of ${cols} values is not a whole number of ${f.values}-value blocks`);
  checkSize(type, bytes, rows * cols);
  const groups = cols / 32;
  if (type === GGML_Q8_0) {
    const words = rowWords('q8', cols);
    const codes = new Uint32Array(rows * words);
    const cb = new Uint8Array(codes.buffer);
    const meta = new Float32Array(rows * groups);
    for (let b = 0; b < rows * groups; b++) {
      meta[b] = f16BitsToF32(u16(bytes, b * 34));
      cb.set(bytes.subarray(b * 34 + 2, b * 34 + 34), b * 32);
    }
    return { format: 'q8', rows, cols, group: 32, codes, meta };
  }
  if (type === GGML_Q6_K) {
    const words = rowWords('q8', cols);
    const codes = new Uint32Array(rows * words);
    const cb = new Uint8Array(codes.buffer);
    const meta = new Float32Array((rows * cols) / 16);
    for (let sb = 0; sb < (rows * cols) / 256; sb++) {
      const o = sb * 210;
      const d = f16BitsToF32(u16(bytes, o + 208));
      for (let g = 0; g < 16; g++) meta[sb * 16 + g] = Math.fround(d * ((bytes[o + 192 + g] << 24) >> 24));
      // cols is whole 256-blocks and a q8 row is cols/4 words, so value index = byte index
      for (let v = 0; v < 256; v++) cb[sb * 256 + v] = (q6kCode(bytes, o, v) - 32) & 0xff;
    }
    return { format: 'q8', rows, cols, group: 16, codes, meta };
  }
  const codes = new Uint32Array(rows * rowWords('q4', cols));
  const cb = new Uint8Array(codes.buffer);
  const meta = new Float32Array(rows * groups * 2);
  if (type === GGML_Q4_0) {
    for (let b = 0; b < rows * groups; b++) {
      const d = f16BitsToF32(u16(bytes, b * 18));
      meta[2 * b] = d;
      meta[2 * b + 1] = -8 * d;
      cb.set(bytes.subarray(b * 18 + 2, b * 18 + 18), b * 16);
    }
    return { format: 'q4', rows, cols, group: Q4_BLOCK, codes, meta };
  }
  for (let sb = 0; sb < (rows * cols) / 256; sb++) {
    const o = sb * 144;
    const d = f16BitsToF32(u16(bytes, o));
    const dmin = f16BitsToF32(u16(bytes, o + 2));
    for (let s = 0; s < 8; s++) {
      const g = sb * 8 + s;
      const [sc, m] = q4kScaleMin(bytes, o + 4, s);
      meta[2 * g] = Math.fround(d * sc);
      meta[2 * g + 1] = -Math.fround(dmin * m);
      const src = o + 16 + 32 * (s >> 1);
      const shift = s & 1 ? 4 : 0;
      for (let j = 0; j < 16; j++) {
        const a = (bytes[src + j] >> shift) & 15;
        const bq = (bytes[src + 16 + j] >> shift) & 15;
        cb[g * 16 + j] = a | (bq << 4);
      }
    }
  }
  return { format: 'q4', rows, cols, group: Q4_BLOCK, codes, meta };
}
