// Links between slices that no single action owns: when the job's sequence length, validation
// share or seed change, the dataset is read again (debounced) so its statistics match the job;
// when a new model is loaded, the dataset is tokenized again with its tokenizer (the engine
// drops the old tokenization with the old model) and the kernels tuned for its shapes are looked
// up (again when the job's batch, length or method change); when the GPU is lost just as a run failed, the
// run continues on a new device (see continueAfterGpuLoss).
import { forgetDataset, reloadDataset, useDatasetStore } from './datasetStore';
import { useDeviceStore } from './deviceStore';
import { useJobStore } from './jobStore';
import { useModelStore } from './modelStore';
import { continueAfterGpuLoss } from './runStore';
import { refreshKernelTuning } from './tuningStore';

export const DATASET_RELOAD_DEBOUNCE_MS = 600;
let wired = false;

export function wireStores(): void {
  if (wired) return;
  wired = true;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let tuningTimer: ReturnType<typeof setTimeout> | null = null;
  useJobStore.subscribe((s, prev) => {
    const a = s.config;
    const b = prev.config;
    // the kernels shown are those of the job's shapes
    if ((a.batchSize !== b.batchSize || a.seqLen !== b.seqLen || a.method !== b.method) && useModelStore.getState().status === 'ready') {
      if (tuningTimer) clearTimeout(tuningTimer);
      tuningTimer = setTimeout(() => void refreshKernelTuning(), DATASET_RELOAD_DEBOUNCE_MS);
    }
    if (a.seqLen === b.seqLen && a.validationFraction === b.validationFraction && a.seed === b.seed) return;
    if (s.issues.some((i) => i.field === 'seqLen' || i.field === 'validationFraction' || i.field === 'seed')) return;
    if (useDatasetStore.getState().status === 'empty') return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void reloadDataset(), DATASET_RELOAD_DEBOUNCE_MS);
  });
  useModelStore.subscribe((s, prev) => {
    if (s.status === 'loading' && prev.status !== 'loading') forgetDataset();
    if (s.info && s.info !== prev.info) {
      void reloadDataset();
      void refreshKernelTuning();
    }
  });
  useDeviceStore.subscribe((s, prev) => {
    if (s.status === 'lost' && prev.status !== 'lost') void continueAfterGpuLoss();
  });
}
