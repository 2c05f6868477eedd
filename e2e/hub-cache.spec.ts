// Loading a model by Hub repo id from a real local HTTP server that serves the Hub's URL layout
// (/{repo}/resolve/{revision}/{file}), in Chromium through the engine worker: progress while
// downloading, then a second load comes from Cache Storage while the "network" is the worst kind
// of offline: the port accepts connections and never answers (flaky Wi-Fi, a captive portal).
// A cached model must load without asking it anything; a model that is not cached fails after a
// bounded wait with a message naming the file and the server (before, such a load never returned).
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { within } from './lib/wait';

const MODEL_DIR = join(import.meta.dirname, '../src/model/fixtures/tiny-qwen2');
/** the longest any one engine call below may take on a busy machine (they take 0.1-2 s idle) */
const ENGINE_CALL_MS = 60_000;

function serveHub(): Promise<{ server: Server; endpoint: string; port: number; hits: string[] }> {
  const files = new Map(readdirSync(MODEL_DIR).map((f) => [f, readFileSync(join(MODEL_DIR, f))]));
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.setHeader('access-control-allow-origin', '*');
    const m = /^\/test-org\/tiny-qwen2\/resolve\/main\/(.+)$/.exec(req.url ?? '');
    const body = m ? files.get(decodeURIComponent(m[1])) : undefined;
    if (!body) return void res.writeHead(404).end('Entry not found');
    res.writeHead(200, { 'content-length': String(body.length), 'content-type': 'application/octet-stream' }).end(body);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      resolve({ server, endpoint: `http://127.0.0.1:${port}`, port, hits });
    }),
  );
}

/**
 * Stops the server at once. close() alone waits for every connection to end, and the browser may
 * hold one it opened and never used (a spare from its socket pool) for as long as it likes.
 */
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

async function openCli(page: Page) {
  await page.goto('/cli.html');
  await page.waitForFunction(() => window.whetstoneCli !== undefined, null, { timeout: 60_000 });
  expect(await within('the engine to start (engine.init)', ENGINE_CALL_MS, page.evaluate(async () => (await window.whetstoneCli!.engine.init()).state))).toBe('ready');
}

function loadHub(page: Page, endpoint: string, what: string) {
  return within(
    what,
    ENGINE_CALL_MS,
    page.evaluate(async (ep) => {
      const cli = window.whetstoneCli!;
      const events: { file?: string; fromCache?: boolean; bytesDone: number }[] = [];
      const info = await cli.engine.loadModel(
        { kind: 'hub', repo: 'test-org/tiny-qwen2', revision: 'main', endpoint: ep },
        cli.proxy((e: { phase: string; file?: string; fromCache?: boolean; bytesDone: number }) => {
          if (e.phase === 'download') events.push({ file: e.file, fromCache: e.fromCache, bytesDone: e.bytesDone });
        }),
      );
      return { info, events };
    }, endpoint),
  );
}

test('a Hub model downloads with progress and loads again offline from the cache', async ({ page }) => {
  const hub = await serveHub();
  await openCli(page);

  const first = await loadHub(page, hub.endpoint, 'the first Hub load (downloading)');
  expect(first.info.hfArchitecture).toBe('Qwen2ForCausalLM');
  expect(first.events.some((e) => e.file === 'model.safetensors' && e.fromCache === false && e.bytesDone > 0)).toBe(true);
  expect(hub.hits).toContain('/test-org/tiny-qwen2/resolve/main/config.json');

  // Offline: the same address now accepts connections and never answers.
  await stopServer(hub.server);
  const hole = await blackHole(hub.port);
  try {
    const second = await loadHub(page, hub.endpoint, 'the second Hub load (offline, from Cache Storage)');
    expect(second.info.hfArchitecture).toBe('Qwen2ForCausalLM');
    expect(second.events.filter((e) => e.file === 'model.safetensors').every((e) => e.fromCache)).toBe(true);
    // nothing asked of the network: no revalidation, not even for the files the model lacks
    expect(second.events.length).toBeGreaterThan(0);
    expect(second.events.every((e) => e.fromCache)).toBe(true);
    expect(hole.requests).toEqual([]);
    const text = await within(
      'generation with the model loaded offline',
      ENGINE_CALL_MS,
      page.evaluate(() =>
        window.whetstoneCli!.engine.generate({ prompt: 'hello', chat: false, useAdapter: false, sampling: { maxTokens: 3, temperature: 0, topK: 0, topP: 1, seed: 0, greedy: true } }),
      ),
    );
    expect(typeof text).toBe('string');
  } finally {
    await hole.close();
  }
});

test('offline with a connection that is accepted and never answered, a model not in the cache fails naming the file', async ({ page }) => {
  const hub = await serveHub();
  await stopServer(hub.server);
  const hole = await blackHole(hub.port);
  try {
    await openCli(page);
    const message = await within(
      'the load of a model that is not cached, from a server that never answers',
      ENGINE_CALL_MS,
      page.evaluate(
        (ep) =>
          window
            .whetstoneCli!.engine.loadModel({ kind: 'hub', repo: 'test-org/not-cached', revision: 'main', endpoint: ep, timeoutMs: 2000 })
            .then(() => 'loaded')
            .catch((e: Error) => e.message),
        hub.endpoint,
      ),
    );
    expect(message).toMatch(/^No answer from 127\.0\.0\.1:\d+ for config\.json in 2 s: the connection may be down.*Check your connection/);
    // it asked, once per connection the browser made, for the first file and waited no further
    expect(hole.requests.length).toBeGreaterThan(0);
    expect(hole.requests.every((r) => r.startsWith('GET /test-org/not-cached/resolve/main/config.json ')), hole.requests.join('\n')).toBe(true);
  } finally {
    await hole.close();
  }
});

test('a missing Hub file is reported by name', async ({ page }) => {
  const hub = await serveHub();
  await openCli(page);
  const message = await within(
    'the load of a repo the Hub does not have',
    ENGINE_CALL_MS,
    page.evaluate(
      (ep) =>
        window
          .whetstoneCli!.engine.loadModel({ kind: 'hub', repo: 'test-org/other-model', revision: 'main', endpoint: ep })
          .then(() => 'loaded')
          .catch((e: Error) => e.message),
      hub.endpoint,
    ),
  );
  await stopServer(hub.server);
  expect(message).toMatch(/config\.json was not found .*404/);
});
