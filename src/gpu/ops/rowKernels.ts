// Which kernel version the row reductions (cross-entropy, RMSNorm, LayerNorm, gradient norm) run:
//   1  a tree in workgroup memory (fragments/wg_sum.wgsl and the ops' own trees): any adapter
//   2  subgroupAdd / subgroupMax within subgroups, workgroup memory across them
//      (fragments/sg_sum.wgsl): needs the device's 'subgroups' feature
// Version 2 relies on how the driver lays subgroups out (consecutive invocations), which WGSL does
// not promise, so it is trusted only after it has matched the op's TS reference on a small problem
// on this very device, once per device, op and threads per row. One that fails is never used: the
// op falls back to version 1 and the choice records why (rowKernelChoices). The check runs on an
// encoder of its own (isolatedContext), so it neither submits nor reorders work the caller has
// recorded but not yet submitted. Both versions are deterministic on one adapter (fixed orders,
// no float atomics), and the choice is the same every time on one adapter, so training steps stay
// bit-identical across a resume.
import type { GpuContext } from '../device';
import { UniformArena } from '../uniforms';
import { compareArrays, type Tolerance } from '../../util/check';
import { releaseTensor, type Tensor } from '../tensor';

export type RowVersion = 1 | 2;

export const ROW_VERSIONS: Record<RowVersion, string> = {
  1: 'workgroup-memory tree (any adapter)',
  2: 'subgroupAdd/subgroupMax within subgroups, workgroup memory across (needs subgroups)',
};

export type RowOp = 'crossEntropy' | 'sumRows' | 'rmsnorm' | 'layernorm' | 'gradNorm';

/** How closely version 2 must match the f64 reference on the check problem (it catches wrong layouts, not ulps). */
export const ROW_CHECK_TOL: Tolerance = { atol: 1e-5, rtol: 1e-4 };

/** One output of a check problem: the kernel's values, the reference's, and (optionally) a scale for atol. */
export interface RowCheckOutput {
  what: string;
  got: ArrayLike<number>;
  ref: ArrayLike<number>;
  /** atol is multiplied by this (e.g. for gradients of O(1/count)); default 1 */
  atolScale?: number;
}

export interface RowCheckRun {
  /** the problem, e.g. '3x773' */
  shape: string;
  outputs: RowCheckOutput[];
  /** the check's tensors, released once it is done (after its values were read back) */
  tensors: Tensor[];
}

/** Runs version 2 of an op on a small problem at `wg` threads per row on `ctx` (an isolated context); it reads its outputs back. */
export type RowCheck = (ctx: GpuContext, wg: number) => Promise<RowCheckRun>;

export interface RowChoice {
  op: RowOp;
  wg: number;
  version: RowVersion;
  reason: string;
  /** the check's figures, when one ran */
  check?: { shape: string; maxAbsErr: number; mismatches: number; first: string[] };
}

const byDevice = new WeakMap<GPUDevice, Map<string, Promise<RowChoice>>>();
/** checks per device that could not run (out of memory); after MAX_CHECK_TRIES the version 1 answer is kept */
const retries = new WeakMap<GPUDevice, number>();
const MAX_CHECK_TRIES = 4;

function choicesOf(ctx: GpuContext): Map<string, Promise<RowChoice>> {
  let m = byDevice.get(ctx.device);
  if (!m) {
    m = new Map();
    byDevice.set(ctx.device, m);
  }
  return m;
}

export interface IsolatedContext extends GpuContext {
  /** validation errors of this context's submits so far (e.g. a buffer that ran out of memory) */
  submitErrors(): Promise<string[]>;
  close(): void;
}

/**
 * A context on the same device with its own encoder and uniform arena: its flushes submit only its
 * own work (the check's), never the caller's pending commands. Tensors come from ctx's allocator.
 * Each of its uploads and submits sits in its own validation error scope (pushed and popped around
 * the one call, so no other code's errors are caught): a failed one (e.g. into a buffer that ran
 * out of memory) is reported to the check, not to the page.
 */
export function isolatedContext(ctx: GpuContext): IsolatedContext {
  const real = ctx.device;
  const uniforms = new UniformArena(real, ctx.description.limits.minUniformBufferOffsetAlignment);
  let enc: GPUCommandEncoder | null = null;
  const errors: Promise<string | null>[] = [];
  const scoped = <T>(call: () => T): T => {
    real.pushErrorScope('validation');
    try {
      return call();
    } finally {
      errors.push(real.popErrorScope().then((e) => (e ? e.message.split('\n')[0] : null), (e: Error) => e.message));
    }
  };
  const queue = new Proxy(real.queue, {
    get(q, key) {
      if (key === 'writeBuffer') return (...a: Parameters<GPUQueue['writeBuffer']>) => scoped(() => q.writeBuffer(...a));
      const v = Reflect.get(q, key, q) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(q) : v;
    },
  });
  const device = new Proxy(real, {
    get(d, key) {
      if (key === 'queue') return queue;
      const v = Reflect.get(d, key, d) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(d) : v;
    },
  });
  const iso: IsolatedContext = {
    ...ctx,
    device,
    uniforms,
    mergePasses: false,
    encoder() {
      enc ??= real.createCommandEncoder({ label: 'row kernel check' });
      return enc;
    },
    computePass(label) {
      const pass = iso.encoder().beginComputePass({ label });
      ctx.counters.passes++;
      return { pass, shared: false };
    },
    flush() {
      scoped(() => {
        uniforms.upload();
        if (enc) real.queue.submit([enc.finish()]);
      });
      enc = null;
      uniforms.recycle();
    },
    destroy() {
      throw new Error('an isolated context does not own its device');
    },
    async submitErrors() {
      return (await Promise.all(errors)).filter((m): m is string => m !== null);
    },
    close() {
      uniforms.destroy();
    },
  };
  return iso;
}

/**
 * Runs `check` (version 2 of `op` at `wg` threads per row) on an isolated context, compares each
 * output with its reference within `tol`, and records the result as this device's choice for
 * (op, wg), replacing any earlier one.
 */
export async function validateRowVersion2(
  ctx: GpuContext,
  op: RowOp,
  wg: number,
  check: RowCheck,
  tol: Tolerance = ROW_CHECK_TOL,
): Promise<RowChoice> {
  const run = (async (): Promise<RowChoice> => {
    if (!ctx.description.features.subgroups) return { op, wg, version: 1, reason: "the device has no 'subgroups' feature" };
    let iso: IsolatedContext | null = null;
    try {
      iso = isolatedContext(ctx);
      const r = await check(iso, wg);
      const failed = [...(await iso.submitErrors()), ...r.tensors.filter((t) => !ctx.allocator.usable(t.buffer)).map((t) => `${t.label} ran out of memory`)];
      for (const t of r.tensors) releaseTensor(ctx, t);
      if (failed.length > 0) {
        // the check itself did not run (the step that needed it fails on the same lack of memory):
        // not a verdict on version 2, so nothing is recorded unless it keeps happening
        const tries = (retries.get(ctx.device) ?? 0) + 1;
        retries.set(ctx.device, tries);
        if (tries < MAX_CHECK_TRIES) choicesOf(ctx).delete(`${op}/${wg}`);
        return { op, wg, version: 1, reason: `version 2's check could not run (${failed.slice(0, 2).join('; ')}): version 1 is used${tries < MAX_CHECK_TRIES ? ' until it can' : ''}` };
      }
      let maxAbsErr = 0;
      let mismatches = 0;
      const first: string[] = [];
      for (const o of r.outputs) {
        const c = compareArrays(o.got, o.ref, { atol: tol.atol * (o.atolScale ?? 1), rtol: tol.rtol });
        maxAbsErr = Math.max(maxAbsErr, c.maxAbsErr);
        mismatches += c.mismatches;
        if (c.mismatches > 0) first.push(`${o.what}: ${c.mismatches} of ${o.ref.length} outside tolerance; ${c.first.slice(0, 3).join(';')}`);
      }
      const figures = { shape: r.shape, maxAbsErr, mismatches, first };
      if (mismatches > 0) {
        const reason = `version 2 failed its check on ${r.shape} (${first.join(' | ')}): version 1 is used`;
        console.warn(`${op} (wg ${wg}) on ${ctx.description.name}: ${reason}`);
        return { op, wg, version: 1, reason, check: figures };
      }
      return { op, wg, version: 2, reason: `version 2 matched the reference on ${r.shape} (max abs err ${maxAbsErr.toExponential(2)})`, check: figures };
    } catch (e) {
      const reason = `version 2 could not run its check: ${(e as Error).message}: version 1 is used`;
      console.warn(`${op} (wg ${wg}) on ${ctx.description.name}: ${reason}`);
      return { op, wg, version: 1, reason };
    } finally {
      iso?.close();
    }
  })();
  choicesOf(ctx).set(`${op}/${wg}`, run);
  return run;
}

/** This device's choice for (op, wg): the recorded one, else version 2's check is run now (once). */
export function rowChoice(ctx: GpuContext, op: RowOp, wg: number, check: RowCheck): Promise<RowChoice> {
  return choicesOf(ctx).get(`${op}/${wg}`) ?? validateRowVersion2(ctx, op, wg, check);
}

/**
 * The version `op` runs at `wg` threads per row: `requested` when given (2 needs subgroups), else
 * 2 when the device has subgroups and version 2 passed its check here (run once, on first use),
 * else 1. Throws, naming `caller`, when `wg` does not suit the version.
 */
export async function chooseRowVersion(
  caller: string,
  ctx: GpuContext,
  op: RowOp,
  wg: number,
  requested: RowVersion | undefined,
  check: RowCheck,
): Promise<RowVersion> {
  checkRowThreads(caller, ctx, wg, requested);
  let version: RowVersion;
  if (requested !== undefined) {
    if (requested !== 1 && requested !== 2) throw new Error(`${caller}: version must be 1 or 2, got ${String(requested)}`);
    if (requested === 2 && !ctx.description.features.subgroups) {
      throw new Error(`${caller}: version 2 needs the 'subgroups' feature, which this device lacks; use version 1 (or leave version unset)`);
    }
    version = requested;
  } else if (!ctx.description.features.subgroups) {
    version = 1;
    await rowChoice(ctx, op, wg, check); // recorded for rowKernelChoices (runs nothing)
  } else {
    version = (await rowChoice(ctx, op, wg, check)).version;
  }
  checkRowThreads(caller, ctx, wg, version);
  return version;
}

/** The choices made so far on this device (op, threads per row, version, why). */
export async function rowKernelChoices(ctx: GpuContext): Promise<RowChoice[]> {
  return Promise.all([...choicesOf(ctx).values()]);
}

/** The threads-per-row rule: 1 to the device's limit; version 1 also needs a power of two (version 2 takes any). */
export function checkRowThreads(caller: string, ctx: GpuContext, wg: number, version?: RowVersion): void {
  const max = ctx.description.limits.maxComputeInvocationsPerWorkgroup;
  if (!Number.isInteger(wg) || wg < 1 || wg > max) {
    throw new Error(`${caller}: wg ${wg} must be a whole number from 1 to this device's ${max} invocations per workgroup`);
  }
  if (version === 1 && (wg & (wg - 1)) !== 0) {
    throw new Error(`${caller}: wg ${wg} must be a power of two for version 1 (a tree in workgroup memory; version 2 takes any size)`);
  }
}
