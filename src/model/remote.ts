// Model folders fetched over HTTP: a plain base URL (the bundled demo model) or the Hugging Face
// Hub layout {endpoint}/{repo}/resolve/{revision}/{file}. Downloads report progress, are checked
// against Content-Length, and complete files go into Cache Storage so a second load works offline.
import { blobSource, type ByteSource } from '../io/byteSource';
import { ModelFolderError, type ModelFolder } from './folder';

export interface DownloadProgress {
  file: string;
  bytesDone: number;
  bytesTotal: number | null;
  fromCache: boolean;
}

export interface RemoteOptions {
  fetch?: typeof fetch;
  /** a Cache Storage cache; omitted in Node */
  cache?: Cache | null;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';
const REQUIRED = ['config.json'];
const OPTIONAL = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'chat_template.jinja', 'special_tokens_map.json'];

export class DownloadError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

async function download(url: string, file: string, opts: RemoteOptions, required: boolean): Promise<Blob | null> {
  const cached = opts.cache ? await opts.cache.match(url) : undefined;
  if (cached?.status === 404 && !required) {
    // remembered absence of an optional file (e.g. no shard index), so offline loads still work
    opts.onProgress?.({ file, bytesDone: 0, bytesTotal: 0, fromCache: true });
    return null;
  }
  if (cached?.ok) {
    const blob = await cached.blob();
    opts.onProgress?.({ file, bytesDone: blob.size, bytesTotal: blob.size, fromCache: true });
    return blob;
  }
  const doFetch = opts.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, { signal: opts.signal });
  } catch (e) {
    throw new DownloadError(`Could not reach ${url} (${(e as Error).message}). Check the address and your connection; files already downloaded stay cached.`);
  }
  // Single-page-app servers (Vite's dev server among them) answer unknown paths with index.html
  // and status 200: an HTML page where a model file should be means the file is not there.
  const htmlFallback = res.ok && (res.headers.get('content-type') ?? '').includes('text/html') && !file.endsWith('.html');
  if ((htmlFallback || res.status === 404) && !required) {
    await res.body?.cancel();
    if (opts.cache && res.status === 404) await opts.cache.put(url, new Response(null, { status: 404, statusText: 'Not Found' })).catch(() => {});
    return null;
  }
  if (res.status === 404 || res.status === 401 || res.status === 403 || htmlFallback) {
    if (!required) return null;
    throw new DownloadError(
      res.status === 404 || htmlFallback
        ? `${file} was not found at ${url} (404). Check the repo id, the revision and that the model has this file.`
        : `${url} needs authorisation (${res.status}): gated or private models cannot be downloaded without a token.`,
      res.status,
    );
  }
  if (!res.ok || !res.body) throw new DownloadError(`Downloading ${file} failed: HTTP ${res.status} ${res.statusText}. Try again later.`, res.status);
  const lengthHeader = res.headers.get('content-length');
  const total = lengthHeader ? Number(lengthHeader) : null;
  const reader = res.body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let done = 0;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      chunks.push(r.value as Uint8Array<ArrayBuffer>);
      done += r.value.length;
      opts.onProgress?.({ file, bytesDone: done, bytesTotal: total, fromCache: false });
    }
  } catch (e) {
    throw new DownloadError(
      `The download of ${file} was interrupted after ${done}${total ? ` of ${total}` : ''} bytes (${(e as Error).message}). ` +
        'Try again: completed files are cached and will not be downloaded twice.',
    );
  }
  if (total !== null && done !== total) {
    throw new DownloadError(`The download of ${file} stopped after ${done} of ${total} bytes. Try again: completed files are cached.`);
  }
  const blob = new Blob(chunks);
  if (opts.cache) await opts.cache.put(url, new Response(blob, { headers: { 'content-length': String(blob.size) } })).catch(() => {});
  return blob;
}

/** A folder at `baseUrl` (ending with '/'): config.json, the weights it needs, and tokenizer files. */
export async function folderFromUrl(name: string, fileUrl: (file: string) => string, opts: RemoteOptions = {}): Promise<ModelFolder> {
  const files = new Map<string, ByteSource>();
  const get = async (file: string, required: boolean) => {
    const blob = await download(fileUrl(file), file, opts, required);
    if (blob) files.set(file, blobSource(blob, file));
    return blob;
  };
  for (const f of REQUIRED) await get(f, true);
  const index = await get('model.safetensors.index.json', false);
  if (index) {
    let shards: string[];
    try {
      const json = JSON.parse(await index.text()) as { weight_map?: Record<string, string> };
      shards = [...new Set(Object.values(json.weight_map ?? {}))];
    } catch {
      throw new ModelFolderError(`${name}/model.safetensors.index.json is not valid JSON. Download it again.`);
    }
    for (const s of shards) await get(s, true);
  } else {
    await get('model.safetensors', true);
  }
  for (const f of OPTIONAL) await get(f, false);
  return { name, files };
}

export function hubFileUrl(repo: string, revision: string, endpoint = DEFAULT_HUB_ENDPOINT): (file: string) => string {
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) {
    throw new ModelFolderError(`"${repo}" is not a Hugging Face repo id. Use the form owner/name, e.g. HuggingFaceTB/SmolLM2-135M-Instruct.`);
  }
  const base = endpoint.replace(/\/+$/, '');
  return (file) => `${base}/${repo}/resolve/${encodeURIComponent(revision || 'main')}/${file}`;
}
