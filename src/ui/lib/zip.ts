// Several exported files as one .zip (fflate, stored uncompressed: safetensors and GGUF data do
// not compress, and level 0 keeps a large adapter from blocking the page).
import { Zip, ZipPassThrough, zipSync, type Zippable } from 'fflate';
import { sanitizeFileName } from './fileName';

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

/** Zip the files flat; names are sanitized and made unique ("a.json", "a (2).json"). */
export function zipFiles(files: NamedBytes[]): Uint8Array {
  const entries: Zippable = {};
  for (const f of files) entries[uniqueName(entries, sanitizeFileName(f.name, 'file'))] = [f.bytes, { level: 0 }];
  return zipSync(entries);
}

/**
 * The same archive as a Blob, streamed: the file data goes into the Blob as it is (no second
 * copy of a merged model's gigabytes in one array), with only the zip headers added.
 */
export function zipBlob(files: NamedBytes[]): Blob {
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let failed: Error | null = null;
  const zip = new Zip((err, chunk) => {
    if (err) failed = err;
    else parts.push(chunk as Uint8Array<ArrayBuffer>);
  });
  const taken: Record<string, true> = {};
  for (const f of files) {
    const name = uniqueName(taken, sanitizeFileName(f.name, 'file'));
    taken[name] = true;
    const entry = new ZipPassThrough(name);
    zip.add(entry);
    entry.push(f.bytes, true);
  }
  zip.end();
  if (failed) throw failed;
  return new Blob(parts, { type: 'application/zip' });
}

function uniqueName(taken: object, name: string): string {
  if (!(name in taken)) return name;
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot) : '';
  for (let i = 2; ; i++) {
    const candidate = `${stem} (${i})${ext}`;
    if (!(candidate in taken)) return candidate;
  }
}
