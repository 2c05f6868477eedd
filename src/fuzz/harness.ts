// A tiny seeded fuzzing harness. Each case gets its own seed, mixed from the run's seed and the
// case index, so one failing case reproduces alone (FUZZ_SEED, FUZZ_CASE) without replaying the
// thousands before it. A case must end in a result that passes `check` or in an error the target
// declares typed; anything else (a TypeError from inside a parser, a stack overflow, a case slower
// than the budget, a heap that keeps growing) fails the run with the seeds that reproduce it.
//
// Hangs: an async case that never settles is caught by a timer, but a synchronous infinite loop
// blocks every timer in this thread. A watchdog worker therefore watches a shared counter the
// harness bumps per case; when it stops moving, the worker writes the seeds straight to fd 2 (the
// blocked thread cannot print) and kills the process, so the run ends with a reproducer instead of
// stalling until CI gives up.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';

// ---- PRNG ----

/** mulberry32: a 32-bit state PRNG, enough for fuzzing and cheap to seed per case. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Mixes two 32-bit values into a well-spread seed (murmur3's finalizer over a ^ rotated b). */
export function mixSeed(a: number, b: number): number {
  let h = (a ^ Math.imul(b ^ (b >>> 16), 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Rng {
  private readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    return this.next();
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 2 ** 32;
  }
  /** Uniform integer in [0, n), n >= 1 (n up to 2^53 works, with 32-bit granularity above 2^32). */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('Rng.pick: empty list');
    return xs[this.below(xs.length)];
  }
  /** Picks an index with probability proportional to its weight. */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((a, b) => a + b, 0);
    let r = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i];
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
  bytes(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
  /** A small size skewed toward 0 (most fuzz inputs should be tiny; some larger). */
  size(max: number): number {
    return Math.max(0, Math.min(max, Math.floor(max ** this.float()) - (this.chance(0.2) ? 1 : 0))) | 0;
  }
}

// ---- memory ----

let gcFn: (() => void) | null | undefined;

/** A real gc() when V8 lets us enable it at run time (Node does), else null. */
export function getGc(): (() => void) | null {
  if (gcFn === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  return gcFn;
}

/**
 * A full collection whose result heapBytes() can see: array buffers freed by one gc() are
 * released by their finalizers only after the current task, and a stream's last chunks may still
 * be referenced from a pending callback; a second gc() after a macrotask gets both.
 */
async function settleGarbage(gc: (() => void) | null | undefined): Promise<void> {
  if (!gc) return;
  gc();
  await new Promise((r) => setTimeout(r, 0));
  gc();
}

/** Bytes the JS heap and array buffers hold (what an unbounded allocation in a case would grow). */
export function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const MiB = 1024 * 1024;

// ---- watchdog ----

// Plain CommonJS for an eval worker. Slots: 0 tick, 1 case index, 2 case seed, 3 stop, 4 fired.
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { sab, hangMs, kill, label, seed } = workerData;
const st = new Int32Array(sab);
let last = -1;
let since = Date.now();
for (;;) {
  Atomics.wait(st, 3, 0, 100);
  if (Atomics.load(st, 3) !== 0) break;
  const tick = Atomics.load(st, 0);
  if (tick !== last) { last = tick; since = Date.now(); continue; }
  if (Date.now() - since > hangMs && Atomics.load(st, 4) === 0) {
    Atomics.store(st, 4, 1);
    const index = Atomics.load(st, 1);
    const caseSeed = Atomics.load(st, 2) >>> 0;
    writeSync(2, '\\nfuzz watchdog: ' + label + ' case #' + index + ' (run seed 0x' + seed.toString(16) +
      ', case seed 0x' + caseSeed.toString(16) + ') has blocked the thread for over ' + hangMs +
      ' ms: a hang. Reproduce: FUZZ_SEED=0x' + seed.toString(16) + ' FUZZ_CASE=' + index + '\\n');
    if (kill) process.kill(process.pid, 'SIGKILL');
  }
}
`;

export interface Watchdog {
  /** Call at the start of each case. */
  beat(index: number, caseSeed: number): void;
  /** True once the watchdog saw the thread blocked past its limit. */
  fired(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts a watchdog thread. `kill: false` only records and reports the hang (for testing the
 * watchdog itself); the harness kills, since a blocked thread never returns on its own.
 */
export function startWatchdog(label: string, seed: number, hangMs: number, kill: boolean): Watchdog {
  const sab = new SharedArrayBuffer(5 * 4);
  const st = new Int32Array(sab);
  const worker = new Worker(WATCHDOG_SOURCE, { eval: true, workerData: { sab, hangMs, kill, label, seed } });
  worker.unref();
  return {
    beat(index, caseSeed) {
      Atomics.store(st, 1, index);
      Atomics.store(st, 2, caseSeed | 0);
      Atomics.add(st, 0, 1);
    },
    fired: () => Atomics.load(st, 4) !== 0,
    async stop() {
      Atomics.store(st, 3, 1);
      Atomics.notify(st, 3);
      await worker.terminate();
    },
  };
}

// ---- the harness ----

export interface FuzzTarget<I, R> {
  /** Shown in failures. */
  name: string;
  /** Run seed; FUZZ_SEED (decimal or 0x hex) overrides it. */
  seed: number;
  /** At least this many cases; FUZZ_CASES overrides it. */
  cases: number;
  generate(rng: Rng, index: number): I;
  run(input: I): R | Promise<R>;
  /** Errors the module's contract allows (its own Error subclasses). */
  typedError(e: unknown): boolean;
  /** Invariants of a valid result (and of a typed error, via `checkError`); throw to fail the case. */
  check?(result: R, input: I, rng: Rng): void | Promise<void>;
  checkError?(e: unknown, input: I): void | Promise<void>;
  /** A short description of an input for failure messages (default: JSON-ish, truncated). */
  describe?(input: I): string;
  /**
   * Per-case time budget (default 2000 ms), in CPU time of this process during the case: on a
   * shared 2-core machine wall time swings with everyone else's load, CPU time does not. A case
   * that waits instead of working is caught by `hangMs` (wall time) and the watchdog.
   */
  maxCaseMs?: number;
  /** A case still running after this is a hang (default 10 s; the watchdog adds 5 s for sync hangs). */
  hangMs?: number;
  /** Cases between gc() + heap measurements (default 1000). */
  batch?: number;
  /** Heap growth allowed across the run, measured after gc() between batches (default 32 MiB). */
  maxRetainedMiB?: number;
  /** Heap + array buffers allowed above the batch's start right after one case (default 512 MiB). */
  maxCaseMiB?: number;
}

export interface FuzzStats {
  name: string;
  seed: number;
  cases: number;
  ok: number;
  typed: number;
  /** error name -> count, for typed errors (a quick look at what the fuzzer reached). */
  errors: Record<string, number>;
  /** CPU time of the most expensive case, and the longest wall time of any case. */
  slowestMs: number;
  slowestWallMs: number;
  slowestCase: number;
  /** Growth of the heap after gc() from before the first batch to the worst batch end. */
  retainedMiB: number;
  /** Worst heap + array-buffer growth seen right after a single case (no gc()). */
  peakCaseMiB: number;
  gc: boolean;
}

/** Thrown when a case breaks the contract; the message carries everything needed to rerun it. */
export class FuzzFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FuzzFailure';
  }
}

/**
 * Wall-clock limit for a whole fuzz test: thousands of cases can take minutes on a loaded shared
 * machine, which is not a failure (each case is still held to its CPU budget and hang limit).
 */
export const FUZZ_TIMEOUT_MS = 600_000;

export function envSeed(fallback: number): number {
  const raw = process.env.FUZZ_SEED;
  if (raw === undefined || raw === '') return fallback >>> 0;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`FUZZ_SEED=${raw} is not an integer (decimal or 0x hex).`);
  return n >>> 0;
}

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}=${raw} must be a non-negative integer.`);
  return n;
}

/** The seed of case `index` of a run seeded with `seed`. */
export function caseSeed(seed: number, index: number): number {
  return mixSeed(seed, index);
}

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}${e.stack ? `\n${e.stack.split('\n').slice(1, 6).join('\n')}` : ''}`;
  return `a thrown non-Error: ${String(e)}`;
}

function defaultDescribe(input: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(input, (_k, v: unknown) => {
      if (typeof v === 'bigint') return `${v}n`;
      if (typeof v === 'string' && v.length > 200) return `${v.slice(0, 60)}...(${v.length} chars)`;
      if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as Uint8Array).length})`;
      if (v && typeof v === 'object') {
        if (seen.has(v)) return '[circular]';
        seen.add(v);
      }
      return v;
    }) ?? String(input);
  } catch (e) {
    return `(cannot describe: ${(e as Error).message})`;
  }
}

function clip(s: string, n = 1500): string {
  return s.length <= n ? s : `${s.slice(0, n)}... (${s.length} chars)`;
}

const HANG = Symbol('hang');

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | typeof HANG> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<typeof HANG>((resolve) => {
    timer = setTimeout(() => resolve(HANG), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Runs `target.cases` cases (or the single case FUZZ_CASE) and returns statistics; throws a
 * FuzzFailure naming the run seed, case index, case seed and input of the first bad case.
 */
export async function fuzz<I, R>(target: FuzzTarget<I, R>): Promise<FuzzStats> {
  const seed = envSeed(target.seed);
  const only = envInt('FUZZ_CASE');
  const cases = envInt('FUZZ_CASES') ?? target.cases;
  const maxCaseMs = target.maxCaseMs ?? 2000;
  const hangMs = target.hangMs ?? 10_000;
  const batch = target.batch ?? 1000;
  const maxRetained = (target.maxRetainedMiB ?? 32) * MiB;
  const maxCase = (target.maxCaseMiB ?? 512) * MiB;
  const gc = getGc();
  const stats: FuzzStats = {
    name: target.name, seed, cases: 0, ok: 0, typed: 0, errors: {}, slowestMs: 0, slowestWallMs: 0, slowestCase: -1, retainedMiB: 0, peakCaseMiB: 0, gc: gc !== null,
  };
  const describe = target.describe ?? defaultDescribe;
  const where = (i: number, cs: number) =>
    `fuzz "${target.name}" case #${i} (run seed 0x${seed.toString(16)}, case seed 0x${cs.toString(16)}; ` +
    `reproduce with FUZZ_SEED=0x${seed.toString(16)} FUZZ_CASE=${i})`;
  const fail = (i: number, cs: number, input: I | undefined, problem: string, cause?: unknown): never => {
    const shown = input === undefined ? '(not generated)' : clip(describe(input));
    throw new FuzzFailure(`${where(i, cs)}: ${problem}\ninput: ${shown}`, { cause });
  };

  const dog = startWatchdog(`fuzz "${target.name}"`, seed, hangMs + 5000, true);
  await settleGarbage(gc);
  const base = heapBytes();
  let batchBase = base;
  try {
    const indices = only !== undefined ? [only] : Array.from({ length: cases }, (_, i) => i);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      const cs = caseSeed(seed, i);
      dog.beat(i, cs);
      const rng = new Rng(cs);
      let input: I | undefined;
      try {
        input = target.generate(rng, i);
      } catch (e) {
        fail(i, cs, undefined, `the generator threw (a harness bug): ${errorText(e)}`, e);
      }
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      let result: { ok: R } | { err: unknown } | undefined;
      try {
        const r = target.run(input!);
        if (r instanceof Promise) {
          const settled = await withTimeout(r, hangMs);
          if (settled === HANG) fail(i, cs, input, `did not settle within ${hangMs} ms (a hang)`);
          result = { ok: settled as R };
        } else {
          result = { ok: r };
        }
      } catch (e) {
        result = { err: e };
      }
      const cpu = process.cpuUsage(cpu0);
      const ms = (cpu.user + cpu.system) / 1000;
      stats.slowestWallMs = Math.max(stats.slowestWallMs, performance.now() - t0);
      if (ms > stats.slowestMs) {
        stats.slowestMs = ms;
        stats.slowestCase = i;
      }
      if (ms > maxCaseMs) fail(i, cs, input, `took ${ms.toFixed(0)} ms of CPU time, over the ${maxCaseMs} ms budget per case`);
      const grown = heapBytes() - batchBase;
      stats.peakCaseMiB = Math.max(stats.peakCaseMiB, grown / MiB);
      if (grown > maxCase) fail(i, cs, input, `heap + array buffers grew by ${(grown / MiB).toFixed(0)} MiB in one case (an unbounded allocation?)`);
      stats.cases++;
      if ('err' in result) {
        if (!target.typedError(result.err)) fail(i, cs, input, `threw an error outside the contract: ${errorText(result.err)}`, result.err);
        try {
          await target.checkError?.(result.err, input!);
        } catch (e) {
          fail(i, cs, input, `the typed error ${errorText(result.err)}\nbroke an invariant: ${errorText(e)}`, e);
        }
        stats.typed++;
        const n = (result.err as Error).name;
        stats.errors[n] = (stats.errors[n] ?? 0) + 1;
      } else {
        try {
          await target.check?.(result.ok, input!, rng);
        } catch (e) {
          fail(i, cs, input, `returned a result that breaks an invariant: ${errorText(e)}`, e);
        }
        stats.ok++;
      }
      if ((k + 1) % batch === 0 || k === indices.length - 1) {
        // the last case's input and result are not the module's to keep: drop them before measuring
        const last = clip(describe(input!));
        input = undefined;
        result = undefined;
        await settleGarbage(gc);
        const now = heapBytes();
        stats.retainedMiB = Math.max(stats.retainedMiB, (now - base) / MiB);
        // without gc() garbage inflates the number; only judge retention when it is exact
        if (gc && now - base > maxRetained) {
          throw new FuzzFailure(`${where(i, cs)}: heap after gc() is ${((now - base) / MiB).toFixed(1)} MiB above the start after ${k + 1} cases (a leak?)\nlast input: ${last}`);
        }
        batchBase = now;
      }
    }
  } finally {
    await dog.stop();
  }
  return stats;
}

/** One line for the test log. */
export function summary(s: FuzzStats): string {
  const errs = Object.entries(s.errors).map(([k, v]) => `${k} ${v}`).join(', ');
  return (
    `${s.name}: ${s.cases} cases (seed 0x${s.seed.toString(16)}): ${s.ok} valid, ${s.typed} typed errors (${errs || 'none'}); ` +
    `slowest ${s.slowestMs.toFixed(1)} ms CPU (#${s.slowestCase}), ${s.slowestWallMs.toFixed(0)} ms wall; retained ${s.retainedMiB.toFixed(1)} MiB${s.gc ? '' : ' (no gc)'}; ` +
    `peak per case ${s.peakCaseMiB.toFixed(1)} MiB`
  );
}
