// Model folders the browser let us keep a handle on (File System Access: a folder dropped in
// Chromium comes with a FileSystemDirectoryHandle), stored in IndexedDB by the model's
// fingerprint, so a run trained on a dropped folder can load it again for a resume after the
// tab was closed: one permission prompt on the Resume click instead of "drop the folder again".
// Where the browser gives no handle (Firefox, Safari, or the folder picker's <input>), the run
// asks for the folder by name.
import { createStore, del, get, keys, set } from 'idb-keyval';

/** The parts of the File System Access API used here (not all of it is in TypeScript's DOM lib). */
export interface FolderHandle {
  readonly kind: 'directory';
  readonly name: string;
  values(): AsyncIterable<{ kind: 'file' | 'directory'; name: string; getFile?: () => Promise<File> }>;
  queryPermission?(d: { mode: 'read' }): Promise<PermissionState>;
  requestPermission?(d: { mode: 'read' }): Promise<PermissionState>;
}

// A database of its own: idb-keyval cannot add a store to an existing database (the engine's).
let db: ReturnType<typeof createStore> | null = null;
const store = () => (db ??= createStore('whetstone-folders', 'handles'));

export function canKeepFolders(): boolean {
  return typeof indexedDB !== 'undefined' && typeof (globalThis as { FileSystemDirectoryHandle?: unknown }).FileSystemDirectoryHandle === 'function';
}

export async function rememberFolder(fingerprint: string, handle: FolderHandle): Promise<void> {
  await set(fingerprint, handle, store());
}

export async function folderFor(fingerprint: string): Promise<FolderHandle | null> {
  if (typeof indexedDB === 'undefined') return null;
  return (await get<FolderHandle>(fingerprint, store())) ?? null;
}

/** Fingerprints of the models whose folders are kept. */
export async function keptFolders(): Promise<Set<string>> {
  if (typeof indexedDB === 'undefined') return new Set();
  return new Set((await keys(store())).map(String));
}

export async function forgetFolder(fingerprint: string): Promise<void> {
  await del(fingerprint, store());
}

/** Read access, asking the user (the browser shows its prompt) when it is not granted yet. */
export async function mayRead(handle: FolderHandle): Promise<boolean> {
  if (!handle.queryPermission) return true;
  if ((await handle.queryPermission({ mode: 'read' })) === 'granted') return true;
  return (await handle.requestPermission?.({ mode: 'read' })) === 'granted';
}

/** The files at the top of the folder (a model folder keeps its files there). */
export async function filesOf(handle: FolderHandle): Promise<File[]> {
  const files: File[] = [];
  for await (const entry of handle.values()) if (entry.kind === 'file' && entry.getFile) files.push(await entry.getFile());
  return files;
}
