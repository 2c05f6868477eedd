// A model is a folder of files (config.json, *.safetensors, tokenizer files). It reaches us as
// browser File objects (drag and drop, folder picker), as URLs, or as a directory in Node; this
// turns each into a name -> ByteSource map.
import { blobSource, bufferSource, type ByteSource } from '../io/byteSource';

export interface ModelFolder {
  /** shown to the user (folder name, repo id, ...) */
  name: string;
  files: Map<string, ByteSource>;
}

export class ModelFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFolderError';
  }
}

/** Files from a picker or a drop; directories in their paths are dropped (a model folder is flat). */
export function folderFromFiles(files: Iterable<File>, name?: string): ModelFolder {
  const map = new Map<string, ByteSource>();
  let folderName = name;
  for (const f of files) {
    const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
    const parts = rel.split('/');
    if (!folderName && parts.length > 1) folderName = parts[parts.length - 2];
    map.set(parts[parts.length - 1], blobSource(f, f.name));
  }
  return { name: folderName ?? 'model', files: map };
}

/** In-memory files (tests, converted models). */
export function folderFromBuffers(name: string, files: Record<string, Uint8Array | string>): ModelFolder {
  const map = new Map<string, ByteSource>();
  for (const [k, v] of Object.entries(files)) {
    map.set(k, bufferSource(typeof v === 'string' ? new TextEncoder().encode(v) : v, k));
  }
  return { name, files: map };
}

export async function readText(folder: ModelFolder, file: string): Promise<string | null> {
  const src = folder.files.get(file);
  if (!src) return null;
  return new TextDecoder().decode(await src.read(0, src.size));
}

export async function readJson(folder: ModelFolder, file: string): Promise<unknown | null> {
  const text = await readText(folder, file);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFolderError(`${folder.name}/${file} is not valid JSON (${(e as Error).message}). Download the file again.`);
  }
}
