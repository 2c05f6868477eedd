// Fuzzes writeSafetensors with random tensor lists (bad or duplicate names, unknown dtypes, shapes
// that are wrong, huge or not arrays, data of the wrong kind or length, views into larger buffers)
// and random metadata. Contract: SafetensorsError, or a file the reader accepts that holds exactly
// the given tensors and metadata, each tensor aligned to its element size.

import { expect, it } from 'vitest';
import { bufferSource } from '../io/byteSource';
import { DTYPE_BYTES, readSafetensorsHeader, readTensorBytes, SafetensorsError, writeSafetensors, type TensorToWrite } from '../io/safetensors';
import { fuzz, FUZZ_TIMEOUT_MS, type Rng, summary } from './harness';
import { KNOWN_BUGS } from './knownBugs';
import { capNesting, maxNesting, nestedArray, randomJson, randomNumber, randomString } from './mutate';

// any random value can end up in a shape: keep all nesting shallow while that bug is open
capNesting(KNOWN_BUGS.safetensorsShapeStackOverflow);

const ARRAYS = { F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, I32: Int32Array } as const;
type Writable = keyof typeof ARRAYS;
// "__proto__" is left out while the writer drops such a tensor from its header: see knownBugs.ts
const NAMES = [
  'model.embed_tokens.weight', 'lm_head.weight', 'a', '', '__metadata__', 'constructor', 'toString', '\u00e9\u{1F600}', 'a\uD800b', '"quoted"\\',
  ...(KNOWN_BUGS.safetensorsWriterProtoName ? [] : ['__proto__']),
];

function randomTensor(rng: Rng, prev: unknown[]): unknown {
  if (rng.chance(0.02)) return rng.pick<unknown>([null, undefined, 1, 'x', []]);
  const earlier = prev.filter((t): t is { name: unknown } => typeof t === 'object' && t !== null);
  let name: unknown = rng.chance(0.05) && earlier.length > 0 ? earlier[0].name : rng.chance(0.6) ? rng.pick(NAMES) : rng.chance(0.95) ? randomString(rng) : rng.pick([null, 1, ['a']]);
  if (KNOWN_BUGS.safetensorsWriterProtoName && name === '__proto__') name = 'proto';
  // deep values in shape or dtype overflow the stack in the writer's messages; ['F32'] passes as a dtype: see knownBugs.ts
  const deep = () => nestedArray(rng.int(2, maxNesting(rng)));
  const dtype: unknown = rng.chance(0.9) ? rng.pick(['F32', 'F16', 'BF16', 'I32']) : rng.pick<unknown>([...Object.keys(DTYPE_BYTES), 'f32', '', null, 'constructor', deep(), ...(KNOWN_BUGS.safetensorsWriterDtypeCoercion ? [] : [['F32']])]);
  let shape: unknown = Array.from({ length: rng.int(0, 3) }, () => rng.int(0, 4));
  if (rng.chance(0.1)) {
    shape = rng.pick<unknown>([
      [2 ** 40, 2 ** 40], [2 ** 53], [-1], [1.5], ['2'], [NaN], [null], 3, null, undefined, {}, [[2]], [0, 2 ** 60], deep(),
    ]);
  }
  const n = Array.isArray(shape) && shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0 && d < 64)
    ? (shape as number[]).reduce((a, b) => a * b, 1)
    : rng.int(0, 6);
  const len = Math.max(0, n + (rng.chance(0.08) ? rng.pick([-1, 1]) : 0));
  const Ctor = typeof dtype === 'string' && Object.hasOwn(ARRAYS, dtype) && rng.chance(0.93)
    ? ARRAYS[dtype as Writable]
    : rng.pick([Float32Array, Uint16Array, Int32Array, Float64Array, Uint8Array, Int16Array]);
  let data: unknown = new Ctor(len);
  const view = data as Float32Array;
  for (let i = 0; i < view.length; i++) view[i] = randomNumber(rng, true);
  if (rng.chance(0.2)) {
    // a view into a larger buffer: only the view's bytes may be written
    const big = new (Ctor as typeof Float32Array)(len + 5);
    big.set(view, 3);
    data = big.subarray(3, 3 + len);
  }
  if (rng.chance(0.02)) data = rng.pick<unknown>([null, [1, 2], 'x', {}]);
  return { name, dtype, shape, data };
}

function randomMetadata(rng: Rng): unknown {
  const r = rng.float();
  if (r < 0.4) return undefined;
  if (r < 0.8) {
    const m: Record<string, unknown> = {};
    for (let i = rng.int(0, 4); i > 0; i--) {
      Object.defineProperty(m, randomString(rng), { value: rng.chance(0.9) ? randomString(rng) : randomJson(rng, 1), enumerable: true, writable: true, configurable: true });
    }
    return m;
  }
  return rng.pick<unknown>([null, [], 'x', 1, { a: 1 }, { a: ['x'] }, { a: nestedArray(rng.int(2, maxNesting(rng))) }]);
}

type Input = { tensors: unknown; metadata: unknown };

function generate(rng: Rng): Input {
  if (rng.chance(0.01)) return { tensors: rng.pick<unknown>([null, {}, 'x', 1]), metadata: undefined };
  const tensors: unknown[] = [];
  for (let n = rng.int(0, 5); n > 0; n--) tensors.push(randomTensor(rng, tensors));
  return { tensors, metadata: randomMetadata(rng) };
}

async function run(input: Input): Promise<{ bytes: Uint8Array }> {
  const bytes = writeSafetensors(input.tensors as TensorToWrite[], input.metadata as Record<string, string> | undefined);
  return { bytes };
}

async function check({ bytes }: { bytes: Uint8Array }, input: Input): Promise<void> {
  // a file the writer made must read back; a SafetensorsError here is the writer's bug
  const src = bufferSource(bytes, 'written.safetensors');
  const h = await readSafetensorsHeader(src);
  expect(h.dataStart % 8).toBe(0);
  const tensors = input.tensors as TensorToWrite[];
  expect(h.tensors.length).toBe(tensors.length);
  for (const w of tensors) {
    const t = h.byName.get(w.name)!;
    expect(t, w.name).toBeDefined();
    expect([t.dtype, t.shape]).toEqual([w.dtype, [...w.shape]]);
    expect((t.begin - h.dataStart) % DTYPE_BYTES[t.dtype]).toBe(0);
    expect(await readTensorBytes(src, h, w.name)).toEqual(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
  }
  expect(h.metadata).toEqual(input.metadata === undefined ? null : { ...(input.metadata as object) });
}

it('writeSafetensors: random tensor lists end in SafetensorsError or a file that reads back exactly', async () => {
  const stats = await fuzz<Input, { bytes: Uint8Array }>({
    name: 'writeSafetensors',
    seed: 0x5a5e,
    cases: 20_000,
    generate,
    run,
    typedError: (e) => e instanceof SafetensorsError,
    checkError: (e) => expect((e as Error).message).toMatch(/^writeSafetensors: /),
    check,
  });
  console.log(summary(stats));
  expect(stats.cases).toBeGreaterThanOrEqual(20_000);
  expect(stats.ok).toBeGreaterThan(stats.cases * 0.1);
  expect(stats.typed).toBeGreaterThan(stats.cases * 0.3);
}, FUZZ_TIMEOUT_MS);
