// Model folders fetched over HTTP: a plain base URL (the bundled demo model) or the Hugging Face
// Hub layout {endpoint}/{repo}/resolve/{revision}/{file}. Downloads report progress, are checked
// against Content-Length, and complete files go into Cache Storage so a second load works offline.
// Every wait on the network (and on the browser's cache) is bounded: a connection that is
// accepted and never answered (flaky Wi-Fi, a captive portal, a stuck proxy) is an error naming
// the file and the server, never a load that does not return.
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
  /**
   * The longest wait, in ms, for a server to answer a request, for the next bytes of a download,
   * and for the cache to look a file up or store it. DEFAULT_NETWORK_TIMEOUT_MS when omitted.
   */
  timeoutMs?: number;
}

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';
/** Long enough for a slow Hub or a busy machine; short enough that a dead connection is named before the user gives up. */
export const DEFAULT_NETWORK_TIMEOUT_MS = 30_000;
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

class TimedOut extends Error {}

/** `work`, or a TimedOut rejection once `ms` pass without it settling (the timer does not outlive it). */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimedOut()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const seconds = (ms: number) => `${ms >= 10_000 ? Math.round(ms / 1000) : Math.round(ms / 100) / 10} s`;

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** The cached answer for `url`, or undefined when there is none or the cache does not answer in time. */
async function fromCache(cache: Cache | null | undefined, url: string, ms: number): Promise<Response | undefined> {
  if (!cache) return undefined;
  try {
    return await within(cache.match(url), ms);
  } catch {
    // a cache that fails or does not answer is a miss: the network (bounded too) is asked instead
    return undefined;
  }
}

/** Best effort: a file that could not be cached is downloaded again next time. */
async function toCache(cache: Cache | null | undefined, url: string, res: Response, ms: number): Promise<void> {
  if (!cache) return;
  await within(cache.put(url, res), ms).catch(() => {});
}

/** One file, from the cache when it is there (and cached once downloaded); null: an optional file the server does not have. */
export async function download(url: string, file: string, opts: RemoteOptions, required: boolean): Promise<Blob | null> {
  const ms = opts.timeoutMs ?? DEFAULT_NETWORK_TIMEOUT_MS;
  const cached = await fromCache(opts.cache, url, ms);
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
  // aborts the request when a wait runs out (and when the caller's signal does)
  const abort = new AbortController();
  const onAbort = () => abort.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await fetchFile(url, file, opts, required, doFetch, abort, ms);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

async function fetchFile(
  url: string,
  file: string,
  opts: RemoteOptions,
  required: boolean,
  doFetch: typeof fetch,
  abort: AbortController,
  ms: number,
): Promise<Blob | null> {
  let res: Response;
  try {
    res = await within(doFetch(url, { signal: abort.signal }), ms);
  } catch (e) {
    if (e instanceof TimedOut) {
      abort.abort();
      throw new DownloadError(
        `No answer from ${hostOf(url)} for ${file} in ${seconds(ms)}: the connection may be down, or a proxy or captive portal is holding it. ` +
          'Check your connection and try again; files already downloaded stay cached.',
      );
    }
    throw new DownloadError(`Could not reach ${url} (${(e as Error).message}). Check the address and your connection; files already downloaded stay cached.`);
  }
  // Single-page-app servers (Vite's dev server among them) answer unknown paths with index.html
  // and status 200: an HTML page where a model file should be means the file is not there.
  const htmlFallback = res.ok && (res.headers.get('content-type') ?? '').includes('text/html') && !file.endsWith('.html');
  if ((htmlFallback || res.status === 404) && !required) {
    void res.body?.cancel().catch(() => {});
    // remembered as absent either way, so an offline load does not ask for it again
    await toCache(opts.cache, url, new Response(null, { status: 404, statusText: 'Not Found' }), ms);
    return null;
  }
  if (res.status === 404 || res.status === 401 || res.status === 403 || htmlFallback) {
    void res.body?.cancel().catch(() => {});
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
  const soFar = () => `${done}${total ? ` of ${total}` : ''} bytes`;
  try {
    for (;;) {
      const r = await within(reader.read(), ms);
      if (r.done) break;
      chunks.push(r.value as Uint8Array<ArrayBuffer>);
      done += r.value.length;
      opts.onProgress?.({ file, bytesDone: done, bytesTotal: total, fromCache: false });
    }
  } catch (e) {
    if (e instanceof TimedOut) {
      abort.abort();
      void reader.cancel().catch(() => {});
      throw new DownloadError(
        `The download of ${file} from ${hostOf(url)} stalled: no data for ${seconds(ms)} after ${soFar()}. ` +
          'Check your connection and try again: completed files are cached and will not be downloaded twice.',
      );
    }
    throw new DownloadError(
      `The download of ${file} was interrupted after ${soFar()} (${(e as Error).message}). ` + 'Try again: completed files are cached and will not be downloaded twice.',
    );
  }
  if (total !== null && done !== total) {
    throw new DownloadError(`The download of ${file} stopped after ${done} of ${total} bytes. Try again: completed files are cached.`);
  }
  const blob = new Blob(chunks);
  await toCache(opts.cache, url, new Response(blob, { headers: { 'content-length': String(blob.size) } }), ms);
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
