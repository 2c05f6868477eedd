// Saves exported files: each on its own, or all in one zip.
import type { ExportedFile } from '../../workers/api';
import { downloadBytes } from './download';
import { zipFiles } from './zip';

/** Returns the names the files were saved under (already sanitized). */
export function download(files: ExportedFile[], zipName: string | null): string[] {
  if (zipName) return [downloadBytes(zipName, zipFiles(files), 'application/zip')];
  return files.map((f) => downloadBytes(f.name, f.bytes, f.mime));
}
