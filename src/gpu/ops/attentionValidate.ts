// Trust before use: attention version 2 (FlashAttention-2 tiling) runs in training only after it
// has computed a small problem right on this very device, per head dim (each head dim compiles
// its own pipelines with its own tiles). The problem covers what the tiles could get wrong: two
// query blocks and several key tiles with a ragged last one, GQA, packed documents, a sliding
// window smaller than a tile, and (above 128 dims) rows split over two threads. Forward out and
// lse and backward dq, dk, dv are compared with the f64 TS reference (attention.ref.ts). A head
// dim whose check fails (or throws) gets version 1 from then on, on this device.
// The result is kept per GPUDevice (a new device checks again) in memory only: the check costs a
// few small dispatches, and a stored verdict could outlive a driver update.
import type { GpuContext } from '../device';
import { compareArrays, type CheckReport } from '../../util/check';
import { randn } from '../../util/random';
import { releaseTensor, uploadF32, uploadI32, type Tensor } from '../tensor';
import { attentionBackwardRef, attentionForwardRef, type AttentionRefConfig } from './attention.ref';
import { FA2_ROWS } from './attentionFa2';

/** Looser than the op tests (other adapters' exp/log differ in the last bits), far below any real bug. */
export const FA2_CHECK_TOL = { atol: 1e-4, rtol: 1e-3 };

export interface AttentionCheckProblem {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  window: number | null;
  docIds?: number[];
}

export interface AttentionCheckInputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  dout: Tensor;
  docIds?: Tensor;
}

/** Runs one version's forward and backward on the inputs and downloads the results. */
export type AttentionRunner = (
  ctx: GpuContext,
  p: AttentionCheckProblem,
  t: AttentionCheckInputs,
) => Promise<{ out: Float32Array; lse: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array }>;

export interface AttentionCheckReport {
  D: number;
  passed: boolean;
  /** one line per failing tensor (first mismatches), or the error the run threw */
  failures: string[];
}

/** The check problems for head dim D: ragged tiles, two query blocks, GQA, documents, a small window. */
export function checkProblems(D: number): AttentionCheckProblem[] {
  const T = FA2_ROWS + 5;
  const docs = (B: number) => Array.from({ length: B * T }, (_, i) => (i % T < 11 ? 3 * Math.floor(i / T) : 3 * Math.floor(i / T) + 1));
  return [
    { B: 2, T, Hq: 4, Hkv: 2, D, window: null, docIds: docs(2) },
    { B: 1, T, Hq: 2, Hkv: 1, D, window: 5 },
  ];
}

function describeMismatch(name: string, r: CheckReport & { first: string[] }): string {
  return `${name}: ${r.mismatches} mismatches (max abs err ${r.maxAbsErr.toExponential(2)}), first:\n${r.first.join('\n')}`;
}

/** Runs the check of head dim D through `run`; never throws (an error is a failure). */
export async function checkAttentionVersion(ctx: GpuContext, D: number, run: AttentionRunner): Promise<AttentionCheckReport> {
  const failures: string[] = [];
  // what the caller recorded so far goes first: the check writes buffers with queue.writeBuffer
  ctx.flush();
  for (const [n, p] of checkProblems(D).entries()) {
    const made: Tensor[] = [];
    try {
      const { B, T, Hq, Hkv } = p;
      const x = {
        q: randn(B * T * Hq * D, 101 + n),
        k: randn(B * T * Hkv * D, 102 + n),
        v: randn(B * T * Hkv * D, 103 + n),
        dout: randn(B * T * Hq * D, 104 + n),
      };
      const t: AttentionCheckInputs = {
        q: uploadF32(ctx, x.q, [B, T, Hq, D], 'attention check q'),
        k: uploadF32(ctx, x.k, [B, T, Hkv, D], 'attention check k'),
        v: uploadF32(ctx, x.v, [B, T, Hkv, D], 'attention check v'),
        dout: uploadF32(ctx, x.dout, [B, T, Hq, D], 'attention check dout'),
        docIds: p.docIds ? uploadI32(ctx, p.docIds, [B * T], 'attention check docIds') : undefined,
      };
      made.push(t.q, t.k, t.v, t.dout, ...(t.docIds ? [t.docIds] : []));
      const got = await run(ctx, p, t);
      const cfg: AttentionRefConfig = { B, T, Hq, Hkv, D, window: p.window, docIds: p.docIds };
      const f = attentionForwardRef(x.q, x.k, x.v, cfg);
      const g = attentionBackwardRef(x.q, x.k, x.v, x.dout, cfg);
      const pairs: [string, Float32Array, Float64Array][] = [
        ['out', got.out, f.out],
        ['lse', got.lse, f.lse],
        ['dq', got.dq, g.dq],
        ['dk', got.dk, g.dk],
        ['dv', got.dv, g.dv],
      ];
      for (const [name, a, want] of pairs) {
        const r = compareArrays(a, want, FA2_CHECK_TOL);
        if (r.mismatches > 0) failures.push(`problem ${n} (B${B} T${T} Hq${Hq} Hkv${Hkv} D${D}): ${describeMismatch(name, r)}`);
      }
    } catch (e) {
      failures.push(`problem ${n}: ${(e as Error).message}`);
    } finally {
      ctx.flush();
      await ctx.device.queue.onSubmittedWorkDone();
      for (const t of made) releaseTensor(ctx, t);
    }
  }
  return { D, passed: failures.length === 0, failures };
}

interface Verdict {
  check: Promise<AttentionCheckReport>;
  /** set once the check has finished */
  report?: AttentionCheckReport;
}

const verdicts = new WeakMap<GPUDevice, Map<string, Verdict>>();

/**
 * The check report of head dim D on this device: the remembered one, or a check run now through
 * `run` (once per device, version (2 or 3) and head dim, however many callers wait for it).
 */
export function attentionCheckFor(ctx: GpuContext, D: number, run: AttentionRunner, version = 2): Promise<AttentionCheckReport> {
  let m = verdicts.get(ctx.device);
  if (!m) verdicts.set(ctx.device, (m = new Map()));
  let v = m.get(`v${version} D${D}`);
  if (!v) {
    const verdict: Verdict = { check: checkAttentionVersion(ctx, D, run) };
    verdict.check.then((r) => (verdict.report = r));
    m.set(`v${version} D${D}`, (v = verdict));
  }
  return v.check;
}

/** The finished check of head dim D on this device (undefined: never run, or still running). */
export function finishedAttentionCheck(ctx: GpuContext, D: number, version = 2): AttentionCheckReport | undefined {
  return verdicts.get(ctx.device)?.get(`v${version} D${D}`)?.report;
}

/** Forget every verdict for this device (tests; a later call checks again). */
export function forgetAttentionChecks(ctx: GpuContext): void {
  verdicts.delete(ctx.device);
}
