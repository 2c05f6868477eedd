// Hugging Face Hub datasets by repo id, through the Hub's Parquet conversion (every public
// dataset has one, on the refs/convert/parquet branch):
//   GET {endpoint}/api/datasets/{repo}/parquet                  -> { config: { split: [url, ...] } }
//   GET {endpoint}/api/datasets/{repo}/parquet/{config}/{split} -> [url, ...]
// each url ({endpoint}/api/datasets/{repo}/parquet/{config}/{split}/{n}.parquet) redirecting to
// the file. Both answers and the files go through remote.ts's download: Cache Storage first (the
// models' cache), bounded waits, progress, so a second load of the same split works offline.
// Nothing is sent but these GET requests; no token is ever used.

import { parquetFileMetadata } from '../../data';
import { DEFAULT_HUB_ENDPOINT, download, DownloadError, type RemoteOptions } from '../../model/remote';
import type { DatasetProgressEvent, HubDatasetListing } from '../api';

export const HUB_CACHE = 'whetstone-hub-v1';

const REPO_ID = /^[A-Za-z0-9][\w.-]{0,95}\/[A-Za-z0-9][\w.-]{0,95}$/;

export class HubDatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubDatasetError';
  }
}

function checkRepo(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('..')) {
    throw new HubDatasetError(`"${repo}" is not a dataset repo id. Write it as owner/name, e.g. HuggingFaceH4/ultrachat_200k.`);
  }
}

const base = (endpoint?: string) => (endpoint || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
const seg = encodeURIComponent;

export function hubParquetListUrl(repo: string, endpoint?: string, config?: string, split?: string): string {
  const path = config === undefined ? '' : `/${seg(config)}${split === undefined ? '' : `/${seg(split)}`}`;
  return `${base(endpoint)}/api/datasets/${repo}/parquet${path}`;
}

/** The Hub's answer for a dataset it cannot give: what it means and what to do. */
function hubProblem(repo: string, endpoint: string | undefined, e: unknown, notFound?: string): Error {
  if (!(e instanceof DownloadError)) return e instanceof Error ? e : new Error(String(e));
  const page = `${base(endpoint)}/datasets/${repo}`;
  if (e.status === 401 || e.status === 403) {
    return new HubDatasetError(
      `${repo} is gated or private (${e.status}): the Hub gives its files only to signed-in users who accepted its terms, and Whetstone never sends a token. ` +
        `Accept the terms on ${page}, download the split's Parquet files there (Files → refs/convert/parquet) and drop them in the dataset step, or pick another dataset.`,
    );
  }
  if ((e.status === 404 || e.status === 200) && notFound !== undefined) return new HubDatasetError(notFound);
  if (e.status === 404 || e.status === 200) {
    return new HubDatasetError(
      `No dataset ${repo} on ${new URL(page).host} (404). Check the repo id (owner/name, as in the address ${page}); a dataset created minutes ago may not have its Parquet conversion yet.`,
    );
  }
  return e;
}

async function fetchJson(url: string, what: string, repo: string, opts: RemoteOptions & { endpoint?: string }, notFound?: string): Promise<unknown> {
  let blob: Blob | null;
  try {
    blob = await download(url, what, opts, true);
  } catch (e) {
    throw hubProblem(repo, opts.endpoint, e, notFound);
  }
  try {
    return JSON.parse(await blob!.text());
  } catch {
    throw new HubDatasetError(`The Hub's answer for ${repo} (${url}) is not JSON: is ${base(opts.endpoint)} a Hugging Face Hub endpoint?`);
  }
}

/** Configs and their splits, as the Hub's Parquet listing gives them (and the files of each). */
export function parseParquetListing(repo: string, json: unknown): HubDatasetListing {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new HubDatasetError(`The Hub's Parquet listing of ${repo} is not what it should be (an object of configs).`);
  }
  const configs = Object.entries(json as Record<string, unknown>).map(([name, splits]) => ({
    name,
    splits: Object.entries((splits ?? {}) as Record<string, unknown>)
      .filter(([, urls]) => Array.isArray(urls))
      .map(([split, urls]) => ({ name: split, files: (urls as unknown[]).length })),
  }));
  const usable = configs.filter((c) => c.splits.length > 0);
  if (usable.length === 0) {
    throw new HubDatasetError(
      `${repo} has no Parquet files on the Hub yet: its conversion may be pending or may have failed (see the dataset's page). Download its files and drop them in, or try again later.`,
    );
  }
  return { repo, configs: usable };
}

export interface HubDatasetOptions {
  endpoint?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
  cache?: Cache | null;
}

async function openCache(opts: HubDatasetOptions): Promise<Cache | null> {
  if (opts.cache !== undefined) return opts.cache;
  return typeof caches !== 'undefined' ? caches.open(HUB_CACHE) : null;
}

/** The dataset's configs and splits (from the cache when listed before). */
export async function listHubDataset(repo: string, opts: HubDatasetOptions = {}): Promise<HubDatasetListing> {
  checkRepo(repo);
  const cache = await openCache(opts);
  const json = await fetchJson(hubParquetListUrl(repo, opts.endpoint), `the Parquet listing of ${repo}`, repo, { ...opts, cache });
  return parseParquetListing(repo, json);
}

/**
 * The Parquet files of one split, downloaded (or taken from the cache) in order, with progress.
 * With `maxRows`, files stop being downloaded once those already here hold that many rows.
 */
export async function hubSplitFiles(
  repo: string,
  config: string,
  split: string,
  opts: HubDatasetOptions & { maxRows?: number; onProgress?: (e: DatasetProgressEvent) => void; signal?: AbortSignal },
): Promise<(Blob & { name: string })[]> {
  checkRepo(repo);
  const cache = await openCache(opts);
  const listUrl = hubParquetListUrl(repo, opts.endpoint, config, split);
  const net = { endpoint: opts.endpoint, timeoutMs: opts.timeoutMs, fetch: opts.fetch, signal: opts.signal, cache };
  const missing = `${repo} has no config "${config}" with a split "${split}" on the Hub (404). Pick a config and split from the lists.`;
  const json = await fetchJson(listUrl, `the file list of ${repo} ${config}/${split}`, repo, net, missing);
  if (!Array.isArray(json) || json.length === 0 || !json.every((u) => typeof u === 'string')) {
    throw new HubDatasetError(`${repo} has no Parquet files for config "${config}", split "${split}". Pick a config and split from the lists.`);
  }
  const urls = json as string[];
  const files: (Blob & { name: string })[] = [];
  let rows = 0;
  for (let i = 0; i < urls.length; i++) {
    const name = `${repo.replace('/', '_')}-${config}-${split}-${String(i).padStart(5, '0')}-of-${String(urls.length).padStart(5, '0')}.parquet`;
    let blob: Blob | null;
    try {
      blob = await download(urls[i], name, {
        ...net,
        onProgress: (p) =>
          opts.onProgress?.({ phase: 'download', file: name, fileIndex: i, files: urls.length, fromCache: p.fromCache, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal ?? 0 }),
      }, true);
    } catch (e) {
      throw hubProblem(repo, opts.endpoint, e);
    }
    const file = Object.assign(blob!, { name });
    files.push(file);
    if (opts.maxRows !== undefined) {
      rows += Number((await parquetFileMetadata(file)).num_rows);
      if (rows >= opts.maxRows) break;
    }
  }
  return files;
}
