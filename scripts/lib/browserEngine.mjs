// Runs the studio's engine worker in headless Chromium for the command-line tools (generate,
// finetune, bench): the same worker code, the same kernels, on whatever WebGPU adapter the
// browser has (SwiftShader here, a real GPU where there is one).
//
// Local files are served to the page by a tiny middleware under /__cli/file/<id>, only for the
// paths the command registered, and the page hands results back through exposed functions.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { chromium } from '@playwright/test';
import { createServer } from 'vite';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.mjs';


export async function startBrowserEngine({ quiet = false } = {}) {
  const files = new Map();
  const server = await createServer({
    configFile: 'vite.config.ts',
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false },
    plugins: [
      {
        name: 'whetstone-cli-files',
        configureServer(s) {
          s.middlewares.use('/__cli/file/', (req, res) => {
            const id = decodeURIComponent((req.url ?? '').replace(/^\//, '').split('?')[0]);
            const path = files.get(id);
            if (!path) {
              res.statusCode = 404;
              res.end('not registered');
              return;
            }
            res.setHeader('content-type', 'application/octet-stream');
            res.end(readFileSync(path));
          });
        },
      },
    ],
  });
  await server.listen();
  const address = server.httpServer.address();
  const base = `http://127.0.0.1:${address.port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
  });
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (!quiet && (m.type() === 'error' || m.type() === 'warning')) process.stderr.write(`[browser ${m.type()}] ${m.text()}\n`);
  });
  page.on('pageerror', (e) => process.stderr.write(`[browser error] ${e.message}\n`));
  await page.goto(`${base}/cli.html`);
  await page.waitForFunction(() => window.whetstoneCli !== undefined, null, { timeout: 60_000 });

  let nextId = 0;
  return {
    page,
    /** Make a local file readable by the page; returns the URL the page fetches. */
    serveFile(path) {
      if (!existsSync(path) || !statSync(path).isFile()) throw new Error(`${path}: no such file`);
      const id = `${nextId++}-${basename(path)}`;
      files.set(id, path);
      return `/__cli/file/${encodeURIComponent(id)}`;
    },
    async close() {
      await browser.close().catch(() => {});
      await server.close().catch(() => {});
    },
  };
}

/** A one-line terminal progress bar: `label [#####.....] 45% text`. */
export function progressLine(label, fraction, text = '') {
  const width = 28;
  const f = Math.max(0, Math.min(1, fraction));
  const filled = Math.round(f * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  const line = `${label} [${bar}] ${(f * 100).toFixed(0).padStart(3)}% ${text}`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(100).slice(0, 100)}`);
  else process.stderr.write(`${line}\n`);
}

export function endProgress() {
  if (process.stderr.isTTY) process.stderr.write('\n');
}
