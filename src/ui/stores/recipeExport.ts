// "Export for a cluster": the engine writes the recipe folder (a run's, or the job form's with the
// loaded dataset), saved as one .zip with its subfolders; the dataset file as the user gave it
// goes in too when it is the one the run trained on. Shares the export slice's busy / saved /
// error state, so the Export panel shows it like the other exports.
import type { DatasetSource, ExportedFile } from '../../workers/api';
import { engine } from '../engineClient';
import { downloadBytes } from '../lib/download';
import { engineErrorMessage } from '../lib/errors';
import { fileNameStem } from '../lib/fileName';
import { zipFolderBlob } from '../lib/zipFolder';
import { datasetSource, useDatasetStore } from './datasetStore';
import { useExportStore } from './exportStore';
import { useJobStore } from './jobStore';

export interface ClusterExport {
  /** a saved run; absent: the job form's settings with the loaded dataset */
  runId?: string;
  /** the run's dataset name: its raw file is added only when it is the dataset loaded now */
  datasetName?: string;
  start: 'initial' | 'checkpoint';
  /** names the .zip and its folder */
  name: string;
}

async function rawFile(source: DatasetSource | null): Promise<File | null> {
  if (!source) return null;
  if (source.kind === 'file') return source.file;
  const res = await fetch(new URL('/datasets/sample.jsonl', location.origin));
  return res.ok ? new File([await res.blob()], 'sample.jsonl') : null;
}

export async function exportForCluster(o: ClusterExport): Promise<void> {
  const set = useExportStore.setState;
  if (useExportStore.getState().busy) return;
  set({ busy: 'recipe', error: null, saved: [], progress: null, etaSeconds: null });
  try {
    const loadedName = useDatasetStore.getState().info?.name;
    const raw = !o.runId || (o.datasetName !== undefined && o.datasetName === loadedName) ? await rawFile(datasetSource()) : null;
    const trainOn = useDatasetStore.getState().trainOn;
    const req = o.runId ? { runId: o.runId, start: o.start, raw, trainOn } : { config: useJobStore.getState().config, raw, trainOn };
    const files: ExportedFile[] = await engine().exportRecipe(req);
    const stem = `${fileNameStem(o.name, 'whetstone')}-cluster-recipe`;
    set({ saved: [downloadBytes(`${stem}.zip`, zipFolderBlob(stem, files), 'application/zip')] });
  } catch (e) {
    set({ error: engineErrorMessage(e, 'exportRecipe', 'export the job for a cluster') });
  } finally {
    set({ busy: null });
  }
}
