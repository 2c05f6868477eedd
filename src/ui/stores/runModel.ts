// Resume is one click: before the engine continues a run, the page loads the run's base model
// again when another one (or none) is loaded. The demo model, a URL and a Hugging Face repo (from
// the browser's cache once downloaded) are loaded from where they came; a folder is opened again
// through the handle the browser gave when it was dropped (the Resume click grants the read
// permission), and without one the user is asked for the folder by name. The dataset needs no
// such step: the engine keeps it with the run (src/workers/runStorage.ts).
import type { ModelSource, RunSummary, StoredModelSource } from '../../workers/api';
import { filesOf, folderFor, mayRead } from '../lib/folderHandles';
import { loadModel, loadModelFiles, useModelStore } from './modelStore';

/** The model source to load again, with its words; null for a folder (it needs the user). */
export function sourceToLoad(s: StoredModelSource): { source: ModelSource; label: string } | null {
  switch (s.kind) {
    case 'demo':
      return { source: { kind: 'demo' }, label: 'the demo model (stories260K)' };
    case 'url':
      return { source: { kind: 'url', baseUrl: s.baseUrl, name: s.name }, label: s.name ?? s.baseUrl };
    case 'hub':
      return { source: { kind: 'hub', repo: s.repo, revision: s.revision, endpoint: s.endpoint }, label: s.revision ? `${s.repo}@${s.revision}` : s.repo };
    case 'folder':
      return null;
  }
}

/** The run's model is the one loaded now (runs from older workers carry no fingerprint: the engine checks). */
export function runModelLoaded(run: Pick<RunSummary, 'modelFingerprint'>): boolean {
  const m = useModelStore.getState();
  return !run.modelFingerprint || (m.status === 'ready' && m.info?.fingerprint === run.modelFingerprint);
}

/**
 * Why the run's model cannot be loaded by the Resume click itself, in words (null: it can, or
 * it is loaded). `keptFolders` are the fingerprints whose folder handles the page kept.
 */
export function runModelBlocker(run: Pick<RunSummary, 'modelFingerprint' | 'modelSource' | 'modelName'>, keptFolders: ReadonlySet<string>): string | null {
  if (runModelLoaded(run)) return null;
  const s = run.modelSource;
  if (!s) return `Load the run’s model (${run.modelName}) in step 1 first.`;
  if (s.kind === 'folder' && !keptFolders.has(run.modelFingerprint!)) return `Drop the model folder “${s.name}” in step 1 again to resume: this browser cannot reopen a folder by itself.`;
  return null;
}

/** Loads the run's model when it is not the loaded one; returns what went wrong, in words, or null. */
export async function loadRunModel(run: RunSummary): Promise<string | null> {
  if (runModelLoaded(run)) return null;
  const s = run.modelSource;
  if (!s) return `Load the run’s model (${run.modelName}) in step 1, then resume.`;
  const again = sourceToLoad(s);
  if (again) {
    await loadModel(again.source, again.label);
  } else if (s.kind === 'folder') {
    const handle = await folderFor(run.modelFingerprint!).catch(() => null);
    if (!handle) return `Drop the model folder “${s.name}” in step 1 again, then press Resume: this browser cannot reopen a folder by itself.`;
    if (!(await mayRead(handle).catch(() => false))) return `Reading the folder “${s.name}” was not allowed. Press Resume and allow it, or drop the folder in step 1 again.`;
    let files: File[];
    try {
      files = await filesOf(handle);
    } catch (e) {
      return `The folder “${s.name}” could not be read again (${(e as Error).message}): drop it in step 1 again, then press Resume.`;
    }
    await loadModelFiles(files, s.name, handle);
  }
  const m = useModelStore.getState();
  if (m.status !== 'ready') return `The run’s model could not be loaded again: ${m.error ?? 'it did not load.'}`;
  if (!runModelLoaded(run)) return `The model loaded again is not the one this run trained (its files changed since). Load ${run.modelName} as it was, then resume.`;
  return null;
}
