// Files from a drag-and-drop, including the contents of dropped folders (one level of a model
// folder is what we need, but nested folders are walked too, to a sane limit).

import type { FolderHandle } from './folderHandles';

export interface DroppedFiles {
  files: File[];
  /** the dropped folder's name when exactly one folder was dropped */
  folderName?: string;
  /** its File System Access handle where the browser gives one (Chromium), to open it again later */
  handle?: FolderHandle;
}

const MAX_FILES = 10_000;

export async function filesFromDrop(dt: DataTransfer): Promise<DroppedFiles> {
  const entries: FileSystemEntry[] = [];
  // the items are only readable during the drop event: ask for the handles before any await
  const handles: Promise<unknown>[] = [];
  for (const item of Array.from(dt.items ?? [])) {
    if (item.kind !== 'file') continue;
    const asHandle = (item as DataTransferItem & { getAsFileSystemHandle?: () => Promise<unknown> }).getAsFileSystemHandle;
    if (typeof asHandle === 'function') handles.push(asHandle.call(item).catch(() => null));
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
  }
  if (entries.length === 0) return { files: Array.from(dt.files ?? []) };
  const files: File[] = [];
  for (const e of entries) await walk(e, files);
  const folders = entries.filter((e) => e.isDirectory);
  const one = folders.length === 1 && entries.length === 1;
  const handle = one && handles.length === 1 ? ((await handles[0]) as FolderHandle | null) : null;
  return { files, folderName: one ? folders[0].name : undefined, handle: handle?.kind === 'directory' ? handle : undefined };
}

async function walk(entry: FileSystemEntry, out: File[]): Promise<void> {
  if (out.length >= MAX_FILES) return;
  if (entry.isFile) {
    out.push(await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej)));
    return;
  }
  if (!entry.isDirectory) return;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries returns at most ~100 entries per call: read until it returns none.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
    if (batch.length === 0) break;
    for (const child of batch) await walk(child, out);
  }
}
