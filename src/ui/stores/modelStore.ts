// Model slice: which base model is loaded, and the progress of loading one. Plain data; actions
// at module level (the worker's progress callback calls setProgress through a comlink proxy).
import { create } from 'zustand';
import type { LoadProgressEvent, ModelInfo, ModelSource } from '../../workers/api';
import type { BaseQuantization } from '../../util/quant';
import { engine, proxy } from '../engineClient';
import { engineErrorMessage } from '../lib/errors';
import { rememberFolder, type FolderHandle } from '../lib/folderHandles';
import { EtaEstimator } from '../lib/eta';
import { repoIdProblem } from '../lib/hub';
import { forgetHeldAdapter } from './exportStore';
import { adaptJobToModel, forgetModel } from './jobStore';

export type ModelSourceKind = ModelSource['kind'];

export interface ModelState {
  status: 'empty' | 'loading' | 'ready' | 'error';
  /** what is being (or was last) loaded, in words: "demo model", "3 files", "org/repo" */
  sourceLabel: string | null;
  sourceKind: ModelSourceKind | null;
  progress: LoadProgressEvent | null;
  /** seconds left in the current phase (download of this file, or upload to the GPU), from the measured rate; null: not known yet */
  etaSeconds: number | null;
  info: ModelInfo | null;
  error: string | null;
  /** the frozen base's precision for the next load: fp16 ('none') or quantized at load (QLoRA-style) */
  quantize: BaseQuantization;
}

export const useModelStore = create<ModelState>(() => ({
  status: 'empty',
  sourceLabel: null,
  sourceKind: null,
  progress: null,
  etaSeconds: null,
  info: null,
  error: null,
  quantize: 'none',
}));

const set = useModelStore.setState;
const get = useModelStore.getState;
let loadSeq = 0;
const eta = new EtaEstimator();
// What was asked for last, to load again after the engine worker is restarted.
let lastSource: { source: ModelSource; label: string } | null = null;

export async function loadModel(source: ModelSource, label: string, folder?: FolderHandle): Promise<void> {
  const seq = ++loadSeq;
  lastSource = { source, label };
  set({ status: 'loading', sourceLabel: label, sourceKind: source.kind, progress: null, etaSeconds: null, info: null, error: null });
  eta.reset();
  forgetModel();
  forgetHeldAdapter(); // the engine frees the adapter with the old model
  try {
    const info = await engine().loadModel(
      source,
      proxy((e: LoadProgressEvent) => {
        // a download is measured per file; the upload to the GPU over all weights (its bytes count across tensors)
        if (seq === loadSeq) set({ progress: e, etaSeconds: eta.update(e.bytesDone, e.bytesTotal, performance.now(), e.phase === 'download' ? `download:${e.file ?? ''}` : e.phase) });
      }),
      { quantize: get().quantize },
    );
    if (seq !== loadSeq) return; // a newer load replaced this one
    set({ status: 'ready', info, progress: null, error: null });
    adaptJobToModel(info);
    // runs trained on this folder can open it again for a resume (best effort: a refusal keeps the "drop it again" path)
    if (folder) await rememberFolder(info.fingerprint, folder).catch(() => {});
  } catch (e) {
    if (seq !== loadSeq) return;
    set({ status: 'error', info: null, progress: null, error: engineErrorMessage(e, 'loadModel', `load ${label}`) });
  }
}

/** The base precision of the next load (a loaded model keeps its own until it is loaded again). */
export function setQuantize(quantize: BaseQuantization): void {
  set({ quantize });
}

export function loadDemoModel(): Promise<void> {
  return loadModel({ kind: 'demo' }, 'the demo model (stories260K)');
}

export function loadModelFiles(files: File[], folderName?: string, folder?: FolderHandle): Promise<void> {
  if (files.length === 0) {
    set({ status: 'error', error: 'No files were chosen. Pick the model folder (config.json, *.safetensors, tokenizer.json) or drop it here.' });
    return Promise.resolve();
  }
  const label = folderName ? `the folder “${folderName}”` : files.length === 1 ? `“${files[0].name}”` : `${files.length} files`;
  return loadModel({ kind: 'files', files, name: folderName }, label, folder);
}

/** `repo` as "owner/name"; an empty revision means the default branch. */
export function loadHubModel(repo: string, revision: string): Promise<void> {
  const r = repo.trim();
  const problem = repoIdProblem(r);
  if (problem) {
    set({ status: 'error', error: problem });
    return Promise.resolve();
  }
  const rev = revision.trim();
  return loadModel({ kind: 'hub', repo: r, revision: rev || undefined }, rev ? `${r}@${rev}` : r);
}

/**
 * The engine worker was restarted and holds no model: load the one that was loaded (or loading)
 * again, from the same files, URL or demo; with none, show none.
 */
export function reloadModel(): Promise<void> {
  const status = get().status;
  if (lastSource && (status === 'ready' || status === 'loading')) return loadModel(lastSource.source, lastSource.label);
  forgetLoadedModel();
  return Promise.resolve();
}

/** The engine lost its model (a restart that could not reach the GPU): show none. */
export function forgetLoadedModel(): void {
  loadSeq++;
  if (get().status === 'error') return;
  set({ status: 'empty', info: null, progress: null, error: null });
  forgetModel();
}
