// Safetensors reader: strict header validation, then tensors streamed one at a time and
// converted to fp16 halves (the base-weight format on the GPU), without ever holding the whole
// file in memory. The writer lives in safetensorsWriter.js (plain JS so Node scripts can use it).
import { bf16BitsToF32, f16BitsToF32, f32ToF16Bits } from '../util/f16';
import type { ByteSource } from './byteSource';
import { DTYPE_BYTES, SafetensorsError, shapeElementCount } from './safetensorsWriter.js';

import { describeJson } from './describeJson';
export { DTYPE_BYTES, SafetensorsError, writeSafetensors } from './safetensorsWriter.js';
export type { TensorToWrite, WritableDtype } from './safetensorsWriter.js';

/** The Rust library refuses headers above 100 MB; anything that large is not a real header. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  numel: number;
  /** Absolute byte offsets in the file (data section start already added). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  fileName: string;
  fileSize: number;
  /** Byte offset of the data section: 8 + header length. */
  dataStart: number;
  /** Sorted by position in the file. */
  tensors: TensorInfo[];
  byName: Map<string, TensorInfo>;
  metadata: Record<string, string> | null;
}

function fail(fileName: string, problem: string, fix: string): never {
  throw new SafetensorsError(`${fileName}: ${problem}. ${fix}`);
}

const CORRUPT = 'The file is corrupt or not a safetensors file; download or export it again.';

/**
 * Validates a header given its JSON bytes and the size of the whole file. Pure, so that tests
 * can feed it hand-made headers.
 */
export function parseSafetensorsHeader(
  json: Uint8Array,
  fileSize: number,
  fileName = 'model.safetensors',
): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    fail(fileName, 'the header is not valid UTF-8', CORRUPT);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    fail(fileName, `the header is not valid JSON (${(e as Error).message})`, CORRUPT);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    fail(fileName, `the header must be a JSON object, got ${Array.isArray(parsed) ? 'an array' : String(parsed)}`, CORRUPT);
  }
  const dataStart = 8 + json.length;
  const dataSize = fileSize - dataStart;
  let metadata: Record<string, string> | null = null;
  const tensors: TensorInfo[] = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        fail(fileName, '"__metadata__" must be an object of string values', CORRUPT);
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') {
          fail(fileName, `"__metadata__"."${k}" is ${describeJson(v)}, but metadata values must be strings`, CORRUPT);
        }
      }
      metadata = { ...(value as Record<string, string>) };
      continue;
    }
    const where = `tensor "${name}"`;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      fail(fileName, `${where} must be an object { dtype, shape, data_offsets }`, CORRUPT);
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info.dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, info.dtype)) {
      fail(
        fileName,
        `${where} has unknown dtype ${describeJson(info.dtype)}`,
        `Known dtypes: ${Object.keys(DTYPE_BYTES).join(', ')}. Convert the model to F32, F16 or BF16.`,
      );
    }
    const count = shapeElementCount(info.shape);
    if ('error' in count) fail(fileName, `${where}: ${count.error}`, CORRUPT);
    const offs = info.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
    ) {
      fail(fileName, `${where}: data_offsets must be [begin, end] with non-negative integers, got ${describeJson(offs)}`, CORRUPT);
    }
    const [b, e] = offs as [number, number];
    if (e < b) fail(fileName, `${where}: data_offsets [${b}, ${e}] end before they begin`, CORRUPT);
    if (e > dataSize) {
      fail(
        fileName,
        `${where}: data_offsets [${b}, ${e}] run past the end of the data section (${Math.max(dataSize, 0)} bytes)`,
        'The file is truncated (an interrupted download?); download it again.',
      );
    }
    const expected = BigInt(count.count) * BigInt(DTYPE_BYTES[info.dtype]);
    if (expected !== BigInt(e - b)) {
      fail(
        fileName,
        `${where}: shape ${describeJson(info.shape)} of ${info.dtype} needs ${expected} bytes but data_offsets [${b}, ${e}] hold ${e - b}`,
        CORRUPT,
      );
    }
    tensors.push({
      name,
      dtype: info.dtype,
      shape: [...(info.shape as number[])],
      numel: count.count,
      begin: dataStart + b,
      end: dataStart + e,
    });
  }
  tensors.sort((x, y) => x.begin - y.begin || x.end - y.end);
  // Like the Rust library: tensors must tile the data section exactly, no overlap, no gap.
  let at = dataStart;
  for (const t of tensors) {
    if (t.begin < at) {
      const prev = tensors[tensors.indexOf(t) - 1];
      fail(fileName, `tensor "${t.name}" overlaps tensor "${prev.name}" (bytes ${t.begin - dataStart}..${at - dataStart})`, CORRUPT);
    }
    if (t.begin > at) {
      fail(fileName, `there is a gap of ${t.begin - at} unused bytes before tensor "${t.name}"`, CORRUPT);
    }
    at = t.end;
  }
  if (at !== fileSize) {
    fail(
      fileName,
      `the tensors end at byte ${at} but the file has ${fileSize} bytes (${fileSize - at} bytes unaccounted for)`,
      CORRUPT,
    );
  }
  return { fileName, fileSize, dataStart, tensors, byName: new Map(tensors.map((t) => [t.name, t])), metadata };
}

/** Reads and validates the header of a safetensors file (reads only the header bytes). */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsHeader> {
  if (src.size < 8) {
    fail(src.name, `the file has only ${src.size} bytes, less than the 8-byte header length`, 'The file is empty or truncated; download it again.');
  }
  const lenBytes = await src.read(0, 8);
  const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    fail(src.name, `the header length field says ${n} bytes, more than the ${MAX_HEADER_BYTES}-byte limit`, CORRUPT);
  }
  if (n > BigInt(src.size - 8)) {
    fail(src.name, `the header length field says ${n} bytes but only ${src.size - 8} bytes follow it`, 'The file is truncated or not a safetensors file; download it again.');
  }
  if (n < 2n) fail(src.name, `the header length field says ${n} bytes, too short for a JSON object`, CORRUPT);
  const json = await src.read(8, Number(n));
  return parseSafetensorsHeader(json, src.size, src.name);
}

export interface StreamOptions {
  /** Only these tensors, in file order (default: all). Unknown names are an error. */
  names?: Iterable<string>;
  /** Called after each chunk: bytes of tensor data read so far, and the total to read. */
  onProgress?: (done: number, total: number) => void;
  /** Bytes read per request (default 8 MiB); keeps peak memory at about one tensor plus this. */
  chunkBytes?: number;
}

export interface HalfTensor {
  info: TensorInfo;
  /** Binary16 bits, row-major, one per element. */
  halves: Uint16Array;
  /** Finite source values too large for fp16 that became ±inf (BF16/F32 sources only). */
  overflowed: number;
}

/** The dtypes that can be converted to fp16. */
export const HALF_CONVERTIBLE = ['F32', 'F16', 'BF16'] as const;

function convertChunk(dtype: string, bytes: Uint8Array, out: Uint16Array, at: number): number {
  // copy when unaligned: typed-array views need offsets that are multiples of the element size
  const elem = DTYPE_BYTES[dtype];
  const aligned = bytes.byteOffset % elem === 0 ? bytes : new Uint8Array(bytes);
  let overflowed = 0;
  if (dtype === 'F16') {
    out.set(new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2), at);
  } else if (dtype === 'BF16') {
    const src = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
    for (let i = 0; i < src.length; i++) {
      const h = f32ToF16Bits(bf16BitsToF32(src[i]));
      if ((h & 0x7fff) === 0x7c00 && (src[i] & 0x7f80) !== 0x7f80) overflowed++;
      out[at + i] = h;
    }
  } else {
    const src = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
    for (let i = 0; i < src.length; i++) {
      const h = f32ToF16Bits(src[i]);
      if ((h & 0x7fff) === 0x7c00 && Number.isFinite(src[i])) overflowed++;
      out[at + i] = h;
    }
  }
  return overflowed;
}

function selectTensors(header: SafetensorsHeader, names: Iterable<string> | undefined): TensorInfo[] {
  if (names === undefined) return header.tensors;
  const wanted = new Set(names);
  for (const n of wanted) {
    if (!header.byName.has(n)) {
      fail(header.fileName, `it has no tensor named "${n}"`, 'Check the tensor name (see the header) or pick the right shard.');
    }
  }
  return header.tensors.filter((t) => wanted.has(t.name));
}

function checkConvertible(header: SafetensorsHeader, t: TensorInfo): void {
  if (!(HALF_CONVERTIBLE as readonly string[]).includes(t.dtype)) {
    fail(
      header.fileName,
      `tensor "${t.name}" is ${t.dtype}, which cannot be loaded as fp16 weights`,
      `Only ${HALF_CONVERTIBLE.join(', ')} are supported; use an unquantized F32/F16/BF16 checkpoint.`,
    );
  }
}

/**
 * Streams tensors in file order, each converted to fp16 halves. Holds one tensor (and one
 * chunk) at a time. Unsupported dtypes fail before anything is read.
 */
export async function* streamTensorsF16(
  src: ByteSource,
  header: SafetensorsHeader,
  options: StreamOptions = {},
): AsyncGenerator<HalfTensor> {
  const list = selectTensors(header, options.names);
  for (const t of list) checkConvertible(header, t);
  const chunk = Math.max(8, Math.floor((options.chunkBytes ?? 8 << 20) / 8) * 8);
  const total = list.reduce((s, t) => s + (t.end - t.begin), 0);
  let done = 0;
  options.onProgress?.(0, total);
  for (const t of list) {
    const halves = new Uint16Array(t.numel);
    const elem = DTYPE_BYTES[t.dtype];
    let overflowed = 0;
    for (let off = t.begin; off < t.end; off += chunk) {
      const len = Math.min(chunk, t.end - off);
      const bytes = await src.read(off, len);
      overflowed += convertChunk(t.dtype, bytes, halves, (off - t.begin) / elem);
      done += len;
      options.onProgress?.(done, total);
    }
    yield { info: t, halves, overflowed };
  }
}

/** One tensor as fp16 halves. */
export async function readTensorF16(src: ByteSource, header: SafetensorsHeader, name: string): Promise<Uint16Array> {
  for await (const t of streamTensorsF16(src, header, { names: [name] })) return t.halves;
  throw new Error('unreachable');
}

/** One F32/F16/BF16 tensor as f32 values, exactly (no rounding through fp16). */
export async function readTensorF32(src: ByteSource, header: SafetensorsHeader, name: string): Promise<Float32Array> {
  const [t] = selectTensors(header, [name]);
  checkConvertible(header, t);
  const bytes = new Uint8Array(await src.read(t.begin, t.end - t.begin));
  if (t.dtype === 'F32') return new Float32Array(bytes.buffer, 0, t.numel);
  const bits = new Uint16Array(bytes.buffer, 0, t.numel);
  const out = new Float32Array(t.numel);
  const conv = t.dtype === 'F16' ? f16BitsToF32 : bf16BitsToF32;
  for (let i = 0; i < bits.length; i++) out[i] = conv(bits[i]);
  return out;
}

/** Raw little-endian bytes of one tensor of any dtype (e.g. I64 buffers). */
export async function readTensorBytes(src: ByteSource, header: SafetensorsHeader, name: string): Promise<Uint8Array> {
  const [t] = selectTensors(header, [name]);
  return new Uint8Array(await src.read(t.begin, t.end - t.begin));
}

// ---- sharded checkpoints: model.safetensors.index.json ----

export interface ShardIndex {
  fileName: string;
  metadata: Record<string, unknown>;
  /** tensor name -> shard file name */
  weightMap: Map<string, string>;
  /** distinct shard file names, in first-appearance order */
  shards: string[];
}

/** Parses and validates model.safetensors.index.json. */
export function parseShardIndex(json: string | unknown, fileName = 'model.safetensors.index.json'): ShardIndex {
  let parsed: unknown = json;
  if (typeof json === 'string') {
    try {
      parsed = JSON.parse(json);
    } catch (e) {
      fail(fileName, `is not valid JSON (${(e as Error).message})`, 'Download the index file again.');
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    fail(fileName, 'must be a JSON object with a "weight_map"', 'Download the index file again.');
  }
  const obj = parsed as { metadata?: unknown; weight_map?: unknown };
  const wm = obj.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) {
    fail(fileName, 'has no "weight_map" object (tensor name -> shard file)', 'Is this really a model.safetensors.index.json?');
  }
  const weightMap = new Map<string, string>();
  const shards: string[] = [];
  for (const [tensor, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard.length === 0) {
      fail(fileName, `weight_map["${tensor}"] is ${describeJson(shard)}, not a shard file name`, 'Download the index file again.');
    }
    if (shard.includes('/') || shard.includes('\\') || shard === '..' || shard === '.') {
      fail(fileName, `weight_map["${tensor}"] names "${shard}", which is not a plain file name`, 'Shards must sit beside the index file.');
    }
    weightMap.set(tensor, shard);
    if (!shards.includes(shard)) shards.push(shard);
  }
  if (weightMap.size === 0) fail(fileName, 'has an empty weight_map', 'Download the index file again.');
  const metadata = obj.metadata && typeof obj.metadata === 'object' && !Array.isArray(obj.metadata)
    ? { ...(obj.metadata as Record<string, unknown>) }
    : {};
  return { fileName, metadata, weightMap, shards };
}

/** Throws unless every shard the index names is among `available` file names. */
export function checkShardsPresent(index: ShardIndex, available: Iterable<string>): void {
  const have = new Set(available);
  const missing = index.shards.filter((s) => !have.has(s));
  if (missing.length > 0) {
    fail(
      index.fileName,
      `references ${missing.length} shard file(s) that were not provided: ${missing.join(', ')}`,
      `Select all ${index.shards.length} shards (${index.shards.join(', ')}) together with the index.`,
    );
  }
}

/**
 * Throws unless each shard holds exactly the tensors the index assigns to it (a shard from a
 * different revision of the model is caught here).
 */
export function checkShardHeaders(index: ShardIndex, headers: ReadonlyMap<string, SafetensorsHeader>): void {
  checkShardsPresent(index, headers.keys());
  for (const [tensor, shard] of index.weightMap) {
    if (!headers.get(shard)!.byName.has(tensor)) {
      fail(index.fileName, `says "${tensor}" is in ${shard}, but that shard has no such tensor`, 'The shards come from different versions of the model; download them again together.');
    }
  }
  for (const [shard, h] of headers) {
    for (const t of h.tensors) {
      const listed = index.weightMap.get(t.name);
      if (listed !== shard) {
        fail(
          index.fileName,
          `shard ${shard} holds "${t.name}", which the index ${listed ? `places in ${listed}` : 'does not list'}`,
          'The shards come from different versions of the model; download them again together.',
        );
      }
    }
  }
}
