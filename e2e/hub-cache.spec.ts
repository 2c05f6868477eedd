// Loading a model by Hub repo id from a real local HTTP server that serves the Hub's URL layout
// (/{repo}/resolve/{revision}/{file}), in Chromium through the engine worker: progress while
// downloading, then a second load after the server is gone comes from Cache Storage.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';

const MODEL_DIR = join(import.meta.dirname, '../src/model/fixtures/tiny-qwen2');

function serveHub(): Promise<{ server: Server; endpoint: string; hits: string[] }> {
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
      resolve({ server, endpoint: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, hits });
    }),
  );
}

test('a Hub model downloads with progress and loads again offline from the cache', async ({ page }) => {
  const hub = await serveHub();
  await page.goto('/cli.html');
  await page.waitForFunction(() => window.whetstoneCli !== undefined);
  expect(await page.evaluate(async () => (await window.whetstoneCli!.engine.init()).state)).toBe('ready');

  const load = (endpoint: string) =>
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
    }, endpoint);

  const first = await load(hub.endpoint);
  expect(first.info.hfArchitecture).toBe('Qwen2ForCausalLM');
  expect(first.events.some((e) => e.file === 'model.safetensors' && e.fromCache === false && e.bytesDone > 0)).toBe(true);
  expect(hub.hits).toContain('/test-org/tiny-qwen2/resolve/main/config.json');

  await new Promise<void>((r) => hub.server.close(() => r()));
  const second = await load(hub.endpoint);
  expect(second.info.hfArchitecture).toBe('Qwen2ForCausalLM');
  expect(second.events.filter((e) => e.file === 'model.safetensors').every((e) => e.fromCache)).toBe(true);
  const text = await page.evaluate(() =>
    window.whetstoneCli!.engine.generate({ prompt: 'hello', chat: false, useAdapter: false, sampling: { maxTokens: 3, temperature: 0, topK: 0, topP: 1, seed: 0, greedy: true } }),
  );
  expect(typeof text).toBe('string');
});

test('a missing Hub file is reported by name', async ({ page }) => {
  const hub = await serveHub();
  await page.goto('/cli.html');
  await page.waitForFunction(() => window.whetstoneCli !== undefined);
  await page.evaluate(async () => (await window.whetstoneCli!.engine.init()).state);
  const message = await page.evaluate(
    (ep) =>
      window
        .whetstoneCli!.engine.loadModel({ kind: 'hub', repo: 'test-org/other-model', revision: 'main', endpoint: ep })
        .then(() => 'loaded')
        .catch((e: Error) => e.message),
    hub.endpoint,
  );
  hub.server.close();
  expect(message).toMatch(/config\.json was not found .*404/);
});
