import { afterEach, describe, expect, it, vi } from 'vitest';
import { caseSeed, fuzz, FuzzFailure, mulberry32, Rng, startWatchdog, type FuzzTarget } from './harness';
import { editRandomNode, jsonText, mutateBytes, mutateJson, nestedArray, randomJson } from './mutate';

afterEach(() => {
  vi.unstubAllEnvs();
});

/** The widely copied mulberry32 (Tommy Ettinger's), as the reference for ours. */
function referenceMulberry32(a: number): () => number {
  return () => {
    let t = (a += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function target(over: Partial<FuzzTarget<number, number>>): FuzzTarget<number, number> {
  return {
    name: 'test',
    seed: 7,
    cases: 200,
    generate: (rng) => rng.int(0, 999),
    run: (x) => x,
    typedError: (e) => e instanceof RangeError,
    ...over,
  };
}

describe('PRNG', () => {
  it('matches the reference mulberry32 for many seeds', () => {
    for (const seed of [0, 1, 42, 0xdeadbeef, 0xffffffff]) {
      const ours = mulberry32(seed);
      const ref = referenceMulberry32(seed);
      for (let i = 0; i < 1000; i++) expect(ours() / 2 ** 32).toBe(ref());
    }
  });

  it('draws integers in range, roughly uniformly', () => {
    const rng = new Rng(123);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const v = rng.int(3, 12);
      expect(v >= 3 && v <= 12 && Number.isInteger(v)).toBe(true);
      counts[v - 3]++;
    }
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    const w = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) w[rng.weighted([1, 0, 2])]++;
    expect(w[1]).toBe(0);
    expect(w[2] / w[0]).toBeGreaterThan(1.8);
    expect(w[2] / w[0]).toBeLessThan(2.2);
  });

  it('gives each case its own well-spread seed', () => {
    const seeds = new Set(Array.from({ length: 10_000 }, (_, i) => caseSeed(1, i)));
    expect(seeds.size).toBe(10_000);
    expect(caseSeed(1, 5)).not.toBe(caseSeed(2, 5));
  });
});

describe('fuzz()', () => {
  it('runs every case and counts valid results and typed errors', async () => {
    const s = await fuzz(target({ run: (x) => { if (x % 2) throw new RangeError('odd'); return x; } }));
    expect(s.cases).toBe(200);
    expect(s.ok + s.typed).toBe(200);
    expect(s.ok).toBeGreaterThan(50);
    expect(s.typed).toBeGreaterThan(50);
    expect(s.errors).toEqual({ RangeError: s.typed });
  });

  it('is deterministic for a seed and different across seeds', async () => {
    const seen = (seed: number) => {
      const xs: number[] = [];
      return fuzz(target({ seed, run: (x) => (xs.push(x), x) })).then(() => xs);
    };
    const a = await seen(5);
    expect(await seen(5)).toEqual(a);
    expect(await seen(6)).not.toEqual(a);
  });

  it('fails on an error outside the contract, naming seeds and input, and FUZZ_CASE replays it', async () => {
    const t = target({
      run: (x) => {
        if (x === 999 || x % 97 === 13) throw new TypeError(`boom ${x}`);
        return x;
      },
    });
    const err = await fuzz(t).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(FuzzFailure);
    const msg = (err as Error).message;
    expect(msg).toMatch(/case #\d+ \(run seed 0x7, case seed 0x[0-9a-f]+; reproduce with FUZZ_SEED=0x7 FUZZ_CASE=\d+\)/);
    expect(msg).toContain('TypeError: boom');
    const index = Number(/FUZZ_CASE=(\d+)/.exec(msg)![1]);
    const input = Number(/input: (\d+)/.exec(msg)![1]);
    vi.stubEnv('FUZZ_CASE', String(index));
    const replayed: number[] = [];
    await fuzz({ ...t, run: (x) => (replayed.push(x), x) });
    expect(replayed).toEqual([input]);
  });

  it('FUZZ_SEED overrides the seed', async () => {
    vi.stubEnv('FUZZ_SEED', '0x10');
    const s = await fuzz(target({ cases: 3 }));
    expect(s.seed).toBe(16);
  });

  it('fails a result that breaks an invariant', async () => {
    const t = target({ run: (x) => x * 2, check: (r, x) => expect(r).toBe(x + x + (x === 500 ? 1 : 0)), cases: 3000 });
    await expect(fuzz(t)).rejects.toThrow(/breaks an invariant/);
  });

  it('fails a case over the time budget', async () => {
    const t = target({
      maxCaseMs: 20,
      run: (x) => {
        if (x > 900) {
          const end = performance.now() + 40;
          while (performance.now() < end);
        }
        return x;
      },
    });
    await expect(fuzz(t)).rejects.toThrow(/ms of CPU time, over the 20 ms budget/);
  });

  it('fails an async case that never settles', async () => {
    const t = target({ cases: 5, hangMs: 100, run: (x) => (x >= 0 ? new Promise<number>(() => {}) : Promise.resolve(x)) });
    await expect(fuzz(t)).rejects.toThrow(/did not settle within 100 ms/);
  });

  it('fails when the heap keeps growing across batches', async () => {
    const kept: Float64Array[] = [];
    const t = target({ cases: 400, batch: 50, maxRetainedMiB: 8, run: (x) => (kept.push(new Float64Array(16_384)), x) });
    await expect(fuzz(t)).rejects.toThrow(/above the start|grew by/);
    expect(kept.length).toBeGreaterThan(0);
  });

  it('fails a single case that allocates without bound', async () => {
    let keep: Uint8Array | null = null;
    const t = target({ cases: 3, maxCaseMiB: 64, run: (x) => ((keep = new Uint8Array(128 * 1024 * 1024)), x) });
    await expect(fuzz(t)).rejects.toThrow(/grew by \d+ MiB in one case/);
    expect(keep).not.toBeNull();
  });
});

describe('watchdog', () => {
  it('reports a thread blocked past its limit, and stays quiet while cases advance', async () => {
    // generous limits: the machine is shared, and a loaded one delays timers and threads
    const quiet = startWatchdog('quiet', 1, 2000, false);
    for (let i = 0; i < 8; i++) {
      quiet.beat(i, i);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(quiet.fired()).toBe(false);
    await quiet.stop();

    const dog = startWatchdog('blocked', 1, 300, false);
    dog.beat(0, 0);
    await new Promise((r) => setTimeout(r, 150)); // let the worker start and see the first beat
    const end = Date.now() + 10_000;
    while (Date.now() < end && !dog.fired());
    expect(dog.fired()).toBe(true);
    await dog.stop();
  });
});

describe('mutators', () => {
  it('edit one node and copy only the path to it', () => {
    const rng = new Rng(3);
    const doc = { a: { b: [1, 2, 3] }, c: 'x' };
    const frozen = JSON.stringify(doc);
    let changed = 0;
    for (let i = 0; i < 500; i++) {
      const m = mutateJson(rng, doc);
      if (jsonText(m) !== frozen) changed++;
    }
    expect(JSON.stringify(doc)).toBe(frozen);
    expect(changed).toBeGreaterThan(400);
    const out = editRandomNode(new Rng(1), doc, () => 'new', 0) as typeof doc;
    expect(JSON.stringify(out)).not.toBe(frozen);
  });

  it('keep a "__proto__" key an own property', () => {
    const doc = JSON.parse('{"__proto__": {"x": 1}, "y": 2}') as object;
    const out = editRandomNode(new Rng(9), doc, (v) => v, 1) as object;
    expect(Object.keys(out)).toEqual(['__proto__', 'y']);
  });

  it('mutate bytes without touching the input, sometimes changing the length', () => {
    const rng = new Rng(11);
    const src = new Uint8Array(64).fill(7);
    const lengths = new Set<number>();
    for (let i = 0; i < 500; i++) lengths.add(mutateBytes(rng, src).length);
    expect(src.every((b) => b === 7)).toBe(true);
    expect(lengths.size).toBeGreaterThan(5);
  });

  it('write JSON text like JSON.stringify, at any depth', () => {
    const rng = new Rng(5);
    let compared = 0;
    for (let i = 0; i < 2000; i++) {
      const v = randomJson(rng, 4, true);
      let plain: string | undefined;
      try {
        plain = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x));
      } catch {
        continue; // nested too deep for JSON.stringify itself (when the deep-nesting bug flag is off)
      }
      if (plain === undefined) continue;
      expect(JSON.parse(jsonText(v))).toEqual(JSON.parse(plain)); // parsed: bigints print differently
      compared++;
    }
    expect(compared).toBeGreaterThan(1500);
    expect(jsonText({ a: [1, undefined, NaN], b: undefined, c: 'x"' })).toBe(JSON.stringify({ a: [1, undefined, NaN], b: undefined, c: 'x"' }));
    const deep = jsonText(nestedArray(100_000, {}));
    expect(deep.length).toBe(200_002);
    expect(deep.startsWith('[[[')).toBe(true);
  });

  it('build deep nesting without recursion', () => {
    let v = nestedArray(100_000);
    let depth = 0;
    while (Array.isArray(v)) {
      v = v[0];
      depth++;
    }
    expect(depth).toBe(100_000);
  });
});
