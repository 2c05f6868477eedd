// Pure helpers for the Run panel: which runs can be resumed, and loss history as chart columns.
import type { LossPoint } from '../../train/checkpointStore';
import type { RunSummary } from '../../workers/api';

/**
 * The Web Lock an engine holds while it trains a run (withRunLock in src/workers/services/runs.ts): one
 * tab at a time trains a run, and the other tabs can see which runs are taken.
 */
export const RUN_LOCK_PREFIX = 'whetstone-run-';

/** Ids of the runs some engine (this tab's or another's) is training now, from navigator.locks.query(). */
export function lockedRunIds(snapshot: { held?: { name?: string }[] }): Set<string> {
  const ids = new Set<string>();
  for (const l of snapshot.held ?? []) if (l.name?.startsWith(RUN_LOCK_PREFIX)) ids.add(l.name.slice(RUN_LOCK_PREFIX.length));
  return ids;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * A run can continue when it was paused, when it was interrupted (still marked running but not
 * the run this tab is driving: the tab closed or crashed), or when it failed after a checkpoint
 * (e.g. a NaN rollback asks the user to lower the rate and resume). Not while another tab
 * trains it (`trainingElsewhere`): that tab holds it, and this one shows it read-only.
 */
export function isResumable(run: Pick<RunSummary, 'id' | 'status' | 'checkpointStep'>, liveRunId: string | null, trainingElsewhere: ReadonlySet<string> = NONE): boolean {
  if (run.id === liveRunId || trainingElsewhere.has(run.id)) return false;
  if (run.status === 'paused') return true;
  if (run.status === 'running') return true;
  return run.status === 'failed' && run.checkpointStep > 0;
}

/** Words for a run's status as listed. */
export function runStatusText(run: Pick<RunSummary, 'id' | 'status'>, liveRunId: string | null, trainingElsewhere: ReadonlySet<string> = NONE): string {
  if (run.id !== liveRunId && trainingElsewhere.has(run.id)) return 'training in another tab';
  if (run.status === 'running' && run.id !== liveRunId) return 'interrupted';
  return run.status;
}

export interface HistoryColumns {
  step: number[];
  loss: (number | null)[];
  valLoss: (number | null)[];
  lr: (number | null)[];
  gradNorm: (number | null)[];
  tokensPerSecond: (number | null)[];
}

const finite = (v: number | undefined): number | null => (v !== undefined && Number.isFinite(v) ? v : null);

/**
 * Chart columns from loss points: one row per step in increasing order. A step that appears
 * twice (a resumed run repeats the steps after its last checkpoint) keeps its latest value;
 * NaN/Inf become gaps rather than breaking the axis range.
 */
export function historyColumns(history: readonly LossPoint[]): HistoryColumns {
  const byStep = new Map<number, LossPoint>();
  for (const p of history) byStep.set(p.step, p);
  const steps = [...byStep.keys()].sort((a, b) => a - b);
  const cols: HistoryColumns = { step: steps, loss: [], valLoss: [], lr: [], gradNorm: [], tokensPerSecond: [] };
  for (const s of steps) {
    const p = byStep.get(s)!;
    cols.loss.push(finite(p.loss));
    cols.valLoss.push(finite(p.valLoss));
    cols.lr.push(finite(p.lr));
    cols.gradNorm.push(finite(p.gradNorm));
    cols.tokensPerSecond.push(finite(p.tokensPerSecond));
  }
  return cols;
}

/** The last finite value of a column (for the text beside a chart). */
export function lastValue(col: readonly (number | null)[]): number | null {
  for (let i = col.length - 1; i >= 0; i--) if (col[i] !== null) return col[i];
  return null;
}

/** Points of an SVG polyline for a small curve in the runs list (x 0..w, y 0..h, lower loss lower). */
export function sparklinePoints(values: readonly (number | null)[], w: number, h: number): string {
  const pts = values.map((v, i) => [i, v] as const).filter((p): p is readonly [number, number] => p[1] !== null);
  if (pts.length < 2) return '';
  let lo = Infinity;
  let hi = -Infinity;
  for (const [, v] of pts) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const span = hi - lo || 1;
  const last = values.length - 1 || 1;
  return pts.map(([i, v]) => `${((i / last) * w).toFixed(1)},${(h - ((v - lo) / span) * h).toFixed(1)}`).join(' ');
}
