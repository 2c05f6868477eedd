// Method comparison slice: the rows the engine computed for the job as edited (trainable
// parameters, memory, measured step time), whether it is measuring, and what went wrong.
import { create } from 'zustand';
import type { MethodComparisonProgress, MethodComparisonRow } from '../../workers/api';
import type { TrainConfig } from '../../train/config';
import { engine, proxy } from '../engineClient';
import { engineErrorMessage } from '../lib/errors';

export interface MethodCompareState {
  rows: MethodComparisonRow[] | null;
  status: 'idle' | 'estimating' | 'measuring';
  progress: MethodComparisonProgress | null;
  /** the job shape the rows are for (batch × sequence), shown with them */
  shape: string | null;
  error: string | null;
}

export const useMethodCompareStore = create<MethodCompareState>(() => ({ rows: null, status: 'idle', progress: null, shape: null, error: null }));
const set = useMethodCompareStore.setState;
let seq = 0;

/** Estimates for every method (measure: also each one's step time on this GPU). */
export async function compareMethods(config: TrainConfig, measure: boolean): Promise<void> {
  const mine = ++seq;
  set({ status: measure ? 'measuring' : 'estimating', progress: null, error: null });
  try {
    const rows = await engine().compareMethods(
      config,
      measure,
      proxy((p: MethodComparisonProgress) => {
        if (mine === seq) set({ progress: p });
      }),
    );
    if (mine === seq) set({ rows, status: 'idle', progress: null, shape: `batch ${config.batchSize} × ${config.seqLen} tokens` });
  } catch (e) {
    if (mine === seq) set({ status: 'idle', progress: null, error: engineErrorMessage(e, 'compareMethods', measure ? 'measure the methods' : 'compare the methods') });
  }
}

/** A new model or job shape makes the rows stale. */
export function forgetComparison(): void {
  seq++;
  set({ rows: null, status: 'idle', progress: null, shape: null, error: null });
}
