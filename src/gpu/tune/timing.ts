// Timing GPU work: wall clock around submit + onSubmittedWorkDone, and GPU timestamps when the
// device has 'timestamp-query'. Used by the autotuner and the kernel benchmark.
//
// Wall time includes a submit/complete round trip (~2.5 ms on the software adapter), so short work
// is repeated `inner` times per submit. Timestamps bracket the recorded passes with two empty
// compute passes (end-of-pass of the first, beginning-of-pass of the second), so they measure the
// work alone; browsers may quantise them (Chromium: 100 µs), which is why the work is still
// repeated until a rep lasts a few milliseconds. Timestamps that look wrong (zero, negative, or
// longer than the wall time around them) are ignored in favour of wall time.
import type { GpuContext } from '../device';

export interface TimingOptions {
  /** untimed runs first (pipeline compilation happens in the first) */
  warmup?: number;
  /** timed reps; each rep is one submit */
  reps?: number;
  /** repeat the work inside one submit until a rep is at least this long (estimated from warm-up) */
  minRepMs?: number;
  /** stop after this much total timed time even if reps remain (at least one rep always runs) */
  maxTotalMs?: number;
  /** use timestamp queries when the device has them (default true) */
  timestamps?: boolean;
  /** skip the timed reps when the last warm-up run (submit round trip included) took longer than this (ms) */
  giveUpAboveMs?: number;
}

export interface Timing {
  /** milliseconds per single run of the work, one entry per rep */
  samples: number[];
  /** the median of samples */
  ms: number;
  /** the smallest sample */
  best: number;
  method: 'timestamp' | 'wall';
  /** runs of the work per rep */
  inner: number;
  /** true when only the warm-up was timed (giveUpAboveMs) */
  gaveUp: boolean;
  /** how many times the work ran in all, warm-up included (for CPU-time accounting) */
  runs: number;
  /** wall time of the last warm-up run, submit round trip included (what giveUpAboveMs is compared with) */
  warmupMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

async function submitAndWait(ctx: GpuContext): Promise<void> {
  ctx.flush();
  await ctx.device.queue.onSubmittedWorkDone();
}

/**
 * Times `record`, which must record the work into ctx.encoder() (as every op does) without
 * submitting. Returns milliseconds per run of the work.
 */
export async function timeGpu(ctx: GpuContext, record: () => Promise<unknown>, opts: TimingOptions = {}): Promise<Timing> {
  const warmup = Math.max(1, opts.warmup ?? 1);
  const reps = Math.max(1, opts.reps ?? 3);
  const minRepMs = opts.minRepMs ?? 20;
  const maxTotalMs = opts.maxTotalMs ?? Infinity;

  // Warm-up: the first run compiles pipelines; the last one estimates the cost of one run.
  let estimate = 0;
  for (let i = 0; i < warmup; i++) {
    const t0 = performance.now();
    await record();
    await submitAndWait(ctx);
    estimate = performance.now() - t0;
  }
  if (opts.giveUpAboveMs !== undefined && estimate > opts.giveUpAboveMs) {
    return { samples: [estimate], ms: estimate, best: estimate, method: 'wall', inner: 1, gaveUp: true, runs: warmup, warmupMs: estimate };
  }
  const inner = Math.max(1, Math.min(256, Math.ceil(minRepMs / Math.max(estimate, 0.05))));

  const useTs = (opts.timestamps ?? true) && ctx.device.features.has('timestamp-query');
  const querySet = useTs ? ctx.device.createQuerySet({ type: 'timestamp', count: 2 * reps, label: 'timing' }) : null;
  const wall: number[] = [];
  let total = 0;
  for (let r = 0; r < reps; r++) {
    if (r > 0 && total >= maxTotalMs) break;
    const t0 = performance.now();
    if (querySet) ctx.encoder().beginComputePass({ timestampWrites: { querySet, endOfPassWriteIndex: 2 * r } }).end();
    for (let i = 0; i < inner; i++) await record();
    if (querySet) ctx.encoder().beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * r + 1 } }).end();
    await submitAndWait(ctx);
    const dt = performance.now() - t0;
    total += dt;
    wall.push(dt / inner);
  }

  let samples = wall;
  let method: Timing['method'] = 'wall';
  if (querySet) {
    const n = wall.length;
    const resolve = ctx.device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'timing resolve' });
    const read = ctx.device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'timing read' });
    const enc = ctx.encoder();
    enc.resolveQuerySet(querySet, 0, 2 * n, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * n);
    ctx.flush();
    await read.mapAsync(GPUMapMode.READ);
    const ns = new BigInt64Array(read.getMappedRange().slice(0));
    read.unmap();
    for (const b of [resolve, read]) b.destroy();
    const ts = wall.map((_, r) => Number(ns[2 * r + 1] - ns[2 * r]) / 1e6 / inner);
    // Trust timestamps only if every one is positive and within the wall time that contains it.
    if (ts.every((t, r) => Number.isFinite(t) && t > 0 && t <= wall[r] * 1.05)) {
      samples = ts;
      method = 'timestamp';
    }
  }
  querySet?.destroy();
  return { samples, ms: median(samples), best: Math.min(...samples), method, inner, gaveUp: false, runs: warmup + wall.length * inner, warmupMs: estimate };
}
