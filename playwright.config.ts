import { execFileSync } from 'node:child_process';
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './scripts/lib/chromium.mjs';

// A dev server of its own for every run, on a free port, unless E2E_PORT names one: two runs at
// once (two terminals, two checkouts) must not share a server that one of them stops half-way.
// Set here, in the runner, before the test workers start: they inherit it and agree on the port.
if (!process.env.E2E_PORT) {
  const freePort = "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})";
  process.env.E2E_PORT = execFileSync(process.execPath, ['-e', freePort], { encoding: 'utf8' }).trim();
}
const PORT = Number(process.env.E2E_PORT);

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  // Bounds that hold on a busy 2-core machine (SwiftShader shares the CPU with everything else):
  // the longest real-engine tests set their own. Every wait inside a test is bounded too, so a
  // test that cannot go on fails at the step it waited for, with that step's name.
  timeout: 180_000,
  expect: { timeout: 60_000 },
  // CI gets a clear failure well before its 60-minute limit (idle, the suite takes 6 minutes).
  globalTimeout: process.env.CI ? 40 * 60_000 : 0,
  // One browser at a time: SwiftShader already uses every core.
  fullyParallel: false,
  workers: 1,
  reporter: process.env.CI ? [['list'], ['html', { open: 'never' }]] : 'list',
  outputDir: 'test-results',
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    // a click, fill or page load that cannot happen fails naming its target, not at the test's end
    actionTimeout: 30_000,
    navigationTimeout: 60_000,
    launchOptions: {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
    },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  webServer: {
    // e2e/vite.config.ts: the project's config without hot reloading (see there why)
    command: `npx vite --config e2e/vite.config.ts --host 127.0.0.1 --port ${PORT} --strictPort`,
    url: `http://127.0.0.1:${PORT}`,
    reuseExistingServer: !process.env.CI,
    timeout: 120_000,
  },
});
