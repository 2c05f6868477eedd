// A Hub dataset by repo id in the real studio: a local HTTP server answers as the Hugging Face Hub
// does (the Parquet listing /api/datasets/{repo}/parquet[/{config}/{split}], each shard URL
// redirecting to refs/convert/parquet, a gated repo answering 401), with Parquet files written
// here by a real writer. The user lists configs and splits, picks one, the shards download with
// progress and an ETA (sent slowly, in pieces), the dataset is read and trained on; then the page is reloaded
// while the server's port accepts connections and never answers (see hub-cache.spec.ts): the
// listing and the files come from Cache Storage without asking it anything.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { parquetBytes } from '../src/data/testing/parquetFiles';
import { loadDemo, openStudio } from './lib/studio';
import { within } from './lib/wait';

const STORIES = readFileSync(join(import.meta.dirname, '../public/datasets/sample.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { text: string });
const REPO = 'test-org/stories';

async function hubFiles() {
  const text = [{ name: 'text', type: 'string' as const }];
  // train: two shards (150 + 150 stories, 50-row row groups); test: one; config "tiny": one split
  return new Map<string, Uint8Array>([
    ['default/train/0000.parquet', await parquetBytes(text, STORIES.slice(0, 150), { rowGroupSize: 50 })],
    ['default/train/0001.parquet', await parquetBytes(text, STORIES.slice(150), { codec: 'GZIP', rowGroupSize: 50 })],
    ['default/test/0000.parquet', await parquetBytes(text, STORIES.slice(0, 20))],
    ['tiny/train/0000.parquet', await parquetBytes(text, STORIES.slice(0, 10))],
  ]);
}

async function serveHub() {
  const files = await hubFiles();
  const hits: string[] = [];
  let endpoint = '';
  const shardUrl = (path: string) => {
    const [config, split, file] = path.split('/');
    return `${endpoint}/api/datasets/${REPO}/parquet/${config}/${split}/${Number(file.slice(0, 4))}.parquet`;
  };
  const listing = () => {
    const out: Record<string, Record<string, string[]>> = {};
    for (const path of files.keys()) {
      const [config, split] = path.split('/');
      ((out[config] ??= {})[split] ??= []).push(shardUrl(path));
    }
    return out;
  };
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    hits.push(url);
    res.setHeader('access-control-allow-origin', '*');
    const json = (status: number, body: unknown) => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.startsWith('/api/datasets/test-org/gated/')) return json(401, { error: 'Access to dataset test-org/gated is restricted. You must be authenticated to access it.' });
    if (url === `/api/datasets/${REPO}/parquet`) return json(200, listing());
    let m = new RegExp(`^/api/datasets/${REPO}/parquet/([^/]+)/([^/]+)$`).exec(url);
    if (m) {
      const urls = listing()[decodeURIComponent(m[1])]?.[decodeURIComponent(m[2])];
      return urls ? json(200, urls) : json(404, { error: 'Not found' });
    }
    m = new RegExp(`^/api/datasets/${REPO}/parquet/([^/]+)/([^/]+)/(\\d+)\\.parquet$`).exec(url);
    if (m) {
      // as the Hub does: the shard index redirects to the file on the refs/convert/parquet branch
      const file = `${m[1]}/${m[2]}/${m[3].padStart(4, '0')}.parquet`;
      return void res.writeHead(302, { location: `/datasets/${REPO}/resolve/refs%2Fconvert%2Fparquet/${file}` }).end();
    }
    m = new RegExp(`^/datasets/${REPO}/resolve/refs%2Fconvert%2Fparquet/(.+)$`).exec(url);
    const body = m ? files.get(m[1]) : undefined;
    if (!body) return json(404, { error: 'Repository not found' });
    // sent in 8 pieces, 250 ms apart, so the download's progress is there to be seen
    res.writeHead(200, { 'content-length': String(body.length), 'content-type': 'application/octet-stream' });
    const piece = Math.ceil(body.length / 8);
    let at = 0;
    const send = () => {
      res.write(body.subarray(at, at + piece));
      at += piece;
      if (at < body.length) setTimeout(send, 250);
      else res.end();
    };
    send();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  endpoint = `http://127.0.0.1:${port}`;
  return { server, endpoint, port, hits };
}

function stopServer(server: Server): Promise<void> {
  const closed = new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections();
  return within('the test Hub server to close', 10_000, closed);
}

/** A TCP server on `port` that accepts every connection and never sends a byte. */
async function blackHole(port: number) {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const hole = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('data', (d) => requests.push(d.toString('latin1').split('\r\n')[0]));
    socket.on('close', () => sockets.delete(socket));
  });
  await within(`a black-hole server to listen on port ${port}`, 10_000, new Promise<void>((r) => hole.listen(port, '127.0.0.1', r)));
  return {
    requests,
    close: () => {
      for (const s of sockets) s.destroy();
      return within('the black-hole server to close', 10_000, new Promise<void>((r) => hole.close(() => r())));
    },
  };
}

async function listAndPick(page: Page, endpoint: string, repo: string) {
  const form = page.getByRole('form', { name: 'Dataset from Hugging Face' });
  await form.getByLabel('Dataset repo id').fill(repo);
  await form.getByLabel('Hub endpoint').fill(endpoint);
  await form.getByRole('button', { name: 'List configs and splits' }).click();
  return form;
}

test('a Hub dataset: list configs and splits, download with progress, train, then load again offline from the cache', async ({ page }) => {
  test.setTimeout(300_000);
  const hub = await serveHub();
  const errors = await openStudio(page);
  await loadDemo(page);

  // a gated dataset says so and what to do
  const gated = await listAndPick(page, hub.endpoint, 'test-org/gated');
  await expect(gated.getByTestId('hub-dataset-error')).toContainText(/test-org\/gated is gated or private \(401\).*Accept the terms on http:\/\/127\.0\.0\.1:\d+\/datasets\/test-org\/gated/);

  const form = await listAndPick(page, hub.endpoint, REPO);
  const config = form.getByLabel('Config');
  await expect(config).toBeVisible();
  expect(await config.locator('option').allTextContents()).toEqual(['default', 'tiny']);
  expect(await form.getByLabel('Split').locator('option').allTextContents()).toEqual(['train (2 Parquet files)', 'test (1 Parquet file)']);
  await form.getByLabel('Split').selectOption('train');
  await form.getByRole('button', { name: 'Download and read' }).click();

  await expect(page.getByRole('status').filter({ hasText: /Downloading file 1 of 2: .*\(\d+%\) · ETA \d/ })).toBeVisible({ timeout: 30_000 });
  await expect(page.getByRole('status').filter({ hasText: /Downloading file 2 of 2: .*\(\d+%\)/ })).toBeVisible({ timeout: 30_000 });
  const info = page.getByTestId('dataset-info');
  await expect(info).toBeVisible({ timeout: 60_000 });
  await expect(info).toContainText(`Loaded ${REPO} (default/train)`);
  await expect(info).toContainText('Every row could be used.');
  const loaded = await info.locator('.loaded').textContent();
  expect(hub.hits).toContain(`/api/datasets/${REPO}/parquet`);
  expect(hub.hits).toContain(`/datasets/${REPO}/resolve/refs%2Fconvert%2Fparquet/default/train/0001.parquet`);

  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Max steps').fill('2');
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Evaluate every (steps)').fill('0');
  const run = page.getByRole('region', { name: 'Run' });
  await page.getByTestId('start-training').click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 180_000 });

  // offline: the Hub's port now accepts connections and never answers
  await stopServer(hub.server);
  const hole = await blackHole(hub.port);
  try {
    await page.reload();
    await expect(page.getByTestId('adapter-name')).not.toBeEmpty({ timeout: 60_000 });
    await loadDemo(page);
    const again = await listAndPick(page, hub.endpoint, REPO);
    await again.getByLabel('Split').selectOption('train');
    await again.getByRole('button', { name: 'Download and read' }).click();
    await expect(info).toBeVisible({ timeout: 60_000 });
    expect(await info.locator('.loaded').textContent()).toBe(loaded);
    expect(hole.requests).toEqual([]);
  } finally {
    await hole.close();
  }
  expect(errors).toEqual([]);
});
