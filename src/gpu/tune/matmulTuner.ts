// The matmul autotuner: for a shape class, time every legal variant on this adapter, keep the
// fastest. Each variant is first validated on this device against the TS reference on a small
// problem of the same class (ops/matmulTrust.ts, the same check and cache the ops use before a
// variant's first use): one that computes garbage on some driver, e.g. because its quads are not
// laid out as assumed, is rejected, never timed, never chosen, and illegal on this device from then
// on. The winner is remembered in memory (the ops look it up synchronously: registry.ts) and
// persisted in a TuneStore under adapter name + shape class, so a later session on the same
// adapter loads it without timing anything (after validating it on that session's device).
import type { GpuContext } from '../device';
import { roundToF16 } from '../../util/f16';
import { matmulDyTX, matmulDyW, matmulXWt, validateMatmulVariant } from '../ops/matmul';
import { defaultVariant, illegalReason, legalVariants, MATMUL_FAMILY_VARIANTS, type MatmulOptions, type WDtype } from '../ops/matmulVariants';
import { isQuantWDtype, quantizeForClass, uploadQuant } from '../ops/quantWeights';
import { dequantizeMatrix } from '../../util/quant';
import { randn } from '../../util/random';
import { emptyTensor, releaseTensor, uploadF16, uploadF32, type Tensor } from '../tensor';
import { problemOf, rememberTuned, shapeClassKey, tunedVariant, type MatmulShapeClass } from '../ops/matmulRegistry';
import { MemoryTuneStore, type TuneStore } from './store';
import { timeGpu, type Timing } from './timing';

/** Bump when kernels change enough that persisted winners should be measured again. */
export const TUNE_SCHEMA = 1;

export interface VariantTiming {
  variant: string;
  /** median ms per run; null when rejected */
  ms: number | null;
  gflops: number | null;
  method?: Timing['method'];
  /** only the warm-up was timed: it was already far slower than the best so far */
  gaveUp?: boolean;
  /** measured on the smaller probe problem only (it was not among the finalists) */
  probe?: boolean;
  /** why it was not timed (wrong result) */
  rejected?: string;
}

export interface TuneRecord {
  schema: number;
  adapter: string;
  shapeClass: string;
  /** the problem actually timed */
  measured: { op: string; m: number; n: number; k: number; wDtype: string };
  winner: string;
  timings: VariantTiming[];
  date: string;
}

export interface TuneResult {
  key: string;
  winner: string;
  /** per-variant timings (empty when the winner came from memory or the store) */
  timings: VariantTiming[];
  source: 'memory' | 'store' | 'measured';
  record?: TuneRecord;
}

export interface TuneOptions {
  /** persistence; default: a process-wide in-memory store */
  store?: TuneStore;
  /** measure even when a winner is known */
  force?: boolean;
  /** only these variants (those illegal here are skipped) */
  candidates?: string[];
  warmup?: number;
  reps?: number;
  /** a variant whose warm-up run is this many times slower than the best so far is not timed further */
  giveUpFactor?: number;
  /**
   * Problems above this many FLOPs are first timed at 1/8 of their reduction or row count (the
   * probe); only the fastest few (finalists) are then timed at full size. Default 2e8.
   */
  probeAboveFlops?: number;
  /** how many probe winners are timed at full size (default 3) */
  finalists?: number;
  onProgress?: (line: string) => void;
}

/** The store tuneMatmul uses when none is passed (the engine passes IndexedDB's: idbStore.ts). */
const defaultStore: TuneStore = new MemoryTuneStore();

export function tuneStoreKey(ctx: GpuContext, shapeKey: string): string {
  return `matmul-tune/v${TUNE_SCHEMA}/${ctx.description.name}/${shapeKey}`;
}

export function matmulFlops(s: MatmulShapeClass): number {
  return 2 * s.m * s.n * s.k * (s.batch ?? 1);
}

interface Inputs {
  a: Tensor;
  b: Tensor;
  out: Tensor;
}

function wDtypeOf(s: MatmulShapeClass): WDtype {
  return s.op === 'dytx' ? 'f32' : (s.wDtype ?? 'f16');
}

/** Random inputs for one problem; b is W (xwt, dyw) or x (dytx). */
function makeInputs(ctx: GpuContext, s: MatmulShapeClass, seed: number): Inputs & { av: Float32Array; bv: Float32Array } {
  const { op, m, n, k } = s;
  const [aShape, bShape, outShape] =
    op === 'xwt' ? [[m, k], [n, k], [m, n]] : op === 'dyw' ? [[m, n], [n, k], [m, k]] : [[m, n], [m, k], [n, k]];
  const av = randn(aShape[0] * aShape[1], seed);
  let bv = randn(bShape[0] * bShape[1], seed + 1, 0.5);
  const a = uploadF32(ctx, av, aShape, 'tune a');
  let b: Tensor;
  const wDtype = wDtypeOf(s);
  if (isQuantWDtype(wDtype) && op !== 'dytx') {
    // a quantized base weight of that class (the kernels dequantize it in their loads)
    const q = quantizeForClass(wDtype, bv, bShape[0], bShape[1]);
    b = uploadQuant(ctx, q, 'tune W');
    bv = dequantizeMatrix(q);
  } else if (wDtype === 'f16' && op !== 'dytx') {
    b = uploadF16(ctx, bv, bShape, 'tune W');
    bv = Float32Array.from(bv, roundToF16);
  } else {
    b = uploadF32(ctx, bv, bShape, 'tune b');
  }
  return { a, b, out: emptyTensor(ctx, 'f32', outShape, 'tune out'), av, bv };
}

function runOp(ctx: GpuContext, s: MatmulShapeClass, t: Inputs, variant: string): Promise<Tensor> {
  const opts: MatmulOptions = { variant, out: t.out };
  if (s.op === 'xwt') return matmulXWt(ctx, t.a, t.b, null, opts);
  if (s.op === 'dyw') return matmulDyW(ctx, t.a, t.b, opts);
  return matmulDyTX(ctx, t.a, t.b, opts);
}

/** 1/8 of the output rows (xwt, dyw) or of the reduction (dytx), at least 64. */
function probeShape(s: MatmulShapeClass): MatmulShapeClass {
  return { ...s, m: Math.min(s.m, Math.max(64, Math.ceil(s.m / 8))), batch: 1 };
}

function isRecord(v: unknown): v is TuneRecord {
  const r = v as TuneRecord;
  return !!r && typeof r === 'object' && r.schema === TUNE_SCHEMA && typeof r.winner === 'string';
}

/**
 * The winner already known for `shapeClass` on this adapter (in memory, or stored by an earlier
 * session, which is then remembered for the ops), without timing anything; null when untuned.
 */
export async function knownWinner(ctx: GpuContext, shapeClass: MatmulShapeClass, store: TuneStore = defaultStore): Promise<TuneRecord | string | null> {
  const s: MatmulShapeClass = { ...shapeClass, batch: 1, wDtype: wDtypeOf(shapeClass) };
  return (await storedWinner(ctx, s, store)) ?? rememberedWinner(ctx, s);
}

/** The winner remembered in memory for this device, if still legal here. */
function rememberedWinner(ctx: GpuContext, s: MatmulShapeClass): string | null {
  const known = tunedVariant(ctx, shapeClassKey(s));
  return known && illegalReason(ctx, known, problemOf(s)) === null ? known : null;
}

/**
 * The record an earlier session stored for this adapter and shape class, if its winner is legal
 * here and passes validation on this device; remembered for the ops.
 */
async function storedWinner(ctx: GpuContext, s: MatmulShapeClass, store: TuneStore): Promise<TuneRecord | null> {
  const key = shapeClassKey(s);
  const saved = await store.get(tuneStoreKey(ctx, key));
  if (!isRecord(saved) || !(saved.winner in MATMUL_FAMILY_VARIANTS) || illegalReason(ctx, saved.winner, problemOf(s)) !== null) return null;
  if ((await validateMatmulVariant(ctx, s, saved.winner)) !== null) return null;
  rememberTuned(ctx, key, saved.winner);
  return saved;
}

/**
 * The fastest legal variant for `shapeClass` on this device. Returns at once when it is known (in
 * memory, or in the store from an earlier session) unless `force`. Times the problem given by the
 * shape class's own m, n, k; the result serves every problem of its class (shapeClassKey).
 */
export async function tuneMatmul(ctx: GpuContext, shapeClass: MatmulShapeClass, opts: TuneOptions = {}): Promise<TuneResult> {
  const s: MatmulShapeClass = { ...shapeClass, batch: 1, wDtype: wDtypeOf(shapeClass) };
  const key = shapeClassKey(s);
  const store = opts.store ?? defaultStore;
  const storeKey = tuneStoreKey(ctx, key);
  const problem = problemOf(s);
  const say = opts.onProgress ?? (() => {});

  if (!opts.force) {
    const known = rememberedWinner(ctx, s);
    if (known) return { key, winner: known, timings: [], source: 'memory' };
    const saved = await storedWinner(ctx, s, store);
    if (saved) return { key, winner: saved.winner, timings: [], source: 'store', record: saved };
  }

  // Candidates, the untuned default first (a good early bar for giving up on slow ones).
  const legal = legalVariants(ctx, problem).filter((v) => !opts.candidates || opts.candidates.includes(v));
  if (legal.length === 0) throw new Error(`tuneMatmul: no legal variant for ${key} among ${opts.candidates?.join(', ')}`);
  const first = defaultVariant(ctx, problem);
  const order = legal.includes(first) ? [first, ...legal.filter((v) => v !== first)] : legal;

  // Validate every candidate on this device (this also compiles its pipeline before timing).
  const timings: VariantTiming[] = [];
  const ok: string[] = [];
  for (const variant of order) {
    const why = await validateMatmulVariant(ctx, s, variant);
    if (why !== null) {
      timings.push({ variant, ms: null, gflops: null, rejected: why });
      say(`  ${variant}: rejected, ${why}`);
    } else {
      ok.push(variant);
    }
  }
  if (ok.length === 0) throw new Error(`tuneMatmul: every variant computed wrong results for ${key} on ${ctx.description.name}`);

  // Probe: the same problem with 1/8 of the rows (xwt, dyw) or of the reduction (dytx), so that
  // slow variants cost little; the fastest few are then timed on the real problem.
  let finalists = ok;
  if (matmulFlops(s) > (opts.probeAboveFlops ?? 2e8) && ok.length > (opts.finalists ?? 3)) {
    const ps = probeShape(s);
    const probe = makeInputs(ctx, ps, 13);
    const probed: { variant: string; ms: number }[] = [];
    let bestWarmup = Infinity;
    for (const variant of ok) {
      const t = await timeGpu(ctx, () => runOp(ctx, ps, probe, variant), {
        warmup: 1,
        reps: 1,
        giveUpAboveMs: bestWarmup * (opts.giveUpFactor ?? 4),
      });
      bestWarmup = Math.min(bestWarmup, t.warmupMs);
      probed.push({ variant, ms: t.ms });
    }
    for (const t of [probe.a, probe.b, probe.out]) releaseTensor(ctx, t);
    probed.sort((a, b) => a.ms - b.ms);
    finalists = probed.slice(0, opts.finalists ?? 3).map((p) => p.variant);
    const pf = matmulFlops(ps);
    for (const p of probed.slice(opts.finalists ?? 3)) {
      timings.push({ variant: p.variant, ms: p.ms * (matmulFlops(s) / pf), gflops: pf / p.ms / 1e6, probe: true });
      say(`  ${p.variant}: ${(pf / p.ms / 1e6).toFixed(2)} GFLOP/s on the probe ${ps.m}x${ps.n}x${ps.k} (not a finalist)`);
    }
  }

  const big = makeInputs(ctx, s, 11);
  const flops = matmulFlops(s);
  // Give up on a variant whose warm-up is far slower than the best warm-up so far (both include
  // the submit round trip, so tiny problems, where that dominates, are never given up on wrongly).
  let bestWarmup = Infinity;
  for (const variant of finalists) {
    const t = await timeGpu(ctx, () => runOp(ctx, s, big, variant), {
      warmup: opts.warmup ?? 1,
      reps: opts.reps ?? 3,
      giveUpAboveMs: bestWarmup * (opts.giveUpFactor ?? 4),
    });
    bestWarmup = Math.min(bestWarmup, t.warmupMs);
    const gflops = flops / t.ms / 1e6;
    timings.push({ variant, ms: t.ms, gflops, method: t.method, gaveUp: t.gaveUp || undefined });
    say(`  ${variant}: ${t.ms.toFixed(2)} ms, ${gflops.toFixed(2)} GFLOP/s${t.gaveUp ? ' (warm-up only: far behind)' : ''}`);
  }
  for (const t of [big.a, big.b, big.out]) releaseTensor(ctx, t);

  const timed = timings.filter((t) => t.ms !== null && !t.probe) as (VariantTiming & { ms: number })[];
  const winner = timed.reduce((a, b) => (b.ms < a.ms ? b : a)).variant;
  rememberTuned(ctx, key, winner);
  const record: TuneRecord = {
    schema: TUNE_SCHEMA,
    adapter: ctx.description.name,
    shapeClass: key,
    measured: { op: s.op, m: s.m, n: s.n, k: s.k, wDtype: wDtypeOf(s) },
    winner,
    timings,
    date: new Date().toISOString(),
  };
  await store.set(storeKey, record);
  return { key, winner, timings, source: 'measured', record };
}
