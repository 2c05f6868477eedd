// A GPU tensor: a tracked buffer plus its shape and dtype. 'f16' tensors hold two halves per u32
// (see f16.ts); everything else is 4 bytes per element.
import type { GpuContext } from './device';
import { packF16, packHalves, unpackF16 } from '../util/f16';

export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export interface Tensor {
  buffer: GPUBuffer;
  shape: readonly number[];
  dtype: DType;
  label: string;
}

export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`bad tensor dimension ${d} in shape [${shape.join(',')}]`);
    n *= d;
  }
  return n;
}

export function byteSize(dtype: DType, count: number): number {
  return dtype === 'f16' ? Math.ceil(count / 2) * 4 : count * 4;
}

export function emptyTensor(ctx: GpuContext, dtype: DType, shape: readonly number[], label: string): Tensor {
  const buffer = ctx.allocator.create(byteSize(dtype, numel(shape)), STORAGE_USAGE, label);
  return { buffer, shape: [...shape], dtype, label };
}

function checkLength(label: string, shape: readonly number[], length: number) {
  if (length !== numel(shape)) {
    throw new Error(`${label}: ${length} values given for shape [${shape.join(',')}] (${numel(shape)} expected)`);
  }
}

function writeWords(ctx: GpuContext, t: Tensor, words: ArrayBufferView) {
  // writeBuffer needs a multiple of 4 bytes; all our element types are 4-byte words
  ctx.device.queue.writeBuffer(t.buffer, 0, words.buffer, words.byteOffset, words.byteLength);
}

export function uploadF32(ctx: GpuContext, data: ArrayLike<number>, shape: readonly number[], label: string): Tensor {
  checkLength(label, shape, data.length);
  const t = emptyTensor(ctx, 'f32', shape, label);
  writeWords(ctx, t, data instanceof Float32Array ? data : Float32Array.from(data));
  return t;
}

export function uploadI32(ctx: GpuContext, data: ArrayLike<number>, shape: readonly number[], label: string): Tensor {
  checkLength(label, shape, data.length);
  const t = emptyTensor(ctx, 'i32', shape, label);
  writeWords(ctx, t, data instanceof Int32Array ? data : Int32Array.from(data));
  return t;
}

/** f32 values are rounded to fp16 (round to nearest even) and packed. */
export function uploadF16(ctx: GpuContext, data: ArrayLike<number>, shape: readonly number[], label: string): Tensor {
  checkLength(label, shape, data.length);
  const t = emptyTensor(ctx, 'f16', shape, label);
  writeWords(ctx, t, packF16(data));
  return t;
}

/** Raw binary16 halves (e.g. straight from an F16 safetensors file). */
export function uploadHalves(ctx: GpuContext, halves: Uint16Array, shape: readonly number[], label: string): Tensor {
  checkLength(label, shape, halves.length);
  const t = emptyTensor(ctx, 'f16', shape, label);
  writeWords(ctx, t, packHalves(halves));
  return t;
}

/** Copy raw bytes of a buffer back to the CPU (submits pending work first). */
export async function readBuffer(ctx: GpuContext, buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
  const size = Math.max(4, Math.ceil(bytes / 4) * 4);
  const staging = ctx.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
  ctx.encoder().copyBufferToBuffer(buffer, offset, staging, 0, size);
  ctx.flush();
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  return out;
}

/** f32 values of a tensor (f16 tensors are unpacked). */
export async function downloadF32(ctx: GpuContext, t: Tensor): Promise<Float32Array> {
  const n = numel(t.shape);
  if (t.dtype === 'f16') {
    const raw = await readBuffer(ctx, t.buffer, byteSize('f16', n));
    return unpackF16(new Uint32Array(raw), n);
  }
  if (t.dtype !== 'f32') throw new Error(`downloadF32: ${t.label} is ${t.dtype}`);
  return new Float32Array(await readBuffer(ctx, t.buffer, n * 4));
}

export async function downloadI32(ctx: GpuContext, t: Tensor): Promise<Int32Array> {
  return new Int32Array(await readBuffer(ctx, t.buffer, numel(t.shape) * 4));
}

export async function downloadU32(ctx: GpuContext, t: Tensor): Promise<Uint32Array> {
  return new Uint32Array(await readBuffer(ctx, t.buffer, byteSize(t.dtype, numel(t.shape))));
}

export function releaseTensor(ctx: GpuContext, t: Tensor): void {
  ctx.allocator.release(t.buffer);
}
