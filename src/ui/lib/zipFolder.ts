// A folder of exported files (names are paths inside it, "data/train_batches.jsonl") as one .zip
// whose entries sit under `root/`, stored uncompressed and streamed into a Blob as zip.ts does.
// Every path segment is sanitized like a file name (no "..", separators or control characters
// survive), so an archive made from the worker's names cannot write outside its folder.
import { Zip, ZipPassThrough } from 'fflate';
import { sanitizeFileName } from './fileName';

export interface PathBytes {
  name: string;
  bytes: Uint8Array;
}

/** "data/../x.json" -> "data/_/x.json": each segment a safe file name (empty ones dropped). */
export function safeRelativePath(path: string): string {
  const parts = path.split(/[/\\]+/).filter((p) => p.length > 0);
  if (parts.length === 0) return 'file';
  return parts.map((p) => (p === '.' || p === '..' ? '_' : sanitizeFileName(p, 'file'))).join('/');
}

export function zipFolderBlob(root: string, files: PathBytes[]): Blob {
  const base = sanitizeFileName(root, 'folder');
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let failed: Error | null = null;
  const zip = new Zip((err, chunk) => {
    if (err) failed = err;
    else parts.push(chunk as Uint8Array<ArrayBuffer>);
  });
  const taken = new Set<string>();
  for (const f of files) {
    const name = `${base}/${safeRelativePath(f.name)}`;
    if (taken.has(name)) throw new Error(`Two exported files are both named ${name}.`);
    taken.add(name);
    const entry = new ZipPassThrough(name);
    zip.add(entry);
    entry.push(f.bytes, true);
  }
  zip.end();
  if (failed) throw failed;
  return new Blob(parts, { type: 'application/zip' });
}
