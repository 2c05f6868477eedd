// GGUF (v3) writer and reader, and LoRA adapters in the layout llama.cpp loads
// (llama-adapter.cpp; the files convert_lora_to_gguf.py writes).
// (About 490 lines, over the ~450 guideline on purpose: writer, reader and the LoRA layout share
// one set of type codes and alignment rules, and the fuzzer and llama.cpp tests read them together.)
//
// File: magic "GGUF", u32 version, u64 tensor count, u64 KV count, the KV pairs, the tensor
// infos (name, u32 n_dims, u64 dims in GGML order = numpy shape reversed, u32 ggml type, u64
// offset into the data section), zero padding to the alignment, then the tensor data, each
// tensor starting at a multiple of the alignment (and padded after, the last one too: llama.cpp
// reads the padded size). Everything little-endian.
import { describeJson } from './describeJson';
import { halvesToInterleaved } from './llama2c.js';
import type { ModelConfig } from './hfConfig';
import { canonicalModule, loraTargetShape, type LoraWeights } from './loraTargets';
import { stripPeftPrefix } from './loraKeys';
import { GGML_BLOCKS } from './ggmlBlocks';

export type { LoraWeights } from './loraTargets';

export class GgufError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GgufError';
  }
}

/** GGUF metadata value types (gguf.h). */
export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufType = (typeof GgufType)[keyof typeof GgufType];
const TYPE_NAMES = Object.fromEntries(Object.entries(GgufType).map(([k, v]) => [v, k])) as Record<number, string>;

/**
 * GGML tensor types we write or can size (ggml.h). Of the quantized ones, the block formats of
 * ggmlBlocks.ts (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K): sized by whole blocks along dims[0], written as raw blocks.
 */
export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14, I8: 24, I16: 25, I32: 26, I64: 27, F64: 28, BF16: 30 } as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];
const GGML_SIZE: Record<number, number> = { 0: 4, 1: 2, 24: 1, 25: 2, 26: 4, 27: 8, 28: 8, 30: 2 };
const GGML_NAME = Object.fromEntries(Object.entries(GgmlType).map(([k, v]) => [v, k])) as Record<number, string>;

export type GgufScalar = number | bigint | boolean | string;
/** A metadata value; `bigint` only for UINT64/INT64. Arrays may nest. */
export type GgufValue = GgufScalar | GgufArray;
export interface GgufArray {
  itemType: GgufType;
  items: GgufValue[];
}
export interface GgufKv {
  key: string;
  type: GgufType;
  value: GgufValue;
}

export interface GgufTensorIn {
  name: string;
  /** GGML order: dims[0] is the fastest-varying (the numpy shape reversed). */
  dims: number[];
  type: typeof GgmlType.F32 | typeof GgmlType.F16 | typeof GgmlType.BF16 | typeof GgmlType.Q4_0 | typeof GgmlType.Q8_0 | typeof GgmlType.Q4_K | typeof GgmlType.Q5_K | typeof GgmlType.Q6_K;
  /** F32: Float32Array; F16 / BF16: Uint16Array of their bits; Q4_0, Q8_0, Q4_K, Q5_K, Q6_K: the blocks' bytes (ggmlBlocks.ts). */
  data: Float32Array | Uint16Array | Uint8Array;
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

const enc = new TextEncoder();

/** Growable little-endian byte writer. */
class Out {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // room() may replace buf/view, so it must run before they are read
  u8(v: number) { const at = this.room(1); this.view.setUint8(at, v); }
  i8(v: number) { const at = this.room(1); this.view.setInt8(at, v); }
  u16(v: number) { const at = this.room(2); this.view.setUint16(at, v, true); }
  i16(v: number) { const at = this.room(2); this.view.setInt16(at, v, true); }
  u32(v: number) { const at = this.room(4); this.view.setUint32(at, v, true); }
  i32(v: number) { const at = this.room(4); this.view.setInt32(at, v, true); }
  f32(v: number) { const at = this.room(4); this.view.setFloat32(at, v, true); }
  f64(v: number) { const at = this.room(8); this.view.setFloat64(at, v, true); }
  u64(v: number | bigint) { const at = this.room(8); this.view.setBigUint64(at, BigInt(v), true); }
  i64(v: number | bigint) { const at = this.room(8); this.view.setBigInt64(at, BigInt(v), true); }
  bytes(b: Uint8Array) { const at = this.room(b.length); this.buf.set(b, at); }
  str(s: string) {
    const b = enc.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number) { this.room((alignment - (this.length % alignment)) % alignment); }
  result(): Uint8Array<ArrayBuffer> { return this.buf.slice(0, this.length); }
}

const INT_RANGE: Partial<Record<GgufType, [number, number]>> = {
  [GgufType.UINT8]: [0, 0xff],
  [GgufType.INT8]: [-0x80, 0x7f],
  [GgufType.UINT16]: [0, 0xffff],
  [GgufType.INT16]: [-0x8000, 0x7fff],
  [GgufType.UINT32]: [0, 0xffffffff],
  [GgufType.INT32]: [-0x80000000, 0x7fffffff],
};

/** The deepest array nesting readGguf accepts (and so the deepest the writer produces). */
export const GGUF_MAX_ARRAY_DEPTH = 8;
/** llama.cpp uses 32; anything above this would only pad the file with zeros. */
export const GGUF_MAX_ALIGNMENT = 1 << 16;

function describe(v: unknown): string {
  return typeof v === 'bigint' ? `${v}n` : describeJson(v, 0, (x) => (typeof x === 'bigint' ? `${x}n` : undefined));
}

/** Strings must be well-formed UTF-16: a lone surrogate would be written as U+FFFD, not as given. */
function checkString(s: string, what: string): void {
  if (!s.isWellFormed()) throw new GgufError(`writeGguf: ${what} contains a lone surrogate (not valid Unicode), so it cannot be written as UTF-8 faithfully.`);
}

function writeValue(out: Out, type: GgufType, value: GgufValue, where: string, depth = 0): void {
  const bad = (what: string): never => {
    throw new GgufError(`writeGguf: ${where} must be ${what}, got ${describe(value)}.`);
  };
  const range = INT_RANGE[type];
  if (range) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < range[0] || value > range[1]) {
      bad(`an integer in [${range[0]}, ${range[1]}] (${TYPE_NAMES[type]})`);
    }
  }
  switch (type) {
    case GgufType.UINT8: return out.u8(value as number);
    case GgufType.INT8: return out.i8(value as number);
    case GgufType.UINT16: return out.u16(value as number);
    case GgufType.INT16: return out.i16(value as number);
    case GgufType.UINT32: return out.u32(value as number);
    case GgufType.INT32: return out.i32(value as number);
    case GgufType.FLOAT32:
    case GgufType.FLOAT64:
      if (typeof value !== 'number') bad('a number');
      return type === GgufType.FLOAT32 ? out.f32(value as number) : out.f64(value as number);
    case GgufType.BOOL:
      if (typeof value !== 'boolean') bad('a boolean');
      return out.u8(value ? 1 : 0);
    case GgufType.STRING:
      if (typeof value !== 'string') bad('a string');
      checkString(value as string, where);
      return out.str(value as string);
    case GgufType.UINT64:
    case GgufType.INT64: {
      const ok = typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value));
      if (!ok) bad('an integer (number or bigint)');
      const v = BigInt(value as number | bigint);
      if (type === GgufType.UINT64 ? v < 0n || v >= 1n << 64n : v < -(1n << 63n) || v >= 1n << 63n) bad(`in range for ${TYPE_NAMES[type]}`);
      return type === GgufType.UINT64 ? out.u64(v) : out.i64(v);
    }
    case GgufType.ARRAY: {
      const arr = value as GgufArray;
      if (!arr || typeof arr !== 'object' || !Array.isArray(arr.items) || TYPE_NAMES[arr.itemType] === undefined) {
        bad('{ itemType, items: [] }');
      }
      if (arr.itemType === GgufType.ARRAY && depth >= GGUF_MAX_ARRAY_DEPTH) {
        throw new GgufError(`writeGguf: ${where} nests arrays more than ${GGUF_MAX_ARRAY_DEPTH} deep, which GGUF readers refuse.`);
      }
      out.u32(arr.itemType);
      out.u64(arr.items.length);
      arr.items.forEach((v, i) => writeValue(out, arr.itemType, v, `${where}[${i}]`, depth + 1));
      return;
    }
    default:
      throw new GgufError(`writeGguf: ${where} has unknown value type ${type}; use one of GgufType.`);
  }
}

/** Serializes a GGUF v3 file. `general.alignment` in `kv` (UINT32) sets the alignment. */
export function writeGguf(kv: readonly GgufKv[], tensors: readonly GgufTensorIn[]): Uint8Array<ArrayBuffer> {
  const keys = new Set<string>();
  for (const { key } of kv) {
    if (typeof key !== 'string' || key.length === 0 || enc.encode(key).length > 65535) {
      throw new GgufError(`writeGguf: metadata key ${describe(key)} must be a non-empty string of at most 65535 bytes.`);
    }
    checkString(key, `metadata key ${describe(key)}`);
    if (keys.has(key)) throw new GgufError(`writeGguf: metadata key "${key}" appears twice.`);
    keys.add(key);
  }
  const alignKv = kv.find((k) => k.key === 'general.alignment');
  const alignment = alignKv ? (alignKv.value as number) : GGUF_DEFAULT_ALIGNMENT;
  if (alignKv && (alignKv.type !== GgufType.UINT32 || !Number.isInteger(alignment) || alignment <= 0 || alignment > GGUF_MAX_ALIGNMENT || (alignment & (alignment - 1)) !== 0)) {
    throw new GgufError(`writeGguf: general.alignment must be a UINT32 power of two up to ${GGUF_MAX_ALIGNMENT}, got ${describe(alignKv.value)}.`);
  }
  const names = new Set<string>();
  const sizes = tensors.map((t, i) => {
    const where = `tensor #${i} "${t.name}"`;
    if (typeof t.name !== 'string' || t.name.length === 0 || enc.encode(t.name).length > 63) {
      // GGML_MAX_NAME is 64 including the terminating NUL
      throw new GgufError(`writeGguf: ${where}: names must be 1 to 63 bytes (llama.cpp's limit).`);
    }
    checkString(t.name, where);
    if (names.has(t.name)) throw new GgufError(`writeGguf: ${where} appears twice.`);
    names.add(t.name);
    if (!Array.isArray(t.dims) || t.dims.length < 1 || t.dims.length > 4 || !t.dims.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new GgufError(`writeGguf: ${where}: dims ${describe(t.dims)} must be 1 to 4 positive integers.`);
    }
    const block = GGML_BLOCKS[t.type];
    const want = t.type === GgmlType.F32 ? Float32Array : t.type === GgmlType.F16 || t.type === GgmlType.BF16 ? Uint16Array : block ? Uint8Array : null;
    if (!want) throw new GgufError(`writeGguf: ${where}: type ${t.type} cannot be written; use GgmlType.F32, F16, BF16, Q4_0, Q8_0, Q4_K, Q5_K or Q6_K.`);
    if (!(t.data instanceof want)) throw new GgufError(`writeGguf: ${where}: ${GGML_NAME[t.type]} data must be a ${want.name}.`);
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (block) {
      if (t.dims[0] % block.values !== 0) throw new GgufError(`writeGguf: ${where}: ${block.name} rows (dims[0] = ${t.dims[0]}) must be whole ${block.values}-value blocks.`);
      if (t.data.length !== (n / block.values) * block.bytes) throw new GgufError(`writeGguf: ${where}: dims ${describe(t.dims)} need ${(n / block.values) * block.bytes} bytes of ${block.name} blocks, data has ${t.data.length}.`);
    } else if (t.data.length !== n) {
      throw new GgufError(`writeGguf: ${where}: dims ${describe(t.dims)} need ${n} elements, data has ${t.data.length}.`);
    }
    return t.data.byteLength;
  });
  const out = new Out();
  out.u32(GGUF_MAGIC);
  out.u32(3);
  out.u64(tensors.length);
  out.u64(kv.length);
  for (const { key, type, value } of kv) {
    out.str(key);
    out.u32(type);
    writeValue(out, type, value, `metadata "${key}"`);
  }
  let offset = 0;
  tensors.forEach((t, i) => {
    out.str(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(t.type);
    out.u64(offset);
    offset += Math.ceil(sizes[i] / alignment) * alignment;
  });
  out.pad(alignment);
  for (const t of tensors) {
    out.bytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    out.pad(alignment);
  }
  return out.result();
}

// ---- reader ----

export interface GgufTensorInfo {
  name: string;
  dims: number[];
  type: number;
  /** Offset from the start of the data section. */
  offset: number;
  byteLength: number;
  /** The tensor's bytes (a view into the input). */
  bytes: Uint8Array;
}

export interface GgufFile {
  version: number;
  kv: Map<string, { type: GgufType; value: GgufValue }>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Byte offset of the data section in the file. */
  dataOffset: number;
}

// ignoreBOM: a leading U+FEFF is part of a name or value, not a byte-order mark to strip
const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses a GGUF (v2 or v3) file held in memory. Quantized types other than Q4_0, Q8_0, Q4_K, Q5_K and Q6_K are rejected. */
export function readGguf(file: Uint8Array, fileName = 'adapter.gguf'): GgufFile {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let at = 0;
  const fail = (problem: string, fix = 'The file is corrupt or not a GGUF file; export it again.'): never => {
    throw new GgufError(`${fileName}: ${problem}. ${fix}`);
  };
  const need = (n: number, what: string) => {
    if (at + n > file.length) fail(`truncated while reading ${what} at byte ${at} (file has ${file.length} bytes)`);
  };
  const u32 = (what: string) => (need(4, what), (at += 4), view.getUint32(at - 4, true));
  const u64 = (what: string): number => {
    need(8, what);
    const v = view.getBigUint64(at, true);
    at += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} is ${v}, beyond any real file`);
    return Number(v);
  };
  const str = (what: string): string => {
    const n = u64(`${what} length`);
    need(n, what);
    let s = '';
    try {
      s = dec.decode(file.subarray(at, at + n));
    } catch {
      fail(`${what} is not valid UTF-8`);
    }
    at += n;
    return s;
  };
  const value = (type: number, where: string, depth: number): GgufValue => {
    switch (type) {
      case GgufType.UINT8: return (need(1, where), view.getUint8(at++));
      case GgufType.INT8: return (need(1, where), view.getInt8(at++));
      case GgufType.UINT16: return (need(2, where), (at += 2), view.getUint16(at - 2, true));
      case GgufType.INT16: return (need(2, where), (at += 2), view.getInt16(at - 2, true));
      case GgufType.UINT32: return u32(where);
      case GgufType.INT32: return (need(4, where), (at += 4), view.getInt32(at - 4, true));
      case GgufType.FLOAT32: return (need(4, where), (at += 4), view.getFloat32(at - 4, true));
      case GgufType.FLOAT64: return (need(8, where), (at += 8), view.getFloat64(at - 8, true));
      case GgufType.UINT64: return (need(8, where), (at += 8), view.getBigUint64(at - 8, true));
      case GgufType.INT64: return (need(8, where), (at += 8), view.getBigInt64(at - 8, true));
      case GgufType.BOOL: {
        need(1, where);
        const b = view.getUint8(at++);
        if (b > 1) fail(`${where} is a BOOL with value ${b}`);
        return b === 1;
      }
      case GgufType.STRING: return str(where);
      case GgufType.ARRAY: {
        if (depth > GGUF_MAX_ARRAY_DEPTH) fail(`${where} nests arrays more than ${GGUF_MAX_ARRAY_DEPTH} deep`);
        const itemType = u32(`${where} item type`);
        const n = u64(`${where} length`);
        // every item takes at least one byte: a bigger count is corrupt, not a reason to allocate
        if (n > file.length - at) fail(`${where} claims ${n} items but only ${file.length - at} bytes remain`);
        const items: GgufValue[] = [];
        for (let i = 0; i < n; i++) items.push(value(itemType, `${where}[${i}]`, depth + 1));
        return { itemType: itemType as GgufType, items };
      }
      default:
        return fail(`${where} has unknown value type ${type}`);
    }
  };
  if (file.length < 4 || view.getUint32(0, true) !== GGUF_MAGIC) {
    fail('does not start with the GGUF magic', 'Is this really a .gguf file?');
  }
  at = 4;
  const version = u32('version');
  if (version !== 2 && version !== 3) fail(`has GGUF version ${version}; only versions 2 and 3 are supported`, 'Convert it with a current llama.cpp.');
  const nTensors = u64('tensor count');
  const nKv = u64('metadata count');
  if (nTensors > file.length || nKv > file.length) fail(`claims ${nTensors} tensors and ${nKv} metadata pairs, more than the file can hold`);
  const kv = new Map<string, { type: GgufType; value: GgufValue }>();
  for (let i = 0; i < nKv; i++) {
    const key = str(`metadata key #${i}`);
    if (kv.has(key)) fail(`metadata key "${key}" appears twice`);
    const type = u32(`type of "${key}"`);
    kv.set(key, { type: type as GgufType, value: value(type, `metadata "${key}"`, 0) });
  }
  const alignKv = kv.get('general.alignment');
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignKv) {
    const a = alignKv.value;
    if (alignKv.type !== GgufType.UINT32 || typeof a !== 'number' || a === 0 || a > GGUF_MAX_ALIGNMENT || (a & (a - 1)) !== 0) {
      fail(`general.alignment must be a UINT32 power of two up to ${GGUF_MAX_ALIGNMENT}, got ${String(a)}`);
    }
    alignment = a as number;
  }
  const infos: Omit<GgufTensorInfo, 'bytes'>[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = str(`tensor name #${i}`);
    if (names.has(name)) fail(`tensor "${name}" appears twice`);
    names.add(name);
    const nDims = u32(`n_dims of "${name}"`);
    if (nDims < 1 || nDims > 4) fail(`tensor "${name}" has ${nDims} dimensions (1 to 4 allowed)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(u64(`dim ${d} of "${name}"`));
    const type = u32(`type of "${name}"`);
    const elem = GGML_SIZE[type];
    const block = GGML_BLOCKS[type];
    if (elem === undefined && !block) fail(`tensor "${name}" has GGML type ${type}, which this reader cannot size (quantized?)`, 'Supported: F32, F16, BF16, integer types, Q4_0, Q8_0, Q4_K, Q5_K and Q6_K.');
    if (block && dims[0] % block.values !== 0) fail(`tensor "${name}" is ${block.name} but its rows (dims[0] = ${dims[0]}) are not whole ${block.values}-value blocks`);
    const offset = u64(`offset of "${name}"`);
    if (offset % alignment !== 0) fail(`tensor "${name}" starts at offset ${offset}, not a multiple of the alignment ${alignment}`);
    const count = dims.reduce((a, b) => a * b, 1);
    const byteLength = block ? (count / block.values) * block.bytes : count * elem;
    if (!Number.isSafeInteger(byteLength)) fail(`tensor "${name}" has dims ${describe(dims)}, too large`);
    infos.push({ name, dims, type, offset, byteLength });
  }
  const dataOffset = Math.ceil(at / alignment) * alignment;
  const dataSize = file.length - dataOffset;
  const sorted = [...infos].sort((a, b) => a.offset - b.offset);
  sorted.forEach((t, i) => {
    if (t.offset + t.byteLength > dataSize) fail(`tensor "${t.name}" (bytes ${t.offset}..${t.offset + t.byteLength} of the data section) runs past the end of the file`, 'The file is truncated; export or download it again.');
    const next = sorted[i + 1];
    if (next && t.offset + t.byteLength > next.offset) fail(`tensors "${t.name}" and "${next.name}" overlap`);
  });
  const tensors = infos.map((t) => ({ ...t, bytes: file.subarray(dataOffset + t.offset, dataOffset + t.offset + t.byteLength) }));
  return { version, kv, tensors, alignment, dataOffset };
}

/** F32 values of a tensor read by readGguf (F32 tensors only). */
export function ggufTensorF32(t: GgufTensorInfo): Float32Array {
  if (t.type !== GgmlType.F32) throw new GgufError(`tensor "${t.name}" is ${GGML_NAME[t.type] ?? t.type}, not F32.`);
  return new Float32Array(new Uint8Array(t.bytes).buffer);
}

// ---- names ----

/** GGUF `general.architecture` of a model (from its architecture module; Mistral converts as llama). */
export function ggufArchitecture(config: Pick<ModelConfig, 'format'>): string {
  return config.format.gguf.architecture;
}

/**
 * llama.cpp's name for a Hugging Face tensor or module name: "model.layers.3.self_attn.q_proj.weight"
 * -> "blk.3.attn_q.weight"; "transformer.h.0.attn.c_attn" -> "blk.0.attn_qkv". A PEFT
 * "base_model.model." prefix and GPT-2's "transformer." prefix are accepted.
 */
export function hfToGgufName(hfName: string, config: Pick<ModelConfig, 'architecture' | 'format'>): string {
  let name = stripPeftPrefix(hfName);
  const suffix = /\.(weight|bias)$/.exec(name)?.[0] ?? '';
  name = name.slice(0, name.length - suffix.length);
  const gguf = config.format.gguf;
  const mapped = gguf.tensorName(name);
  if (mapped) return mapped + suffix;
  throw new GgufError(`hfToGgufName: "${hfName}" has no llama.cpp name for ${config.architecture}. Known: ${gguf.knownNames}.`);
}

// ---- LoRA adapters ----

export interface GgufLoraOptions {
  config: ModelConfig;
  /** lora_alpha; llama.cpp scales by alpha / r like PEFT. */
  alpha: number;
  rank: number;
  /**
   * rsLoRA (scale alpha/√r): llama.cpp always scales by adapter.lora.alpha / r, so alpha·√r is
   * written, which gives alpha/√r (to f32 rounding).
   */
  useRslora?: boolean;
  adapters: readonly LoraWeights[];
  /** general.name */
  name?: string;
}

/**
 * A llama.cpp LoRA adapter (GGUF, F32): lora_a has GGML dims [in, r], lora_b [r, out], named
 * "<llama.cpp weight name>.lora_a/.lora_b". Where the architecture says llama.cpp permutes q/k
 * (llama, mistral) the rows of lora_b of q/k are permuted to llama.cpp's interleaved RoPE order,
 * as convert_hf_to_gguf.py permutes the base q/k weights. GPT-2 (Conv1D) adapters are written in the layout llama.cpp's loader checks
 * (a.ne[0] = in, b.ne[1] = out), the same as for nn.Linear.
 */
export function writeGgufLora(o: GgufLoraOptions): Uint8Array<ArrayBuffer> {
  const { config, rank: r } = o;
  if (!Number.isSafeInteger(r) || r <= 0) throw new GgufError(`writeGgufLora: rank must be a positive integer, got ${r}.`);
  if (typeof o.alpha !== 'number' || !Number.isFinite(o.alpha) || o.alpha <= 0) throw new GgufError(`writeGgufLora: alpha must be a positive number, got ${o.alpha}.`);
  if (o.adapters.length === 0) throw new GgufError('writeGgufLora: no adapters to write.');
  const gguf = config.format.gguf;
  const tensors: GgufTensorIn[] = [];
  const seen = new Set<string>();
  for (const ad of o.adapters) {
    const canonical = canonicalModule(config, ad.module);
    if (seen.has(canonical)) throw new GgufError(`writeGgufLora: "${ad.module}" appears twice.`);
    seen.add(canonical);
    if (ad.module === 'lm_head' && config.tieWordEmbeddings) {
      throw new GgufError('writeGgufLora: LoRA on lm_head is not supported when the embeddings are tied (llama.cpp has no separate output tensor).');
    }
    const { in: nIn, out: nOut } = loraTargetShape(config, ad.module);
    if (!(ad.a instanceof Float32Array) || ad.a.length !== r * nIn) {
      throw new GgufError(`writeGgufLora: "${ad.module}".a must be a Float32Array [${r}, ${nIn}] (${r * nIn} values), got ${ad.a?.length}.`);
    }
    if (!(ad.b instanceof Float32Array) || ad.b.length !== nOut * r) {
      throw new GgufError(`writeGgufLora: "${ad.module}".b must be a Float32Array [${nOut}, ${r}] (${nOut * r} values), got ${ad.b?.length}.`);
    }
    let b = ad.b;
    const heads = gguf.permutedHeads(config, canonical);
    if (heads !== null) b = halvesToInterleaved(ad.b, heads, nOut / heads, r);
    const base = hfToGgufName(`${ad.module}.weight`, config);
    tensors.push({ name: `${base}.lora_a`, dims: [nIn, r], type: GgmlType.F32, data: ad.a });
    tensors.push({ name: `${base}.lora_b`, dims: [r, nOut], type: GgmlType.F32, data: b });
  }
  const kv: GgufKv[] = [
    { key: 'general.architecture', type: GgufType.STRING, value: ggufArchitecture(config) },
    { key: 'general.type', type: GgufType.STRING, value: 'adapter' },
    { key: 'general.name', type: GgufType.STRING, value: o.name ?? 'LoRA adapter' },
    { key: 'general.alignment', type: GgufType.UINT32, value: GGUF_DEFAULT_ALIGNMENT },
    { key: 'general.file_type', type: GgufType.UINT32, value: 0 }, // ALL_F32
    { key: 'general.quantization_version', type: GgufType.UINT32, value: 2 },
    { key: 'adapter.type', type: GgufType.STRING, value: 'lora' },
    { key: 'adapter.lora.alpha', type: GgufType.FLOAT32, value: o.useRslora ? o.alpha * Math.sqrt(r) : o.alpha },
  ];
  return writeGguf(kv, tensors);
}
