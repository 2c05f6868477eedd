// @ts-check
// Safetensors writer, plus the pieces the reader shares with it (error class, dtype sizes).
// Plain JavaScript so that scripts/demo-model.mjs can run it under plain Node without a TypeScript
// loader; its JSDoc types are what TypeScript callers see, checked by `npm run typecheck`.
//
// Layout (https://github.com/huggingface/safetensors): 8-byte little-endian u64 N, N bytes of
// UTF-8 JSON header, then the data section. The header maps each tensor name to
// { dtype, shape, data_offsets: [begin, end] } (offsets relative to the data section), with an
// optional "__metadata__" map of string to string.

/** Every problem with a safetensors file or with tensors given to the writer. */
export class SafetensorsError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/**
 * Bytes per element of every dtype the format defines with a whole number of bytes.
 * (The sub-byte F4/F6 types are left out: nothing here can use them.)
 * @type {Readonly<Record<string, number>>}
 */
export const DTYPE_BYTES = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
  C64: 8,
});

/** @typedef {'F32' | 'F16' | 'BF16' | 'I32'} WritableDtype */

/**
 * A tensor for writeSafetensors. F32: Float32Array; F16 / BF16: Uint16Array of raw bits; I32: Int32Array.
 * @typedef {{ name: string, dtype: 'F32', shape: readonly number[], data: Float32Array }
 *   | { name: string, dtype: 'F16' | 'BF16', shape: readonly number[], data: Uint16Array }
 *   | { name: string, dtype: 'I32', shape: readonly number[], data: Int32Array }} TensorToWrite
 */

/** The dtypes writeSafetensors accepts, with the typed array each one's data must be. */
const WRITABLE = Object.freeze({
  F32: { array: Float32Array, what: 'a Float32Array' },
  F16: { array: Uint16Array, what: 'a Uint16Array of binary16 bits' },
  BF16: { array: Uint16Array, what: 'a Uint16Array of bfloat16 bits' },
  I32: { array: Int32Array, what: 'an Int32Array' },
});

/**
 * A value for an error message. JSON.stringify recurses, so a shape nested thousands of arrays
 * deep would overflow the stack instead of producing our error.
 * @param {unknown} v
 * @param {number} [depth]
 * @returns {string}
 */
function describe(v, depth = 0) {
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || typeof v !== 'object') return typeof v === 'string' ? JSON.stringify(v.slice(0, 60)) : String(v);
  if (depth >= 3) return Array.isArray(v) ? '[…]' : '{…}';
  if (Array.isArray(v)) return `[${v.slice(0, 6).map((x) => describe(x, depth + 1)).join(',')}${v.length > 6 ? ',…' : ''}]`;
  return '{…}';
}

/**
 * Element count of `shape`, or an error message when the shape is not a list of non-negative
 * safe integers or its product is not a safe integer (BigInt, so huge shapes cannot wrap).
 * @param {unknown} shape
 * @returns {{ count: number } | { error: string }}
 */
export function shapeElementCount(shape) {
  if (!Array.isArray(shape)) return { error: `shape must be an array of integers, got ${describe(shape)}` };
  let product = 1n;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      return { error: `shape ${describe(shape)} has ${describe(d)}, which is not a non-negative integer` };
    }
    product *= BigInt(d);
  }
  if (product > BigInt(Number.MAX_SAFE_INTEGER)) {
    return { error: `shape ${describe(shape)} has ${product} elements, more than any file can hold` };
  }
  return { count: Number(product) };
}

/**
 * Serializes tensors to a safetensors file. Tensors are laid out by element size, largest first
 * (keeping the given order otherwise), and the header is padded with spaces to a multiple of 8
 * bytes as the Rust library does, so every tensor starts at an offset aligned to its element size.
 * @param {readonly TensorToWrite[]} tensors
 * @param {Readonly<Record<string, string>>} [metadata]
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function writeSafetensors(tensors, metadata) {
  if (!Array.isArray(tensors)) throw new SafetensorsError('writeSafetensors: tensors must be an array of { name, dtype, shape, data }.');
  const seen = new Set();
  const checked = tensors.map((t, index) => {
    const where = `writeSafetensors: tensor #${index}${t && typeof t.name === 'string' ? ` "${t.name}"` : ''}`;
    if (!t || typeof t !== 'object') throw new SafetensorsError(`${where} is not an object { name, dtype, shape, data }.`);
    if (typeof t.name !== 'string' || t.name.length === 0) throw new SafetensorsError(`${where}: name must be a non-empty string.`);
    if (t.name === '__metadata__') throw new SafetensorsError(`${where}: "__metadata__" is reserved for metadata; rename the tensor.`);
    if (seen.has(t.name)) throw new SafetensorsError(`${where}: the name appears twice; tensor names must be unique.`);
    seen.add(t.name);
    const spec = typeof t.dtype === 'string' && Object.hasOwn(WRITABLE, t.dtype) ? WRITABLE[/** @type {keyof typeof WRITABLE} */ (t.dtype)] : undefined;
    if (!spec) {
      throw new SafetensorsError(`${where}: dtype ${describe(t.dtype)} cannot be written; use one of ${Object.keys(WRITABLE).join(', ')}.`);
    }
    const n = shapeElementCount(t.shape);
    if ('error' in n) throw new SafetensorsError(`${where}: ${n.error}.`);
    if (!(t.data instanceof spec.array)) {
      throw new SafetensorsError(`${where}: dtype ${t.dtype} needs data as ${spec.what}, got ${t.data?.constructor?.name ?? typeof t.data}.`);
    }
    if (t.data.length !== n.count) {
      throw new SafetensorsError(
        `${where}: shape ${describe(t.shape)} needs ${n.count} elements but data has ${t.data.length}.`,
      );
    }
    return { name: t.name, dtype: t.dtype, shape: [...t.shape], data: t.data, bytes: DTYPE_BYTES[t.dtype] };
  });
  /** @type {Record<string, unknown>} */
  const header = {};
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new SafetensorsError('writeSafetensors: metadata must be an object of string values.');
    }
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new SafetensorsError(`writeSafetensors: metadata "${k}" is ${typeof v}; safetensors metadata values must be strings (JSON.stringify it).`);
      }
    }
    header.__metadata__ = { ...metadata };
  }
  // stable sort: largest element first keeps every tensor naturally aligned
  const order = checked.map((t, i) => ({ t, i })).sort((a, b) => b.t.bytes - a.t.bytes || a.i - b.i).map((x) => x.t);
  let offset = 0;
  for (const t of order) {
    const size = t.data.byteLength;
    // defineProperty: a tensor named "__proto__" must become a key, not the object's prototype
    Object.defineProperty(header, t.name, { value: { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] }, enumerable: true, writable: true, configurable: true });
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let at = 8 + headerLen;
  for (const t of order) {
    // typed arrays are little-endian on every platform we run on, as the format requires
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
