// Dataset slice: the loaded dataset's description (format, stats, bad rows, preview) and the
// options it was read with. Changing an option, or the job's sequence length, validation share
// or seed, reads the same source again so the numbers shown are the ones training will use.
import { create } from 'zustand';
import type { ColumnMapping } from '../../data/types';
import type { DatasetInfo, DatasetOptions, DatasetProgressEvent, DatasetSource, HubDatasetListing } from '../../workers/api';
import { engine, proxy } from '../engineClient';
import { engineErrorMessage } from '../lib/errors';
import { EtaEstimator } from '../lib/eta';
import { useJobStore } from './jobStore';
import { useModelStore } from './modelStore';

export const DATASET_ACCEPT = '.jsonl,.json,.csv,.txt,.parquet';

export interface DatasetState {
  /** waiting: a source is chosen and will be read once a model is loaded */
  status: 'empty' | 'waiting' | 'loading' | 'ready' | 'error';
  sourceLabel: string | null;
  progress: DatasetProgressEvent | null;
  /** seconds left reading and tokenizing, from the measured rate; null: not known yet */
  etaSeconds: number | null;
  info: DatasetInfo | null;
  error: string | null;
  onBadRow: DatasetOptions['onBadRow'];
  trainOn: DatasetOptions['trainOn'];
  /** the user's column mapping; null means "use the detected one" */
  mapping: ColumnMapping | null;
  /** read at most this many rows (null: all) */
  maxRows: number | null;
  /** "From Hugging Face": the listing of the repo asked for, and its state */
  hub: { status: 'idle' | 'listing' | 'listed' | 'error'; listing: HubDatasetListing | null; error: string | null };
}

export const useDatasetStore = create<DatasetState>(() => ({
  status: 'empty',
  sourceLabel: null,
  progress: null,
  etaSeconds: null,
  info: null,
  error: null,
  onBadRow: 'skip',
  trainOn: 'completions',
  mapping: null,
  maxRows: null,
  hub: { status: 'idle', listing: null, error: null },
}));

const set = useDatasetStore.setState;
const get = useDatasetStore.getState;

// The source stays out of the store (a File is not display data); reloads read it again.
let source: DatasetSource | null = null;
let loadSeq = 0;
const eta = new EtaEstimator();

/** The dataset being used, as the user gave it (the cluster recipe copies its file). */
export function datasetSource(): DatasetSource | null {
  return source;
}

export function datasetOptions(): DatasetOptions {
  const { config } = useJobStore.getState();
  const { onBadRow, trainOn, mapping, maxRows } = get();
  return {
    mapping: mapping ?? undefined,
    maxRows: maxRows ?? undefined,
    maxSeqLen: config.seqLen,
    trainOn,
    onBadRow,
    validationFraction: config.validationFraction,
    seed: config.seed,
  };
}

async function load(): Promise<void> {
  if (!source) return;
  // The engine tokenizes with the loaded model's tokenizer: without one, wait for it.
  if (useModelStore.getState().status !== 'ready') {
    set({ status: 'waiting', info: null, error: null });
    return;
  }
  const seq = ++loadSeq;
  set({ status: 'loading', progress: null, etaSeconds: null, error: null });
  eta.reset();
  try {
    const info = await engine().loadDataset(
      source,
      datasetOptions(),
      proxy((e: DatasetProgressEvent) => {
        if (seq === loadSeq) set({ progress: e, etaSeconds: eta.update(e.bytesDone, e.bytesTotal, performance.now(), `${e.phase}${e.fileIndex ?? ''}`) });
      }),
    );
    if (seq === loadSeq) set({ status: 'ready', info, progress: null });
  } catch (e) {
    if (seq === loadSeq) set({ status: 'error', info: null, progress: null, error: engineErrorMessage(e, 'loadDataset', `read ${get().sourceLabel ?? 'the dataset'}`) });
  }
}

export function loadSampleDataset(): Promise<void> {
  source = { kind: 'sample' };
  set({ sourceLabel: 'the sample dataset', mapping: null, info: null });
  return load();
}

const extOf = (name: string) => name.toLowerCase().match(/\.[^.]+$/)?.[0] ?? '';

export function loadDatasetFile(file: File): Promise<void> {
  if (!DATASET_ACCEPT.split(',').includes(extOf(file.name))) {
    set({ status: 'error', error: `“${file.name}” is not a dataset file Whetstone reads. Use .jsonl, .json, .csv, .txt or .parquet.` });
    return Promise.resolve();
  }
  source = { kind: 'file', file };
  set({ sourceLabel: `“${file.name}”`, mapping: null, info: null });
  return load();
}

/** One file, or several Parquet files read as one split (the shards of a split, in name order). */
export function loadDatasetFiles(files: File[]): Promise<void> {
  if (files.length === 1) return loadDatasetFile(files[0]);
  const other = files.find((f) => extOf(f.name) !== '.parquet');
  if (other) {
    set({ status: 'error', error: `Several files are read together only as the Parquet shards of one split, and “${other.name}” is not a .parquet file. Pick one file, or only .parquet files.` });
    return Promise.resolve();
  }
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  source = { kind: 'files', files: sorted };
  set({ sourceLabel: `${sorted.length} Parquet files`, mapping: null, info: null });
  return load();
}

let listSeq = 0;

/** Lists a Hub dataset's configs and splits (the Hub's Parquet listing; cached once listed). */
export async function listHubDataset(repo: string, endpoint?: string): Promise<void> {
  const seq = ++listSeq;
  set({ hub: { status: 'listing', listing: null, error: null } });
  try {
    const listing = await engine().listHubDataset(repo.trim(), endpoint?.trim() || undefined);
    if (seq === listSeq) set({ hub: { status: 'listed', listing, error: null } });
  } catch (e) {
    if (seq === listSeq) set({ hub: { status: 'error', listing: null, error: engineErrorMessage(e, 'listHubDataset', `list ${repo.trim()}`) } });
  }
}

/** Downloads (or takes from the cache) the split's Parquet files and reads them. */
export function loadHubDataset(repo: string, config: string, split: string, endpoint?: string): Promise<void> {
  source = { kind: 'hub', repo: repo.trim(), config, split, endpoint: endpoint?.trim() || undefined };
  set({ sourceLabel: `${repo.trim()} (${config}/${split})`, mapping: null, info: null });
  return load();
}

let maxRowsTimer: ReturnType<typeof setTimeout> | undefined;

/** Read at most `maxRows` rows (null: all); a loaded source is read again once typing pauses. */
export function setMaxRows(maxRows: number | null): void {
  set({ maxRows });
  clearTimeout(maxRowsTimer);
  if (source) maxRowsTimer = setTimeout(() => void load(), 600);
}

export function setBadRowPolicy(onBadRow: DatasetOptions['onBadRow']): Promise<void> {
  set({ onBadRow });
  return load();
}

export function setTrainOn(trainOn: DatasetOptions['trainOn']): Promise<void> {
  set({ trainOn });
  return load();
}

/** Read again with this mapping; null goes back to the detected one. */
export function setColumnMapping(mapping: ColumnMapping | null): Promise<void> {
  set({ mapping });
  return load();
}

/** The model is changing: the engine forgets the tokenized data, so the slice shows none (the
 * source is kept and read again once the new model is ready). */
export function forgetDataset(): void {
  loadSeq++;
  if (get().status !== 'empty') set({ status: source ? 'waiting' : 'empty', info: null, progress: null, error: null });
}

/** Read again because an option that shapes the sequences changed (debounced by the caller). */
export function reloadDataset(): Promise<void> {
  return load();
}
