// Restarting the engine worker after it crashed or stopped answering. The new worker holds
// nothing (no GPU device, model, dataset, adapter or run), so every slice is brought back to
// that, then the last model is loaded again (the dataset follows it, see wiring.ts) so that an
// interrupted run can be resumed from its last checkpoint straight away.
import { discardEngineWorker } from '../engineClient';
import { forgetDataset } from './datasetStore';
import { startEngine, useDeviceStore } from './deviceStore';
import { forgetHeldAdapter, useExportStore } from './exportStore';
import { forgetLoadedModel, reloadModel } from './modelStore';
import { usePlaygroundStore } from './playgroundStore';
import { abandonLiveRun, refreshRuns } from './runStore';

export async function restartEngine(): Promise<void> {
  discardEngineWorker();
  abandonLiveRun();
  // calls in flight on the old worker never settle: nothing is busy any more
  useExportStore.setState({ busy: null });
  usePlaygroundStore.setState({ busy: false });
  forgetHeldAdapter();
  forgetDataset();
  await startEngine();
  if (useDeviceStore.getState().status === 'ready') await reloadModel();
  else forgetLoadedModel();
  await refreshRuns();
}
