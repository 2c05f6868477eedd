import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToF16Bits } from '../util/f16';
import { blobSource, bufferSource } from './byteSource';
import { fileSource } from './byteSourceNode';
import {
  checkShardHeaders,
  DTYPE_BYTES,
  checkShardsPresent,
  parseShardIndex,
  readSafetensorsHeader,
  readTensorBytes,
  readTensorF16,
  readTensorF32,
  SafetensorsError,
  streamTensorsF16,
  writeSafetensors,
  type TensorToWrite,
} from './safetensors';

/** A file from a literal header object and a data section, as another writer might make it. */
function rawFile(header: unknown, data: Uint8Array | number = 0, pad = 0): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header) + ' '.repeat(pad));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes, 8 + json.length);
  return out;
}

function seeded(n: number, seed = 1): Float32Array {
  let s = seed;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 4;
  }
  return out;
}

async function headerOf(bytes: Uint8Array, name = 'test.safetensors') {
  return readSafetensorsHeader(bufferSource(bytes, name));
}

async function expectError(bytes: Uint8Array, pattern: RegExp) {
  const p = headerOf(bytes);
  await expect(p).rejects.toBeInstanceOf(SafetensorsError);
  await expect(p).rejects.toThrow(pattern);
}

describe('safetensors reader', () => {
  it('reads a hand-made file (the format README example) with metadata', async () => {
    const data = new Uint8Array(new Int32Array([1, 2, 3, 4]).buffer);
    const bytes = rawFile({ test: { dtype: 'I32', shape: [2, 2], data_offsets: [0, 16] }, __metadata__: { foo: 'bar' } }, data, 3);
    const h = await headerOf(bytes);
    expect(h.metadata).toEqual({ foo: 'bar' });
    expect(h.tensors).toHaveLength(1);
    expect(h.tensors[0]).toMatchObject({ name: 'test', dtype: 'I32', shape: [2, 2], numel: 4 });
    expect(h.tensors[0].begin).toBe(h.dataStart);
    const raw = await readTensorBytes(bufferSource(bytes), h, 'test');
    expect(Array.from(new Int32Array(raw.buffer))).toEqual([1, 2, 3, 4]);
  });

  it('accepts scalars and empty tensors and files without metadata', async () => {
    const data = new Uint8Array(new Float32Array([2.5]).buffer);
    const h = await headerOf(rawFile({
      s: { dtype: 'F32', shape: [], data_offsets: [0, 4] },
      e: { dtype: 'F16', shape: [0, 7], data_offsets: [4, 4] },
    }, data));
    expect(h.metadata).toBeNull();
    expect(h.byName.get('s')!.numel).toBe(1);
    expect(h.byName.get('e')!.numel).toBe(0);
    const scalar = rawFile({ s: { dtype: 'F32', shape: [], data_offsets: [0, 4] } }, data);
    expect(Array.from(await readTensorF32(bufferSource(scalar), await headerOf(scalar), 's'))).toEqual([2.5]);
  });

  it('rejects a file shorter than the length field', async () => {
    await expectError(new Uint8Array(5), /only 5 bytes/);
  });

  it('rejects a header length beyond the file and absurd lengths', async () => {
    const b = rawFile({});
    new DataView(b.buffer).setBigUint64(0, 1000n, true);
    await expectError(b, /says 1000 bytes but only 2 bytes follow/);
    new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true);
    await expectError(b, /more than the 100000000-byte limit/);
    new DataView(b.buffer).setBigUint64(0, 0n, true);
    await expectError(b, /too short/);
  });

  it('rejects non-JSON, non-UTF-8 and non-object headers', async () => {
    await expectError(rawFile('{"a": '), /not valid JSON/);
    await expectError(rawFile('[1,2]'), /must be a JSON object, got an array/);
    await expectError(rawFile('42'), /must be a JSON object/);
    const bad = rawFile('{"a":1}');
    bad[10] = 0xff;
    await expectError(bad, /not valid UTF-8/);
  });

  it('rejects unknown dtypes, naming the tensor and listing known ones', async () => {
    await expectError(rawFile({ w: { dtype: 'F12', shape: [1], data_offsets: [0, 2] } }, 2), /tensor "w" has unknown dtype "F12".*Known dtypes: BOOL/);
    await expectError(rawFile({ w: { shape: [1], data_offsets: [0, 2] } }, 2), /unknown dtype undefined/);
  });

  it('rejects bad shapes', async () => {
    const bad = [[-1], [1.5], ['2'], 3, [2 ** 53], null];
    for (const shape of bad) {
      await expectError(rawFile({ w: { dtype: 'U8', shape, data_offsets: [0, 2] } }, 2), /tensor "w": shape/);
    }
  });

  it('computes sizes without overflow for huge shapes', async () => {
    // 2^26 * 2^26 * 4 bytes: the product is exact only in BigInt, and far beyond the file
    await expectError(rawFile({ w: { dtype: 'F32', shape: [2 ** 26, 2 ** 26], data_offsets: [0, 4] } }, 4), /needs 18014398509481984 bytes/);
    await expectError(rawFile({ w: { dtype: 'F32', shape: [2 ** 30, 2 ** 30], data_offsets: [0, 4] } }, 4), /more than any file can hold/);
    // a product that wraps to 0 in 32-bit arithmetic
    await expectError(rawFile({ w: { dtype: 'U8', shape: [65536, 65536], data_offsets: [0, 0] } }, 0), /needs 4294967296 bytes/);
  });

  it('rejects malformed, out-of-range, mis-sized, overlapping and gapped data_offsets', async () => {
    await expectError(rawFile({ w: { dtype: 'U8', shape: [2], data_offsets: [0] } }, 2), /data_offsets must be \[begin, end\]/);
    await expectError(rawFile({ w: { dtype: 'U8', shape: [2], data_offsets: [-1, 1] } }, 2), /data_offsets must be/);
    await expectError(rawFile({ w: { dtype: 'U8', shape: [2], data_offsets: [2, 0] } }, 2), /end before they begin/);
    await expectError(rawFile({ w: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }, 2), /run past the end of the data section \(2 bytes\).*truncated/);
    await expectError(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 4), /needs 8 bytes but data_offsets \[0, 4\] hold 4/);
    await expectError(rawFile({
      a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] },
      b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] },
    }, 6), /tensor "b" overlaps tensor "a"/);
    await expectError(rawFile({ a: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } }, 3), /gap of 1 unused bytes before tensor "a"/);
    await expectError(rawFile({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, 5), /3 bytes unaccounted for/);
    await expectError(rawFile({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: 7 }, 2), /tensor "b" must be an object/);
  });

  it('validates __metadata__', async () => {
    await expectError(rawFile({ __metadata__: { format: 3 } }), /"__metadata__"."format" is 3/);
    await expectError(rawFile({ __metadata__: ['pt'] }), /"__metadata__" must be an object/);
  });

  it('names the file in every error', async () => {
    await expect(readSafetensorsHeader(bufferSource(rawFile('nope'), 'shard-3.safetensors'))).rejects.toThrow(/^shard-3.safetensors: /);
  });
});

describe('safetensors writer', () => {
  const f32 = seeded(24, 3);
  const bf16 = new Uint16Array(Array.from(seeded(6, 4), (x) => (new Uint32Array(new Float32Array([x]).buffer)[0] >>> 16)));
  const f16 = new Uint16Array(Array.from(seeded(5, 5), f32ToF16Bits));
  const tensors: TensorToWrite[] = [
    { name: 'h', dtype: 'F16', shape: [5], data: f16 },
    { name: 'a.weight', dtype: 'F32', shape: [4, 6], data: f32 },
    { name: 'b', dtype: 'BF16', shape: [2, 3], data: bf16 },
    { name: 'ids', dtype: 'I32', shape: [3], data: new Int32Array([7, -1, 1 << 30]) },
  ];

  it('pads the header with spaces to 8 bytes and aligns every tensor', async () => {
    const bytes = writeSafetensors(tensors, { format: 'pt' });
    const h = await headerOf(bytes);
    expect(h.dataStart % 8).toBe(0);
    const json = new TextDecoder().decode(bytes.subarray(8, h.dataStart));
    expect(json.startsWith('{"__metadata__":{"format":"pt"}')).toBe(true);
    expect(json).toMatch(/} *$/);
    expect(json.trimEnd().length).toBeGreaterThan(json.length - 8);
    for (const t of h.tensors) expect((t.begin - h.dataStart) % DTYPE_BYTES[t.dtype]).toBe(0);
    // 4-byte types first, in the order given, then the 2-byte ones
    expect(h.tensors.map((t) => t.name)).toEqual(['a.weight', 'ids', 'h', 'b']);
    expect(h.metadata).toEqual({ format: 'pt' });
  });

  it('round-trips F32, F16, BF16 and I32 exactly', async () => {
    const bytes = writeSafetensors(tensors);
    const src = bufferSource(bytes);
    const h = await readSafetensorsHeader(src);
    expect(h.byName.get('a.weight')!.shape).toEqual([4, 6]);
    expect(await readTensorF32(src, h, 'a.weight')).toEqual(f32);
    expect(Array.from(await readTensorF32(src, h, 'b'))).toEqual(Array.from(bf16, bf16BitsToF32));
    expect(Array.from(await readTensorF32(src, h, 'h'))).toEqual(Array.from(f16, f16BitsToF32));
    expect(Array.from(new Int32Array((await readTensorBytes(src, h, 'ids')).buffer))).toEqual([7, -1, 1 << 30]);
    await expect(readTensorF32(src, h, 'ids')).rejects.toThrow(/"ids" is I32, which cannot be loaded as fp16/);
    // a small Node Buffer lives at an offset inside a shared pool, and its slice() does not copy
    const pooled = Buffer.from(bytes);
    expect(pooled.byteOffset).toBeGreaterThan(0);
    const ps = bufferSource(pooled);
    expect(await readTensorF32(ps, await readSafetensorsHeader(ps), 'a.weight')).toEqual(f32);
  });

  it('validates its inputs with typed errors', () => {
    const ok = { name: 'x', dtype: 'F32', shape: [2], data: new Float32Array(2) } as const;
    const cases: [unknown, unknown, RegExp][] = [
      [[{ ...ok, name: '' }], undefined, /name must be a non-empty string/],
      [[{ ...ok, name: '__metadata__' }], undefined, /reserved/],
      [[ok, ok], undefined, /"x": the name appears twice/],
      [[{ ...ok, dtype: 'F64' }], undefined, /dtype "F64" cannot be written; use one of F32, F16, BF16, I32/],
      [[{ ...ok, shape: [-2] }], undefined, /not a non-negative integer/],
      [[{ ...ok, shape: [3] }], undefined, /needs 3 elements but data has 2/],
      [[{ ...ok, data: [1, 2] }], undefined, /needs data as a Float32Array, got Array/],
      [[{ ...ok, dtype: 'F16' }], undefined, /Uint16Array of binary16 bits, got Float32Array/],
      [[ok], { n: 1 }, /metadata "n" is number/],
      [[null], undefined, /is not an object/],
      ['x', undefined, /must be an array/],
    ];
    for (const [t, m, re] of cases) {
      expect(() => writeSafetensors(t as TensorToWrite[], m as Record<string, string>)).toThrow(SafetensorsError);
      expect(() => writeSafetensors(t as TensorToWrite[], m as Record<string, string>)).toThrow(re);
    }
  });
});

describe('streaming to fp16', () => {
  const big = seeded(1000, 9);
  big[3] = 1e6; // beyond fp16 range
  big[4] = -Infinity; // already infinite: not counted as overflow
  const bf = new Uint16Array([0x3f80, 0x4780, 0x7f80, 0xc000, 0x4800]); // 1, 65536, inf, -2, 131072
  const file = writeSafetensors([
    { name: 'big', dtype: 'F32', shape: [10, 100], data: big },
    { name: 'bf', dtype: 'BF16', shape: [5], data: bf },
    { name: 'half', dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0x8001, 0x7bff]) },
  ]);

  it('converts each dtype, in file order, reporting progress in small chunks', async () => {
    // an odd byte offset forces unaligned views inside the reader
    const shifted = new Uint8Array(file.length + 1);
    shifted.set(file, 1);
    const src = bufferSource(shifted.subarray(1));
    const h = await readSafetensorsHeader(src);
    const progress: [number, number][] = [];
    const got: Record<string, { halves: number[]; overflowed: number }> = {};
    for await (const t of streamTensorsF16(src, h, { chunkBytes: 24, onProgress: (d, tot) => progress.push([d, tot]) })) {
      got[t.info.name] = { halves: Array.from(t.halves), overflowed: t.overflowed };
    }
    expect(Object.keys(got)).toEqual(['big', 'bf', 'half']);
    expect(got.big.halves).toEqual(Array.from(big, f32ToF16Bits));
    expect(got.big.overflowed).toBe(1);
    expect(got.bf.halves).toEqual([0x3c00, 0x7c00, 0x7c00, 0xc000, 0x7c00]);
    expect(got.bf.overflowed).toBe(2);
    expect(got.half.halves).toEqual([0x3c00, 0x8001, 0x7bff]);
    const total = 4000 + 10 + 6;
    expect(progress[0]).toEqual([0, total]);
    expect(progress.at(-1)).toEqual([total, total]);
    expect(progress.length).toBeGreaterThan(160);
    for (let i = 1; i < progress.length; i++) expect(progress[i][0]).toBeGreaterThan(progress[i - 1][0]);
  });

  it('streams a subset, and rejects unknown names and unconvertible dtypes before reading', async () => {
    const src = bufferSource(file);
    const h = await readSafetensorsHeader(src);
    const names: string[] = [];
    for await (const t of streamTensorsF16(src, h, { names: ['half', 'bf'] })) names.push(t.info.name);
    expect(names).toEqual(['bf', 'half']);
    expect(Array.from(await readTensorF16(src, h, 'half'))).toEqual([0x3c00, 0x8001, 0x7bff]);
    await expect(readTensorF16(src, h, 'nope')).rejects.toThrow(/has no tensor named "nope"/);
    const withInts = writeSafetensors([{ name: 'ids', dtype: 'I32', shape: [1], data: new Int32Array(1) }]);
    const s2 = bufferSource(withInts, 'ints.safetensors');
    let reads = 0;
    const counting = { ...s2, read: (o: number, l: number) => (reads++, s2.read(o, l)) };
    const h2 = await readSafetensorsHeader(counting);
    reads = 0;
    await expect(streamTensorsF16(counting, h2).next()).rejects.toThrow(/ints.safetensors: tensor "ids" is I32/);
    expect(reads).toBe(0);
  });

  it('reads from a Blob and from a file on disk (fs.openAsBlob), one range at a time', async () => {
    const blob = new Blob([file]);
    const src = blobSource(blob, 'mem.safetensors');
    const h = await readSafetensorsHeader(src);
    expect(Array.from(await readTensorF16(src, h, 'half'))).toEqual([0x3c00, 0x8001, 0x7bff]);
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    try {
      const path = join(dir, 'm.safetensors');
      writeFileSync(path, file);
      const fsrc = await fileSource(path);
      expect(fsrc.name).toBe(path);
      const fh = await readSafetensorsHeader(fsrc);
      expect(await readTensorF32(fsrc, fh, 'big')).toEqual(big);
      // a truncated file on disk is reported with the path
      writeFileSync(path, file.subarray(0, file.length - 3));
      await expect(readSafetensorsHeader(await fileSource(path))).rejects.toThrow(new RegExp(`${path}: .*truncated`));
      await expect(fsrc.read(file.length - 2, 4)).rejects.toThrow(/runs past the end/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sharded checkpoints', () => {
  const index = JSON.stringify({
    metadata: { total_size: 24 },
    weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' },
  });

  it('parses weight_map and lists shards', () => {
    const idx = parseShardIndex(index);
    expect(idx.shards).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(idx.weightMap.get('b')).toBe('model-00002-of-00002.safetensors');
    expect(idx.metadata).toEqual({ total_size: 24 });
  });

  it('rejects malformed indexes', () => {
    expect(() => parseShardIndex('{')).toThrow(/not valid JSON/);
    expect(() => parseShardIndex('{"metadata":{}}')).toThrow(/no "weight_map"/);
    expect(() => parseShardIndex('{"weight_map":{}}')).toThrow(/empty weight_map/);
    expect(() => parseShardIndex('{"weight_map":{"a":3}}')).toThrow(/weight_map\["a"\] is 3/);
    expect(() => parseShardIndex('{"weight_map":{"a":"../x.safetensors"}}')).toThrow(/not a plain file name/);
  });

  it('reports every missing shard', () => {
    const idx = parseShardIndex(index);
    expect(() => checkShardsPresent(idx, ['model-00001-of-00002.safetensors', 'config.json'])).toThrow(
      /1 shard file\(s\) that were not provided: model-00002-of-00002.safetensors/,
    );
    expect(() => checkShardsPresent(idx, idx.shards)).not.toThrow();
  });

  it('cross-checks shard headers against the index', async () => {
    const idx = parseShardIndex(index);
    const t = (name: string) => ({ name, dtype: 'F32' as const, shape: [1], data: new Float32Array(1) });
    const s1 = await headerOf(writeSafetensors([t('a'), t('c')]));
    const s2 = await headerOf(writeSafetensors([t('b')]));
    const s2bad = await headerOf(writeSafetensors([t('b'), t('d')]));
    const s1bad = await headerOf(writeSafetensors([t('a')]));
    const [n1, n2] = idx.shards;
    expect(() => checkShardHeaders(idx, new Map([[n1, s1], [n2, s2]]))).not.toThrow();
    expect(() => checkShardHeaders(idx, new Map([[n1, s1], [n2, s2bad]]))).toThrow(/holds "d", which the index does not list/);
    expect(() => checkShardHeaders(idx, new Map([[n1, s1bad], [n2, s2]]))).toThrow(/"c" is in model-00001-of-00002.safetensors, but that shard has no such tensor/);
    expect(() => checkShardHeaders(idx, new Map([[n1, s1]]))).toThrow(/not provided/);
  });
});

describe('writeSafetensors with a tensor named __proto__', () => {
  it('writes it as a tensor like any other name', async () => {
    const file = writeSafetensors([{ name: '__proto__', dtype: 'BF16', shape: [1], data: new Uint16Array([0x3f80]) }]);
    const header = await readSafetensorsHeader(bufferSource(file, 'proto.safetensors'));
    expect(header.tensors.map((t) => t.name)).toEqual(['__proto__']);
  });
});
