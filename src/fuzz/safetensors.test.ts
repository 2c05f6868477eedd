// Fuzzes the safetensors reader (header parse, then every tensor streamed as fp16 and read as
// f32 or raw bytes) with files made by writeSafetensors and then broken: byte flips, header
// length fields, header JSON edited structurally (offsets, shapes, dtypes, metadata) or as text,
// and garbage. Contract: SafetensorsError / ByteSourceError, or a header whose tensors tile the
// data section exactly and whose values convert consistently.

import { expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToF16Bits } from '../util/f16';
import { ByteSourceError, bufferSource } from '../io/byteSource';
import {
  DTYPE_BYTES,
  HALF_CONVERTIBLE,
  parseSafetensorsHeader,
  readSafetensorsHeader,
  readTensorBytes,
  readTensorF32,
  SafetensorsError,
  streamTensorsF16,
  writeSafetensors,
  type SafetensorsHeader,
  type TensorToWrite,
} from '../io/safetensors';
import { fuzz, FUZZ_TIMEOUT_MS, Rng, summary } from './harness';
import { KNOWN_BUGS } from './knownBugs';
import { capNesting, jsonText, maxNesting, mutateBytesMany, mutateJsonMany, mutateTextMany, nestedArray, randomJson, randomNumber } from './mutate';

// any random value can end up in a shape: keep all nesting shallow while that bug is open
capNesting(KNOWN_BUGS.safetensorsShapeStackOverflow);

const FILE = 'fuzz.safetensors';
const enc = new TextEncoder();
const dec = new TextDecoder();

function seededFloats(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.chance(0.05) ? rng.pick([0, -0, 65504, 70000, -1e30, Infinity, NaN, 1e-8]) : (rng.float() - 0.5) * 8;
  return out;
}

function tensor(rng: Rng, name: string, dtype: 'F32' | 'F16' | 'BF16' | 'I32', shape: number[]): TensorToWrite {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'F32') return { name, dtype, shape, data: seededFloats(rng, n) };
  if (dtype === 'I32') return { name, dtype, shape, data: new Int32Array(Array.from({ length: n }, () => rng.u32() | 0)) };
  return { name, dtype, shape, data: new Uint16Array(Array.from({ length: n }, () => rng.u32() & 0xffff)) };
}

/** A file from a literal header and a data section, as another writer might make it. */
function rawFile(header: unknown, data: Uint8Array, pad = 0): Uint8Array {
  const json = enc.encode((typeof header === 'string' ? header : jsonText(header)) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

interface Seed {
  bytes: Uint8Array;
  /** What was written, for the round-trip check of unmutated files. */
  tensors: TensorToWrite[] | null;
  metadata?: Record<string, string>;
}

function buildCorpus(): Seed[] {
  const rng = new Rng(0x5afe);
  const sets: { tensors: TensorToWrite[]; metadata?: Record<string, string> }[] = [
    {
      tensors: [
        tensor(rng, 'model.embed_tokens.weight', 'F32', [4, 3]),
        tensor(rng, 'model.norm.weight', 'F16', [3]),
        tensor(rng, 'lm_head.weight', 'BF16', [2, 3]),
        tensor(rng, 'ids', 'I32', [5]),
      ],
      metadata: { format: 'pt' },
    },
    { tensors: [tensor(rng, 'scalar', 'F32', []), tensor(rng, 'empty', 'F16', [0, 5]), tensor(rng, 'b', 'BF16', [1, 1, 2])] },
    { tensors: [tensor(rng, 'x', 'F32', [1])] },
    { tensors: Array.from({ length: 8 }, (_, i) => tensor(rng, `layers.${i}.w`, rng.pick(['F32', 'F16', 'BF16', 'I32'] as const), [rng.int(1, 3), rng.int(1, 4)])) },
    { tensors: [], metadata: { note: 'no tensors', '__proto__': 'x', 'k\u00e9': '\u{1F600}' } },
    { tensors: [tensor(rng, '\u00e9\u{1F600}"\\', 'F16', [2, 2]), tensor(rng, '__proto__', 'F32', [2])] },
  ];
  const seeds: Seed[] = sets.map((s) => ({ bytes: writeSafetensors(s.tensors, s.metadata), tensors: s.tensors, metadata: s.metadata }));
  // dtypes the writer does not produce, from a hand-made header (tensors stored unaligned, too)
  const data = rng.bytes(8 + 3 + 16 + 2);
  seeds.push({
    bytes: rawFile(
      {
        a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] },
        b: { dtype: 'U8', shape: [3], data_offsets: [8, 11] },
        c: { dtype: 'F32', shape: [2, 2], data_offsets: [11, 27] },
        d: { dtype: 'F16', shape: [1], data_offsets: [27, 29] },
        __metadata__: {},
      },
      data,
      3,
    ),
    tensors: null,
  });
  return seeds;
}

const corpus = buildCorpus();

type Input = { kind: string; bytes: Uint8Array; seed: number; chunkBytes: number; fileSize?: number };

function splitFile(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(dec.decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>, data: bytes.subarray(8 + n) };
}

const SHAPES = (rng: Rng): unknown =>
  rng.pick([
    [2 ** 40, 2 ** 40], [2 ** 26, 2 ** 26], [2 ** 53], [2 ** 53 - 1, 2], [-1], [1.5], ['2'], [], [0], [0, 2 ** 60], [null], 3, null, {}, [[2]],
    [NaN], nestedArray(rng.int(2, maxNesting(rng))), Array.from({ length: rng.int(5, 40) }, () => rng.int(1, 2)),
  ]);

/** Edits aimed at what the reader validates: offsets, shapes, dtypes, metadata. */
function targetedEdit(rng: Rng, header: Record<string, unknown>, dataLen: number): Record<string, unknown> {
  const h: Record<string, unknown> = { ...header };
  const names = Object.keys(h).filter((k) => k !== '__metadata__');
  const what = rng.below(names.length > 0 ? 8 : 2);
  if (what === 0) {
    // deep metadata (and data_offsets below) is fixed: it goes deep even while deep shapes are capped
    h.__metadata__ = rng.pick<unknown>([
      null, [], 'x', 1, { a: 1 }, { a: null }, { a: ['x'] }, { a: { b: 'c' } }, { a: nestedArray(rng.int(2, maxNesting(rng, KNOWN_BUGS.deepNestingStackOverflow))) }, { '': '' }, randomJson(rng, 2),
    ]);
    return h;
  }
  if (what === 1) {
    // a tensor that is not there, or not an object
    Object.defineProperty(h, rng.pick(['extra', '__proto__', '', ...names]), {
      value: rng.pick<unknown>([null, 1, 'x', [], {}, { dtype: 'F32' }, { dtype: 'F32', shape: [1], data_offsets: [dataLen, dataLen + 4] }, { dtype: 'F32', shape: [0], data_offsets: [0, 0] }]),
      enumerable: true, writable: true, configurable: true,
    });
    return h;
  }
  const name = rng.pick(names);
  const t = { ...(h[name] as Record<string, unknown>) };
  const offs = Array.isArray(t.data_offsets) ? [...(t.data_offsets as unknown[])] : [0, 0];
  const [b, e] = offs as [number, number];
  switch (what) {
    case 2:
      t.shape = SHAPES(rng);
      break;
    case 3:
      t.dtype = rng.pick<unknown>([...Object.keys(DTYPE_BYTES), 'F4', 'Q4_0', 'f32', '', 'constructor', '__proto__', null, 4, ['F32']]);
      break;
    case 4:
      t.data_offsets = rng.pick<unknown>([
        [e, b], [b, e + 1], [b, e - 1], [b - 1, e - 1], [b + 1, e + 1], [0, e], [b, dataLen + rng.int(0, 8)], [-1, e], [b + 0.5, e], [b, 2 ** 53],
        [2 ** 53 + 2, 2 ** 53 + 6], [b], [b, e, e], null, 'x', [String(b), e], [b, NaN], [0, 0], [dataLen, dataLen], nestedArray(rng.int(2, maxNesting(rng, KNOWN_BUGS.deepNestingStackOverflow))),
      ]);
      break;
    case 5:
      // shift a tensor into its neighbour (overlap) or away from it (gap)
      t.data_offsets = [b + rng.int(-8, 8), e + rng.int(-8, 8)];
      break;
    case 6:
      delete t[rng.pick(['dtype', 'shape', 'data_offsets'])];
      break;
    default:
      t[rng.pick(['dtype', 'shape', 'data_offsets', 'extra'])] = randomJson(rng, 2);
  }
  h[name] = t;
  return h;
}

function generate(rng: Rng): Input {
  const seed = rng.below(corpus.length);
  const base = corpus[seed].bytes;
  const chunkBytes = rng.pick([1, 7, 8, 16, 64, 1 << 20]);
  const kind = ['valid', 'bytes', 'structured', 'targeted', 'text', 'length', 'garbage', 'parse'][rng.weighted([1, 4, 3, 5, 2, 1, 1, 1])];
  let bytes: Uint8Array;
  switch (kind) {
    case 'valid':
      bytes = base;
      break;
    case 'bytes':
      bytes = mutateBytesMany(rng, base, 4);
      break;
    case 'structured':
    case 'targeted':
    case 'text':
    case 'parse': {
      const { header, data } = splitFile(base);
      let json: string;
      if (kind === 'text') json = mutateTextMany(rng, JSON.stringify(header), 3);
      else {
        const edited = kind === 'structured' ? mutateJsonMany(rng, header, 3, false, ['dtype', 'shape', 'data_offsets', '__metadata__']) : targetedEdit(rng, header, data.length);
        json = jsonText(edited);
      }
      // sometimes a data section that no longer matches (truncated download, junk appended)
      const d = rng.chance(0.8) ? data : rng.chance(0.5) ? data.subarray(0, rng.below(data.length + 1)) : new Uint8Array([...data, ...rng.bytes(rng.int(1, 16))]);
      bytes = rawFile(json, d, rng.chance(0.3) ? rng.int(1, 7) : 0);
      break;
    }
    case 'length': {
      bytes = new Uint8Array(base);
      const dv = new DataView(bytes.buffer);
      const n = dv.getBigUint64(0, true);
      const v = rng.pick([0n, 1n, 2n, n - 1n, n + 1n, n + 8n, BigInt(bytes.length), BigInt(bytes.length - 7), 100_000_000n, 100_000_001n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]);
      dv.setBigUint64(0, BigInt.asUintN(64, v), true);
      break;
    }
    default: {
      bytes = rng.bytes(rng.size(256));
      if (bytes.length >= 8 && rng.chance(0.5)) new DataView(bytes.buffer).setBigUint64(0, BigInt(rng.below(bytes.length)), true);
    }
  }
  return { kind, bytes, seed, chunkBytes, fileSize: kind === 'parse' ? Math.max(0, Math.trunc(randomNumber(rng))) : undefined };
}

interface ReadBack {
  header: SafetensorsHeader;
  halves: Map<string, Uint16Array>;
  f32: Map<string, Float32Array>;
  raw: Map<string, Uint8Array>;
}

async function readAll(input: Input): Promise<ReadBack> {
  if (input.kind === 'parse') {
    // the pure parser, given a file size that may disagree with the header
    const n = Number(new DataView(input.bytes.buffer).getBigUint64(0, true));
    const header = parseSafetensorsHeader(input.bytes.subarray(8, 8 + n), input.fileSize!, FILE);
    return { header, halves: new Map(), f32: new Map(), raw: new Map() };
  }
  const src = bufferSource(input.bytes, FILE);
  const header = await readSafetensorsHeader(src);
  const convertible = header.tensors.filter((t) => (HALF_CONVERTIBLE as readonly string[]).includes(t.dtype)).map((t) => t.name);
  const halves = new Map<string, Uint16Array>();
  for await (const t of streamTensorsF16(src, header, { names: convertible, chunkBytes: input.chunkBytes })) halves.set(t.info.name, t.halves);
  const f32 = new Map<string, Float32Array>();
  const raw = new Map<string, Uint8Array>();
  for (const t of header.tensors) {
    if (convertible.includes(t.name)) f32.set(t.name, await readTensorF32(src, header, t.name));
    raw.set(t.name, await readTensorBytes(src, header, t.name));
  }
  return { header, halves, f32, raw };
}

function sameValue(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

function check(r: ReadBack, input: Input): void {
  const h = r.header;
  const fileSize = input.kind === 'parse' ? input.fileSize! : input.bytes.length;
  expect(h.fileSize).toBe(fileSize);
  // tensors tile the data section: sorted, contiguous, ending at the file's end
  let at = h.dataStart;
  for (const t of h.tensors) {
    expect(t.begin).toBe(at);
    expect(DTYPE_BYTES[t.dtype]).toBeGreaterThan(0);
    expect(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)).toBe(true);
    expect(t.numel).toBe(t.shape.reduce((a, b) => a * b, 1));
    expect(t.end - t.begin).toBe(t.numel * DTYPE_BYTES[t.dtype]);
    expect(h.byName.get(t.name)).toBe(t);
    at = t.end;
  }
  expect(at).toBe(fileSize);
  expect(h.byName.size).toBe(h.tensors.length);
  if (h.metadata !== null) expect(Object.values(h.metadata).every((v) => typeof v === 'string')).toBe(true);
  if (input.kind === 'parse') return;
  for (const t of h.tensors) {
    const raw = r.raw.get(t.name)!;
    expect(raw).toEqual(input.bytes.subarray(t.begin, t.end));
    if (!r.f32.has(t.name)) continue;
    const f32 = r.f32.get(t.name)!;
    const halves = r.halves.get(t.name)!;
    expect(f32.length).toBe(t.numel);
    expect(halves.length).toBe(t.numel);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < t.numel; i++) {
      if (t.dtype === 'F32') {
        expect(sameValue(f32[i], dv.getFloat32(4 * i, true))).toBe(true);
        expect(halves[i]).toBe(f32ToF16Bits(f32[i]));
      } else {
        const bits = dv.getUint16(2 * i, true);
        const v = t.dtype === 'F16' ? f16BitsToF32(bits) : bf16BitsToF32(bits);
        expect(sameValue(f32[i], v)).toBe(true);
        expect(halves[i]).toBe(t.dtype === 'F16' ? bits : f32ToF16Bits(v));
      }
    }
  }
  // an untouched file reads back exactly as written
  const seed = corpus[input.seed];
  if (input.kind === 'valid' && seed.tensors) {
    expect(h.metadata).toEqual(seed.metadata ?? null);
    expect(h.tensors.map((t) => t.name).sort()).toEqual(seed.tensors.map((t) => t.name).sort());
    for (const w of seed.tensors) {
      const t = h.byName.get(w.name)!;
      expect([t.dtype, t.shape]).toEqual([w.dtype, [...w.shape]]);
      expect(r.raw.get(w.name)).toEqual(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    }
  }
}

it('safetensors reader: mutated files end in a typed error or a consistent header and tensors', async () => {
  const stats = await fuzz<Input, ReadBack>({
    name: 'safetensors reader',
    seed: 0x51fe,
    cases: 30_000,
    generate,
    run: readAll,
    typedError: (e) => e instanceof SafetensorsError || e instanceof ByteSourceError,
    checkError: (e) => expect((e as Error).message).toContain(FILE),
    check,
    describe: (x) => `${x.kind} of seed ${x.seed}, chunkBytes ${x.chunkBytes}${x.fileSize !== undefined ? `, fileSize ${x.fileSize}` : ''}, ` +
      `${x.bytes.length} bytes: ${JSON.stringify(dec.decode(x.bytes.subarray(0, 600)))} hex head ${Buffer.from(x.bytes.subarray(0, 16)).toString('hex')}`,
  });
  console.log(summary(stats));
  expect(stats.cases).toBeGreaterThanOrEqual(30_000);
  // both outcomes must be common, or the mutations are too weak (all valid) or too blunt (all errors)
  expect(stats.ok).toBeGreaterThan(stats.cases * 0.05);
  expect(stats.typed).toBeGreaterThan(stats.cases * 0.3);
}, FUZZ_TIMEOUT_MS);
