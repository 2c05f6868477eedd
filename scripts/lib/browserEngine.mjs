// Runs the studio's engine worker in headless Chromium for the command-line tools (generate,
// finetune): the same worker code, the same kernels, on whatever WebGPU adapter the browser has
// (SwiftShader here, a real GPU where there is one).
//
// Runs persist in a profile folder of the CLI's own (default ~/.cache/whetstone-cli, or --profile
// DIR): a persistent Chromium user-data-dir, served from a fixed origin (a port derived from the
// folder), so that IndexedDB checkpoints and the runs' datasets in OPFS survive between
// invocations, exactly as they survive closing the studio's tab.
//
// Local files are served to the page by a tiny middleware under /__cli/file/<id>, only for the
// paths the command registered, and the page hands results back through exposed functions.
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { chromium } from '@playwright/test';
import { createServer } from 'vite';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.mjs';
import { UsageError } from './cli.mjs';

/** The profile folder: --profile, else $WHETSTONE_CLI_PROFILE, else ~/.cache/whetstone-cli. */
export function profileDir(flag) {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return resolve(flag ?? process.env.WHETSTONE_CLI_PROFILE ?? join(cache, 'whetstone-cli'));
}

/** The port of a profile's origin (storage is per origin, so it must not change between runs). */
export function profilePort(dir) {
  let h = 0x811c9dc5;
  for (let i = 0; i < dir.length; i++) h = Math.imul(h ^ dir.charCodeAt(i), 0x01000193) >>> 0;
  return 20000 + (h % 30000);
}

export async function startBrowserEngine({ profile, quiet = false } = {}) {
  const dir = profileDir(profile);
  mkdirSync(dir, { recursive: true });
  const port = profilePort(dir);
  const files = new Map();
  const server = await createServer({
    configFile: 'vite.config.ts',
    // the profile's own dependency cache: another dev server re-optimizing node_modules/.vite
    // cannot reload this page under a run
    cacheDir: join(dir, 'vite'),
    logLevel: 'silent',
    clearScreen: false,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false },
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
            res.setHeader('content-length', String(statSync(path).size));
            createReadStream(path).pipe(res);
          });
        },
      },
    ],
  });
  try {
    await server.listen();
  } catch (e) {
    await server.close().catch(() => {});
    if (e?.code === 'EADDRINUSE' || /already in use/i.test(e?.message ?? '')) {
      throw new Error(
        `port ${port}, which the profile ${dir} is served from, is in use: another whetstone command with this profile is running (wait for it), ` +
          'or another program took the port (choose another folder with --profile DIR).',
      );
    }
    throw e;
  }
  const base = `http://127.0.0.1:${port}`;
  let context;
  try {
    context = await chromium.launchPersistentContext(join(dir, 'chromium'), {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
      headless: true,
      // Ctrl-C pauses the run (the command handles it); the browser must live until it is saved
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (e) {
    await server.close().catch(() => {});
    const locked = /ProcessSingleton|SingletonLock|profile.*in use/i.test(e?.message ?? '');
    throw new Error(locked ? `the profile ${dir} is in use by another whetstone command: wait for it, or pass --profile DIR.` : `Chromium did not start: ${e?.message?.split('\n')[0]}`);
  }
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (!quiet && (m.type() === 'error' || m.type() === 'warning')) process.stderr.write(`[browser ${m.type()}] ${m.text()}\n`);
  });
  page.on('pageerror', (e) => process.stderr.write(`[browser error] ${e.message}\n`));
  await page.goto(`${base}/cli.html`);
  await page.waitForFunction(() => window.whetstoneCli !== undefined, null, { timeout: 120_000 });

  let nextId = 0;
  return {
    page,
    profile: dir,
    /** Make a local file readable by the page; returns the URL the page fetches. */
    serveFile(path) {
      if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${path}: no such file`);
      const id = `${nextId++}-${basename(path)}`;
      files.set(id, path);
      return `/__cli/file/${encodeURIComponent(id)}`;
    },
    async close() {
      await context.close().catch(() => {});
      await server.close().catch(() => {});
    },
  };
}
