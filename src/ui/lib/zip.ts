// Several exported files as one .zip (fflate, stored uncompressed: safetensors and GGUF data do
// not compress, and level 0 keeps a large adapter from blocking the page).
import { zipSync, type Zippable } from 'fflate';
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
