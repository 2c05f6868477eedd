// A quantized frozen base matrix as the GPU kernels read it (ops/matmulQuant.ts), its quantizers
// (what load.ts does to F32/F16/BF16 checkpoints with --quantize) and its reference dequantizer.
//
// W is (N, K) in Hugging Face nn.Linear layout, one row per output feature. Every row is split in
// groups of `group` consecutive elements along K; a group has one scale (and, for q4, one offset):
//   q8: w = scale · q,           q int8 (-127..127), 4 per u32 word (element 4i+b in byte b,
//                                two's complement); a row is ceil(K/4) words
//   q4: w = scale · q + offset,  q uint4 (0..15), in blocks of 32 elements (16 bytes, 4 words) laid
//                                out as ggml's Q4_0: byte j of a block holds element j in its low
//                                nibble and element j + 16 in its high nibble; a row is
//                                ceil(K/32)·4 words; group is 32
// Past K a row is zero-padded. meta holds, per (row, group) in row-major order, the scale (q8) or
// the pair (scale, offset) (q4), as f32.
// Where the values come from:
//   int8 (quantizeInt8Rows):  per output channel absmax: group = K, scale = max|w| / 127,
//                             q = round(w / scale) (half away from zero)
//   int4 (quantizeInt4Blocks): per 32-block range [lo, hi] (as ggml's Q4_1): offset = lo,
//                             scale = (hi - lo) / 15, q = round((w - lo) / scale) in 0..15
//   Q4_0 rule (quantizeQ4_0Blocks): ggml's Q4_0 per 32-block: the element of largest magnitude
//                             m, d = fp16(m / -8), q = min(15, trunc(w / d + 8.5)), offset = -8·d
//   GGUF Q8_0 / Q4_0 / Q4_K tensors (io/ggmlBlocks.ts) map onto the same two layouts losslessly.
// Every dequantized value is one correctly rounded f32 operation away from exact (q4 scales carry
// at most 20 significant bits, so scale·q is exact; q8's f32 scale times q rounds once), so
// kernels, fused multiply-add or not, and the reference below agree bit for bit on W.
import { f32ToF16Bits, f16BitsToF32 } from './f16';

export type QuantFormat = 'q8' | 'q4';

/** The load-time quantization a user chooses ('none': fp16 as before). */
export type BaseQuantization = 'none' | 'int8' | 'int4';

export interface QuantMatrix {
  format: QuantFormat;
  /** N: output features (rows) */
  rows: number;
  /** K: input features (columns) */
  cols: number;
  /** elements of a row per scale; q4: always 32 */
  group: number;
  /** packed codes, rows × rowWords(format, cols) words */
  codes: Uint32Array;
  /** per (row, group): q8 scale, q4 (scale, offset) */
  meta: Float32Array;
}

export const Q4_BLOCK = 32;

export function rowWords(format: QuantFormat, cols: number): number {
  return format === 'q8' ? Math.ceil(cols / 4) : Math.ceil(cols / Q4_BLOCK) * 4;
}

export function groupsPerRow(m: Pick<QuantMatrix, 'cols' | 'group'>): number {
  return Math.ceil(m.cols / m.group);
}

/** Bytes the GPU holds for a matrix of this format: codes and meta in one buffer. */
export function quantBytes(format: QuantFormat, rows: number, cols: number, group = format === 'q8' ? cols : Q4_BLOCK): number {
  const groups = Math.ceil(cols / group);
  return rows * (rowWords(format, cols) + groups * (format === 'q8' ? 1 : 2)) * 4;
}

/** Round half away from zero (C's roundf). */
function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** int8 per output channel: group = K, scale = absmax / 127. */
export function quantizeInt8Rows(w: ArrayLike<number>, rows: number, cols: number): QuantMatrix {
  return quantizeInt8Groups(w, rows, cols, cols, 'quantizeInt8Rows');
}

/**
 * int8 per `group` consecutive elements of a row (the layout of GGUF Q8_0 with 32, Q6_K with 16;
 * what the kernels' validation and tuning use for those classes): scale = the group's absmax / 127.
 */
export function quantizeInt8Groups(w: ArrayLike<number>, rows: number, cols: number, group: number, op = 'quantizeInt8Groups'): QuantMatrix {
  if (w.length !== rows * cols) throw new Error(`${op}: ${w.length} values for a ${rows} x ${cols} matrix`);
  const words = rowWords('q8', cols);
  const groups = Math.ceil(cols / group);
  const codes = new Uint32Array(rows * words);
  const meta = new Float32Array(rows * groups);
  const bytes = new Uint8Array(codes.buffer);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const end = Math.min(cols, (g + 1) * group);
      let amax = 0;
      for (let c = g * group; c < end; c++) amax = Math.max(amax, Math.abs(w[r * cols + c]));
      const d = Math.fround(amax / 127);
      const id = d > 0 ? Math.fround(1 / d) : 0;
      meta[r * groups + g] = d;
      for (let c = g * group; c < end; c++) {
        const q = Math.max(-127, Math.min(127, roundAway(Math.fround(w[r * cols + c] * id))));
        bytes[r * words * 4 + c] = q & 0xff;
      }
    }
  }
  return { format: 'q8', rows, cols, group, codes, meta };
}

/** x rounded to `bits` significant bits (so x · q stays exact in f32 for small integers q). */
function roundToBits(x: number, bits: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const unit = 2 ** (Math.floor(Math.log2(Math.abs(x))) - bits + 1);
  return Math.fround(Math.round(x / unit) * unit);
}

const REFITS = 4;

/** Squared error of a block [from, end) of row `row0` under (scale, offset) and its codes. */
function blockError(w: ArrayLike<number>, row0: number, from: number, end: number, scale: number, offset: number, codeOf: (c: number, s: number, o: number) => number): number {
  let e = 0;
  for (let c = from; c < end; c++) {
    const d = Math.fround(scale * codeOf(c, scale, offset) + offset) - w[row0 + c];
    e += d * d;
  }
  return e;
}

/**
 * int4 blockwise, what --quantize int4 does: per 32-block the range [lo, hi] of its values
 * (as ggml's Q4_1), scale = (hi - lo) / 15 rounded to 19 significant bits, offset = lo, so all 16
 * codes span the block; q = round((w - lo) / scale) clamped to 0..15; then up to 4 least-squares
 * refits of (scale, offset) to those codes, each kept only if the block's squared error falls.
 */
export function quantizeInt4Blocks(w: ArrayLike<number>, rows: number, cols: number): QuantMatrix {
  if (w.length !== rows * cols) throw new Error(`quantizeInt4Blocks: ${w.length} values for a ${rows} x ${cols} matrix`);
  const words = rowWords('q4', cols);
  const groups = Math.ceil(cols / Q4_BLOCK);
  const codes = new Uint32Array(rows * words);
  const meta = new Float32Array(rows * groups * 2);
  const bytes = new Uint8Array(codes.buffer);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const end = Math.min(cols, (g + 1) * Q4_BLOCK);
      let lo = Infinity;
      let hi = -Infinity;
      for (let c = g * Q4_BLOCK; c < end; c++) {
        lo = Math.min(lo, w[r * cols + c]);
        hi = Math.max(hi, w[r * cols + c]);
      }
      let offset = Math.fround(lo);
      let scale = roundToBits((hi - lo) / 15, 19);
      const n = end - g * Q4_BLOCK;
      const codeOf = (c: number, s: number, o: number) => (s > 0 ? Math.max(0, Math.min(15, Math.round((w[r * cols + c] - o) / s))) : 0);
      // a few least-squares refits of (scale, offset) to the codes, kept while the error falls
      let err = blockError(w, r * cols, g * Q4_BLOCK, end, scale, offset, codeOf);
      for (let it = 0; it < REFITS && scale > 0; it++) {
        let [sq, sqq, sw, sqw] = [0, 0, 0, 0];
        for (let c = g * Q4_BLOCK; c < end; c++) {
          const q = codeOf(c, scale, offset);
          sq += q;
          sqq += q * q;
          sw += w[r * cols + c];
          sqw += q * w[r * cols + c];
        }
        const det = n * sqq - sq * sq;
        if (det <= 0) break;
        const s2 = roundToBits((n * sqw - sq * sw) / det, 19);
        const o2 = Math.fround((sw - s2 * sq) / n);
        if (!(s2 > 0)) break;
        const e2 = blockError(w, r * cols, g * Q4_BLOCK, end, s2, o2, codeOf);
        if (e2 >= err) break;
        [scale, offset, err] = [s2, o2, e2];
      }
      meta[(r * groups + g) * 2] = scale;
      meta[(r * groups + g) * 2 + 1] = offset;
      const base = (r * words + g * 4) * 4;
      for (let c = g * Q4_BLOCK; c < end; c++) {
        const q = codeOf(c, scale, offset);
        const j = c - g * Q4_BLOCK;
        bytes[base + (j & 15)] |= j < 16 ? q : q << 4;
      }
    }
  }
  return { format: 'q4', rows, cols, group: Q4_BLOCK, codes, meta };
}

/** int4 blockwise with ggml's Q4_0 rule (fp16 block scale, offset -8·scale): the same values as a GGUF Q4_0 file. */
export function quantizeQ4_0Blocks(w: ArrayLike<number>, rows: number, cols: number): QuantMatrix {
  if (w.length !== rows * cols) throw new Error(`quantizeQ4_0Blocks: ${w.length} values for a ${rows} x ${cols} matrix`);
  const words = rowWords('q4', cols);
  const groups = Math.ceil(cols / Q4_BLOCK);
  const codes = new Uint32Array(rows * words);
  const meta = new Float32Array(rows * groups * 2);
  const bytes = new Uint8Array(codes.buffer);
  const v = new Float32Array(Q4_BLOCK);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      let amax = 0;
      let max = 0;
      for (let j = 0; j < Q4_BLOCK; j++) {
        const c = g * Q4_BLOCK + j;
        v[j] = c < cols ? w[r * cols + c] : 0;
        if (amax < Math.abs(v[j])) {
          amax = Math.abs(v[j]);
          max = v[j];
        }
      }
      const dExact = Math.fround(max / -8);
      const id = dExact !== 0 ? Math.fround(1 / dExact) : 0;
      const d = f16BitsToF32(f32ToF16Bits(dExact));
      meta[(r * groups + g) * 2] = d;
      meta[(r * groups + g) * 2 + 1] = -8 * d;
      const base = (r * words + g * 4) * 4;
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(15, Math.trunc(Math.fround(Math.fround(v[j] * id) + 8.5)));
        const hi = Math.min(15, Math.trunc(Math.fround(Math.fround(v[j + 16] * id) + 8.5)));
        bytes[base + j] = lo | (hi << 4);
      }
    }
  }
  return { format: 'q4', rows, cols, group: Q4_BLOCK, codes, meta };
}

export function quantizeMatrix(kind: Exclude<BaseQuantization, 'none'>, w: ArrayLike<number>, rows: number, cols: number): QuantMatrix {
  return kind === 'int8' ? quantizeInt8Rows(w, rows, cols) : quantizeInt4Blocks(w, rows, cols);
}

/** The code of element (r, c): q8 signed, q4 unsigned. */
export function quantCode(m: QuantMatrix, r: number, c: number): number {
  const words = rowWords(m.format, m.cols);
  const bytes = new Uint8Array(m.codes.buffer, m.codes.byteOffset, m.codes.byteLength);
  if (m.format === 'q8') {
    const b = bytes[r * words * 4 + c];
    return b >= 128 ? b - 256 : b;
  }
  const inBlock = c % Q4_BLOCK;
  const b = bytes[(r * words + Math.floor(c / Q4_BLOCK) * 4) * 4 + (inBlock & 15)];
  return inBlock < 16 ? b & 15 : b >> 4;
}

/** The f32 weights the kernels compute with, (rows, cols) row-major. */
export function dequantizeMatrix(m: QuantMatrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols);
  const groups = groupsPerRow(m);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) {
      const g = r * groups + Math.floor(c / m.group);
      const q = quantCode(m, r, c);
      // scale·q + offset in f64 then one rounding (scale·q is exact for q4's scales)
      out[r * m.cols + c] = m.format === 'q8' ? Math.fround(m.meta[g] * q) : Math.fround(m.meta[2 * g] * q + m.meta[2 * g + 1]);
    }
  }
  return out;
}

/** codes then meta as one word array: the GPU buffer of a quantized weight. metaOffset = codes.length. */
export function packQuantWords(m: QuantMatrix): Uint32Array {
  const out = new Uint32Array(m.codes.length + m.meta.length);
  out.set(m.codes, 0);
  out.set(new Uint32Array(m.meta.buffer, m.meta.byteOffset, m.meta.length), m.codes.length);
  return out;
}
