// Kernel-tuning slice: which matmul kernels the engine has chosen for this GPU and the current
// job's shapes, and the progress of a tuning pass. Plain data; the engine does the timing.
import { create } from 'zustand';
import type { KernelTuningReport } from '../../workers/api';
import { engine, proxy } from '../engineClient';
import { engineErrorMessage } from '../lib/errors';
import { useJobStore } from './jobStore';

export interface TuningState {
  running: boolean;
  /** shape classes handled so far, of total, and the one being timed */
  progress: { done: number; total: number; what: string } | null;
  startedAt: number | null;
  report: KernelTuningReport | null;
  /** the job shape the report is for ("batch 4 × 256 tokens") */
  reportFor: string | null;
  error: string | null;
}

export const useTuningStore = create<TuningState>(() => ({
  running: false,
  progress: null,
  startedAt: null,
  report: null,
  reportFor: null,
  error: null,
}));

const set = useTuningStore.setState;

function jobShape(): string {
  const c = useJobStore.getState().config;
  return `batch ${c.batchSize} × ${c.seqLen} tokens${c.method === 'full' ? ', full fine-tuning' : ''}`;
}

/** Time the kernels for the loaded model and the current job (shapes tuned before are only looked up). */
export async function tuneKernels(): Promise<void> {
  if (useTuningStore.getState().running) return;
  const { config } = useJobStore.getState();
  const shape = jobShape();
  set({ running: true, progress: null, startedAt: Date.now(), error: null });
  try {
    const report = await engine().tuneKernels(
      config,
      proxy({
        onProgress(done: number, total: number, what: string) {
          set({ progress: { done, total, what } });
        },
      }),
    );
    set({ running: false, progress: null, report, reportFor: shape });
  } catch (e) {
    set({ running: false, progress: null, error: engineErrorMessage(e, 'tuneKernels', 'tune the kernels') });
  }
}

/** What is tuned already for the loaded model and the current job (nothing is timed). */
export async function refreshKernelTuning(): Promise<void> {
  if (useTuningStore.getState().running) return;
  const shape = jobShape();
  try {
    const report = await engine().kernelTuning(useJobStore.getState().config);
    if (!useTuningStore.getState().running) set({ report, reportFor: shape, error: null });
  } catch {
    // no model yet, or the GPU is away: nothing to show
    set({ report: null, reportFor: null });
  }
}
