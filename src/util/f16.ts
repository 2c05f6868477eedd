// f32 <-> IEEE binary16 conversions that agree bit for bit with WGSL's pack2x16float /
// unpack2x16float: round to nearest, ties to even; subnormals kept; overflow to ±inf; NaN stays
// NaN (quiet). Base weights are stored as two halves per u32, low half = even element, which is
// the order pack2x16float(vec2(a, b)) uses.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Binary16 bits of the f32 value `x`, round to nearest even. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) {
    // inf stays inf; NaN becomes a quiet NaN (payload dropped, as GPUs do)
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00;
  }
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half (or zero): shift the mantissa with its implicit bit, round to nearest even
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    const up = rest > mid || (rest === mid && (half & 1) === 1) ? 1 : 0;
    return sign | (half + up);
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  const up = rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1) ? 1 : 0;
  // a carry out of the mantissa correctly bumps the exponent, up to inf
  return sign | (half + up);
}

/** The f32 value of binary16 bits `h`. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Round an f32 value through binary16 and back (what a weight becomes once stored). */
export function roundToF16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

/** Halves for every element of `src`. */
export function f32ArrayToF16Bits(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]);
  return out;
}

/** f32 values of an array of halves. */
export function f16BitsToF32Array(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f16BitsToF32(src[i]);
  return out;
}

/**
 * Two halves per u32 (element 2i in the low 16 bits, 2i+1 in the high), zero-padded when the
 * count is odd. `halves` may come from f32ArrayToF16Bits or straight from an F16 file.
 */
export function packHalves(halves: Uint16Array): Uint32Array {
  const out = new Uint32Array(Math.ceil(halves.length / 2));
  // Little-endian hosts (every WebGPU platform) lay the halves out exactly as packed u32s.
  new Uint16Array(out.buffer).set(halves);
  return out;
}

/** Inverse of packHalves; `count` drops the padding half. */
export function unpackHalves(packed: Uint32Array, count: number): Uint16Array {
  return new Uint16Array(packed.buffer, packed.byteOffset, count).slice();
}

/** f32 values -> packed fp16 storage, as base weights live on the GPU. */
export function packF16(src: ArrayLike<number>): Uint32Array {
  return packHalves(f32ArrayToF16Bits(src));
}

/** Packed fp16 storage -> f32 values. */
export function unpackF16(packed: Uint32Array, count: number): Float32Array {
  return f16BitsToF32Array(unpackHalves(packed, count));
}

/** bfloat16 bits -> f32 value (exact). */
export function bf16BitsToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}
