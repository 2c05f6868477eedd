// Elementwise ops on flat tensors (kernels in shaders/elementwise.wgsl; the shape only fixes the
// element count n, and both operands of a binary op must have the same shape):
//   addTensors(a, b)      a (n) f32, b (n) f32 -> y (n) f32, y = a + b   (residual add)
//   addInPlace(a, b)      a (n) f32 += b (n) f32
//   scaleTensor(x, s)     x (n) f32 -> y (n) f32, y = s·x
//   scaleInPlace(x, s)    x (n) f32 *= s
//   fillTensor(t, v)      every element of t (f32, i32, u32 or fp16 packed) = v
//   zeroTensor(t)         all bytes of t = 0 (clears gradient buffers; encoder.clearBuffer)
//   copyTensor(src, dst)  dst = src, optionally a range of elements (encoder.copyBufferToBuffer)
// Everything is recorded into ctx.encoder() in order with the other ops; callers flush.
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import { f32ToF16Bits } from '../../util/f16';
import type { WgslSource } from '../shader';
import elementwiseCode from '../shaders/elementwise.wgsl?raw';
import { byteSize, emptyTensor, numel, type Tensor } from '../tensor';

export const ELEMENTWISE_SHADER: WgslSource = { file: 'elementwise.wgsl', code: elementwiseCode };

/** Threads per workgroup; `wg` in the options overrides it (tests use it to force a 2-D grid). */
export const ELEMENTWISE_WG = 256;

export interface ElementwiseOptions {
  wg?: number;
}

function expectF32(op: string, t: Tensor, what: string) {
  if (t.dtype !== 'f32') throw new Error(`${op}: ${what} (${t.label}) must be f32, got ${t.dtype}`);
}

function expectSameShape(op: string, a: Tensor, b: Tensor, what: string) {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(
      `${op}: ${what} have different shapes [${a.shape.join(',')}] (${a.label}) and [${b.shape.join(',')}] (${b.label}); ` +
        `elementwise ops do not broadcast`,
    );
  }
}

async function run(
  ctx: GpuContext,
  entryPoint: string,
  bindings: Tensor[],
  n: number,
  opts: ElementwiseOptions,
  s = 0,
  bits = 0,
) {
  const wg = opts.wg ?? ELEMENTWISE_WG;
  const pipeline = await ctx.pipelines.get({ shader: ELEMENTWISE_SHADER, entryPoint, constants: { WG: wg } });
  const [gx, gy] = grid1d(ctx, Math.ceil(n / wg));
  const raw = new ArrayBuffer(16);
  const u = new Uint32Array(raw);
  u[0] = n;
  u[1] = gx * wg;
  new Float32Array(raw)[2] = s;
  u[3] = bits;
  dispatch(ctx, { pipeline, bindings, uniforms: u, workgroups: [gx, gy], label: `${entryPoint} n=${n}` });
}

/** y = a + b (residual add); `out` may be given to reuse a buffer (it must not be a or b). */
export async function addTensors(ctx: GpuContext, a: Tensor, b: Tensor, out?: Tensor, opts: ElementwiseOptions = {}): Promise<Tensor> {
  expectF32('addTensors', a, 'a');
  expectF32('addTensors', b, 'b');
  expectSameShape('addTensors', a, b, 'a and b');
  const y = out ?? emptyTensor(ctx, 'f32', a.shape, 'add y');
  expectF32('addTensors', y, 'out');
  expectSameShape('addTensors', a, y, 'a and out');
  if (y.buffer === a.buffer || y.buffer === b.buffer) {
    throw new Error(`addTensors: out (${y.label}) is also an input; use addInPlace(a, b) to accumulate into a`);
  }
  await run(ctx, 'ew_add', [a, b, y], numel(a.shape), opts);
  return y;
}

/** a += b; returns a. */
export async function addInPlace(ctx: GpuContext, a: Tensor, b: Tensor, opts: ElementwiseOptions = {}): Promise<Tensor> {
  expectF32('addInPlace', a, 'a');
  expectF32('addInPlace', b, 'b');
  expectSameShape('addInPlace', a, b, 'a and b');
  if (a.buffer === b.buffer) throw new Error(`addInPlace: a and b are the same buffer (${a.label}); use scaleInPlace(a, 2)`);
  await run(ctx, 'ew_add_inplace', [a, b], numel(a.shape), opts);
  return a;
}

/** y = s·x. */
export async function scaleTensor(ctx: GpuContext, x: Tensor, s: number, out?: Tensor, opts: ElementwiseOptions = {}): Promise<Tensor> {
  expectF32('scaleTensor', x, 'x');
  const y = out ?? emptyTensor(ctx, 'f32', x.shape, 'scale y');
  expectF32('scaleTensor', y, 'out');
  expectSameShape('scaleTensor', x, y, 'x and out');
  if (y.buffer === x.buffer) throw new Error(`scaleTensor: out is x (${x.label}); use scaleInPlace`);
  await run(ctx, 'ew_scale', [x, y], numel(x.shape), opts, s);
  return y;
}

/** x *= s; returns x. */
export async function scaleInPlace(ctx: GpuContext, x: Tensor, s: number, opts: ElementwiseOptions = {}): Promise<Tensor> {
  expectF32('scaleInPlace', x, 'x');
  await run(ctx, 'ew_scale_inplace', [x], numel(x.shape), opts, s);
  return x;
}

/** The 32-bit word that holds `value` (twice, for packed fp16) in a tensor of this dtype. */
export function fillWord(dtype: Tensor['dtype'], value: number): number {
  switch (dtype) {
    case 'f32':
      return new Uint32Array(Float32Array.of(value).buffer)[0];
    case 'f16':
      return (f32ToF16Bits(value) * 0x10001) >>> 0;
    case 'i32':
    case 'u32':
      if (!Number.isInteger(value)) throw new Error(`fillTensor: ${value} is not an integer, the tensor is ${dtype}`);
      return value >>> 0;
  }
}

/** Every element of t = value (f16 tensors: value rounded to fp16). Returns t. */
export async function fillTensor(ctx: GpuContext, t: Tensor, value: number, opts: ElementwiseOptions = {}): Promise<Tensor> {
  const words = byteSize(t.dtype, numel(t.shape)) / 4;
  await run(ctx, 'ew_fill', [t], words, opts, 0, fillWord(t.dtype, value));
  return t;
}

/** All of t = 0 (any dtype). Recorded in order with the surrounding dispatches. Returns t. */
export function zeroTensor(ctx: GpuContext, t: Tensor): Tensor {
  ctx.encoder().clearBuffer(t.buffer, 0, byteSize(t.dtype, numel(t.shape)));
  return t;
}

export interface CopyRange {
  /** first element read from src (default 0) */
  srcOffset?: number;
  /** first element written in dst (default 0) */
  dstOffset?: number;
  /** elements copied (default: all of src after srcOffset) */
  count?: number;
}

/**
 * dst[dstOffset + i] = src[srcOffset + i] for i < count (elements; default the whole of src).
 * src and dst must have the same dtype and be different buffers; fp16 ranges must start at even
 * elements (two halves share a word). Returns dst.
 */
export function copyTensor(ctx: GpuContext, src: Tensor, dst: Tensor, range: CopyRange = {}): Tensor {
  if (src.dtype !== dst.dtype) throw new Error(`copyTensor: src (${src.label}) is ${src.dtype} but dst (${dst.label}) is ${dst.dtype}`);
  if (src.buffer === dst.buffer) throw new Error(`copyTensor: src and dst are the same buffer (${src.label})`);
  const srcN = numel(src.shape);
  const dstN = numel(dst.shape);
  const so = range.srcOffset ?? 0;
  const dO = range.dstOffset ?? 0;
  const count = range.count ?? srcN - so;
  if (![so, dO, count].every((v) => Number.isInteger(v) && v >= 0) || so + count > srcN || dO + count > dstN) {
    throw new Error(
      `copyTensor: range src[${so}, ${so + count}) -> dst[${dO}, ${dO + count}) does not fit src (${srcN} elements, ${src.label}) ` +
        `and dst (${dstN} elements, ${dst.label})`,
    );
  }
  if (count === 0) return dst;
  if (src.dtype === 'f16') {
    const wholeTail = so + count === srcN && dO + count === dstN;
    if (so % 2 !== 0 || dO % 2 !== 0 || (count % 2 !== 0 && !wholeTail)) {
      throw new Error(`copyTensor: fp16 ranges must start at even elements and hold an even count (or end both tensors); got src ${so}, dst ${dO}, count ${count}`);
    }
  }
  const bytes = byteSize(src.dtype, count);
  ctx.encoder().copyBufferToBuffer(src.buffer, byteSize(src.dtype, so), dst.buffer, byteSize(dst.dtype, dO), bytes);
  return dst;
}
