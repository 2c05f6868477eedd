// Export slice: which export is running, what was saved, and adapter imports.
import { create } from 'zustand';
import type { ExportedFile, ExportProgressEvent, ImportedAdapter as EngineImport } from '../../workers/api';
import { engine, proxy } from '../engineClient';
import { EtaEstimator } from '../lib/eta';
import { download, pickFolder, saveToFolder } from '../lib/downloadFiles';
import { engineErrorMessage } from '../lib/errors';
import { fileNameStem } from '../lib/fileName';

export type ExportKind = 'peft' | 'gguf' | 'merged';

export interface ImportedAdapter extends EngineImport {
  files: string[];
}

/** The adapter the engine holds in GPU memory (what the playground and "current" export use). */
export type HeldAdapter = { kind: 'run'; runId: string } | { kind: 'import'; files: string[] } | null;

export interface ExportState {
  held: HeldAdapter;
  /** 'recipe': "Export for a cluster" (stores/recipeExport.ts) */
  busy: ExportKind | 'import' | 'recipe' | null;
  /** names of the files the last export saved */
  saved: string[];
  /** a large export's progress (the merged model), with the seconds left from the measured rate */
  progress: ExportProgressEvent | null;
  etaSeconds: number | null;
  error: string | null;
  imported: ImportedAdapter | null;
  importError: string | null;
}

export const useExportStore = create<ExportState>(() => ({ held: null, busy: null, saved: [], progress: null, etaSeconds: null, error: null, imported: null, importError: null }));
const eta = new EtaEstimator();
// progress comes through its own port and can arrive after the export returned: only the running export's counts
let exportSeq = 0;

const set = useExportStore.setState;

/** Training created an adapter, or an import replaced it. */
export function setHeldAdapter(held: HeldAdapter): void {
  set({ held });
}

/** A new model or a lost device frees the engine's adapter. */
export function forgetHeldAdapter(): void {
  set({ held: null, imported: null });
}

const WHAT: Record<ExportKind, { method: 'exportPeft' | 'exportGguf' | 'exportMerged'; doing: string }> = {
  peft: { method: 'exportPeft', doing: 'export the PEFT adapter' },
  gguf: { method: 'exportGguf', doing: 'export the GGUF adapter' },
  merged: { method: 'exportMerged', doing: 'export the merged model' },
};

const ZIP_SUFFIX: Record<ExportKind, string> = { peft: 'peft-adapter', gguf: 'gguf-adapter', merged: 'merged-model' };

/**
 * `runId` undefined: the adapter the engine holds now (the last run, or an imported one). The
 * files are saved in one action: one download (several files in one .zip), or with `toFolder`
 * written into a folder the user picks (asked first, while the click's gesture holds).
 */
export async function exportAdapter(kind: ExportKind, runId: string | undefined, runName: string, options?: { dtype?: 'float16' | 'float32' }, toFolder = false): Promise<void> {
  if (useExportStore.getState().busy) return;
  set({ busy: kind, error: null, saved: [], progress: null, etaSeconds: null });
  eta.reset();
  const seq = ++exportSeq;
  try {
    const folder = toFolder ? await pickFolder() : null;
    if (toFolder && !folder) return; // the user closed the picker
    let files: ExportedFile[];
    if (kind === 'gguf') files = [await engine().exportGguf(runId)];
    else if (kind === 'merged')
      files = await engine().exportMerged(
        runId,
        options,
        proxy((e: ExportProgressEvent) => {
          if (seq === exportSeq && useExportStore.getState().busy === kind) set({ progress: e, etaSeconds: eta.update(e.bytesDone, e.bytesTotal, performance.now(), e.phase) });
        }),
      );
    else files = await engine().exportPeft(runId);
    const zipName = `${fileNameStem(runName, 'whetstone')}-${ZIP_SUFFIX[kind]}.zip`;
    set({ saved: folder ? await saveToFolder(folder, files) : download(files, zipName) });
  } catch (e) {
    set({ error: engineErrorMessage(e, WHAT[kind].method, WHAT[kind].doing) });
  } finally {
    exportSeq++;
    set({ busy: null, progress: null, etaSeconds: null });
  }
}

export async function importAdapter(files: File[]): Promise<void> {
  if (files.length === 0) return;
  set({ busy: 'import', importError: null, imported: null });
  try {
    const r = await engine().importAdapter(files);
    const names = files.map((f) => f.name);
    set({ imported: { ...r, files: names }, held: { kind: 'import', files: names } });
  } catch (e) {
    set({ importError: engineErrorMessage(e, 'importAdapter', 'import the adapter') });
  } finally {
    set({ busy: null });
  }
}
