// Hub datasets through the Hub's Parquet listing, against a fetch that answers as the Hub does
// (real Response objects with the Hub's status codes; e2e/hub-dataset.spec.ts runs the same code
// in Chromium against a real HTTP server, with Cache Storage).

import { describe, expect, test } from 'vitest';
import { parquetBytes } from '../../data/testing/parquetFiles';
import { hubParquetListUrl, hubSplitFiles, listHubDataset } from './hubDataset';

const EP = 'http://hub.test';

async function hub() {
  const shard = async (from: number) =>
    parquetBytes([{ name: 'text', type: 'string' }], Array.from({ length: 10 }, (_, i) => ({ text: `row ${from + i}` })));
  const files = new Map<string, Uint8Array<ArrayBuffer>>([
    [`${EP}/api/datasets/org/chat/parquet/default/train/0.parquet`, await shard(0)],
    [`${EP}/api/datasets/org/chat/parquet/default/train/1.parquet`, await shard(10)],
    [`${EP}/api/datasets/org/chat/parquet/default/train/2.parquet`, await shard(20)],
  ]);
  const json: Record<string, unknown> = {
    [`${EP}/api/datasets/org/chat/parquet`]: { default: { train: [...files.keys()], test: [`${EP}/x/0.parquet`] }, extra: { validation: [`${EP}/y/0.parquet`] } },
    [`${EP}/api/datasets/org/chat/parquet/default/train`]: [...files.keys()],
    [`${EP}/api/datasets/org/empty/parquet`]: {},
  };
  const asked: string[] = [];
  const fetchImpl = (async (input: RequestInfo | URL) => {
    const url = String(input);
    asked.push(url);
    if (url.includes('/org/gated/')) return new Response('{"error":"Access to dataset org/gated is restricted."}', { status: 401 });
    const f = files.get(url);
    if (f) return new Response(f, { headers: { 'content-length': String(f.length) } });
    if (url in json) return new Response(JSON.stringify(json[url]), { headers: { 'content-type': 'application/json' } });
    return new Response('{"error":"Repository not found"}', { status: 404 });
  }) as typeof fetch;
  return { fetch: fetchImpl, asked };
}

describe('Hub datasets', () => {
  test('configs and splits come from the Parquet listing of the configured endpoint', async () => {
    const h = await hub();
    const listing = await listHubDataset('org/chat', { endpoint: EP, fetch: h.fetch, cache: null });
    expect(listing).toEqual({
      repo: 'org/chat',
      configs: [
        { name: 'default', splits: [{ name: 'train', files: 3 }, { name: 'test', files: 1 }] },
        { name: 'extra', splits: [{ name: 'validation', files: 1 }] },
      ],
    });
    expect(h.asked).toEqual([`${EP}/api/datasets/org/chat/parquet`]);
    expect(hubParquetListUrl('org/chat', undefined, 'my config', 'train')).toBe('https://huggingface.co/api/datasets/org/chat/parquet/my%20config/train');
  });

  test("a split's files download in order with progress; a row limit stops the downloads", async () => {
    const h = await hub();
    const events: { file?: string; fileIndex?: number; files?: number; bytesDone: number; bytesTotal: number }[] = [];
    const all = await hubSplitFiles('org/chat', 'default', 'train', { endpoint: EP, fetch: h.fetch, cache: null, onProgress: (e) => events.push(e) });
    expect(all.map((f) => f.name)).toEqual([
      'org_chat-default-train-00000-of-00003.parquet',
      'org_chat-default-train-00001-of-00003.parquet',
      'org_chat-default-train-00002-of-00003.parquet',
    ]);
    expect(events.at(-1)).toMatchObject({ fileIndex: 2, files: 3 });
    expect(events.at(-1)!.bytesDone).toBe(all[2].size);
    expect(events.at(-1)!.bytesTotal).toBe(all[2].size);

    const h2 = await hub();
    const some = await hubSplitFiles('org/chat', 'default', 'train', { endpoint: EP, fetch: h2.fetch, cache: null, maxRows: 15 });
    expect(some).toHaveLength(2);
    expect(h2.asked.filter((u) => u.endsWith('.parquet'))).toHaveLength(2);
  });

  test('gated, missing, unconverted and misspelt datasets say so and what to do', async () => {
    const h = await hub();
    const opts = { endpoint: EP, fetch: h.fetch, cache: null };
    await expect(listHubDataset('org/gated', opts)).rejects.toThrow(/^org\/gated is gated or private \(401\).*Accept the terms on http:\/\/hub\.test\/datasets\/org\/gated.*drop them in/);
    await expect(listHubDataset('org/nothing', opts)).rejects.toThrow(/^No dataset org\/nothing on hub\.test \(404\)\. Check the repo id/);
    await expect(listHubDataset('org/empty', opts)).rejects.toThrow(/^org\/empty has no Parquet files on the Hub yet/);
    await expect(listHubDataset('https://huggingface.co/datasets/org/chat', opts)).rejects.toThrow(/is not a dataset repo id\. Write it as owner\/name/);
    await expect(hubSplitFiles('org/chat', 'default', 'nope', opts)).rejects.toThrow(/^org\/chat has no config "default" with a split "nope" on the Hub \(404\)/);
  });
});
