// Saves exported files in one action that always works: one file is downloaded as it is; several
// (the PEFT pair, a merged model's folder) go into one .zip, because a page that starts several
// downloads from one click makes Chrome ask "allow multiple downloads?" and people miss it. Where
// the browser has a directory picker (File System Access), the files can instead be written into
// a folder the user picks.
import type { ExportedFile } from '../../workers/api';
import { downloadBytes } from './download';
import { sanitizeFileName } from './fileName';
import { zipBlob } from './zip';

/** One download: the file itself, or all of them in `zipName`. Returns the names saved (sanitized). */
export function download(files: ExportedFile[], zipName: string): string[] {
  if (files.length === 1) return [downloadBytes(files[0].name, files[0].bytes, files[0].mime)];
  return [downloadBytes(zipName, zipBlob(files), 'application/zip')];
}

interface WritableFolder {
  readonly name: string;
  getFileHandle(name: string, o: { create: true }): Promise<{ createWritable(): Promise<{ write(d: BufferSource | Blob): Promise<void>; close(): Promise<void>; abort(): Promise<void> }> }>;
}

type DirectoryPicker = (o: { mode: 'readwrite'; id?: string }) => Promise<WritableFolder>;

function picker(): DirectoryPicker | null {
  const p = (globalThis as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
  return typeof p === 'function' ? p.bind(globalThis) : null;
}

/** Whether this browser can write the files into a folder the user picks. */
export function canSaveToFolder(): boolean {
  return picker() !== null;
}

/** Asks for the folder (call it straight from the click: the picker needs the user's gesture). Null: the user cancelled. */
export async function pickFolder(): Promise<WritableFolder | null> {
  const p = picker();
  if (!p) throw new Error('This browser cannot save into a folder: use the download (one .zip) instead.');
  try {
    return await p({ mode: 'readwrite', id: 'whetstone-export' });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') return null;
    throw e;
  }
}

/** Writes the files into the folder; returns "folder/name" of each. */
export async function saveToFolder(folder: WritableFolder, files: ExportedFile[]): Promise<string[]> {
  const saved: string[] = [];
  for (const f of files) {
    const name = sanitizeFileName(f.name);
    const w = await (await folder.getFileHandle(name, { create: true })).createWritable();
    try {
      await w.write(f.bytes as Uint8Array<ArrayBuffer>);
      await w.close();
    } catch (e) {
      await w.abort().catch(() => {});
      throw e;
    }
    saved.push(`${folder.name}/${name}`);
  }
  return saved;
}
