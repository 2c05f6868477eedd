// Node-only: a ByteSource over a file on disk. Kept apart from byteSource.ts so that browser
// bundles never import node:fs.
import { openAsBlob } from 'node:fs';
import { blobSource, type ByteSource } from './byteSource';

/** Opens `path` lazily: nothing is read until `read` is called. */
export async function fileSource(path: string): Promise<ByteSource> {
  return blobSource(await openAsBlob(path), path);
}
