// Node-only: a model folder from a directory on disk (CLI and tests).
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileSource } from '../io/byteSourceNode';
import type { ByteSource } from '../io/byteSource';
import { ModelFolderError, type ModelFolder } from './folder';

export async function folderFromDirectory(dir: string): Promise<ModelFolder> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new ModelFolderError(`${dir} is not a readable directory. Pass the folder that holds config.json and the .safetensors files.`);
  }
  const files = new Map<string, ByteSource>();
  for (const n of names) {
    const p = join(dir, n);
    if (statSync(p).isFile()) files.set(n, await fileSource(p));
  }
  return { name: basename(dir), files };
}
