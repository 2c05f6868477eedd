import { expect, test, type Page } from '@playwright/test';
import { downloadOne, loadDemo, loadSample, openStudio } from './lib/studio';

// "Nothing leaves your machine" (README, What happens to your data), checked in the browser: a
// whole journey (demo model, sample dataset, a few training steps, the playground, PEFT and GGUF
// exports) against the real engine asks nothing of any address but the page's own origin, and
// runs under the Content-Security-Policy of index.html without a single violation.

declare global {
  interface Window {
    __cspViolations?: { directive: string; blocked: string }[];
    __inlineRan?: boolean;
  }
}

/** Collects securitypolicyviolation events of the page from its first script on. */
async function recordCspViolations(page: Page) {
  await page.addInitScript(() => {
    const seen: { directive: string; blocked: string }[] = [];
    window.__cspViolations = seen;
    document.addEventListener('securitypolicyviolation', (e) => seen.push({ directive: e.violatedDirective, blocked: e.blockedURI }));
  });
}

function cspDirectives(policy: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of policy.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), values);
  }
  return out;
}

test('a whole journey only talks to the page’s own origin, under the CSP, without violations', async ({ page, context, baseURL }) => {
  const origin = new URL(baseURL!);
  const urls = new Set<string>();
  // The page's requests, and every request of the context (the engine worker's fetches included).
  page.on('request', (r) => urls.add(r.url()));
  context.on('request', (r) => urls.add(r.url()));
  page.on('websocket', (ws) => urls.add(ws.url()));
  await recordCspViolations(page);
  const errors = await openStudio(page);
  await loadDemo(page);
  await loadSample(page);

  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Max steps').fill('4');
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Evaluate every (steps)').fill('2');
  await job.getByLabel('Checkpoint every (steps)').fill('2');
  await expect(job.getByTestId('memory-estimate')).toContainText('Fits on this GPU.');
  const run = page.getByRole('region', { name: 'Run' });
  await run.getByLabel('Run name (optional)').fill('privacy');
  await page.getByTestId('start-training').click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 120_000 });

  const pg = page.getByRole('region', { name: 'Playground' });
  await pg.getByLabel('Prompt', { exact: true }).fill('Once upon a time');
  await pg.getByLabel('Max new tokens').fill('8');
  await pg.getByTestId('generate').click();
  await expect(pg.getByTestId('answer-adapter')).toContainText(/\d+ tokens in/, { timeout: 60_000 });

  const ex = page.getByRole('region', { name: 'Export' });
  const peft = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  expect([...peft.files.keys()].sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  expect((await downloadOne(page, ex.getByRole('button', { name: 'Download GGUF adapter' }))).name).toMatch(/\.gguf$/);
  await expect(page.getByRole('alert')).toHaveCount(0);

  const all = [...urls];
  // The recording saw the engine's own fetches (model files, sample data), so it is complete enough to judge.
  expect(all.some((u) => u.includes('/models/stories260K/model.safetensors')), all.join('\n')).toBe(true);
  expect(all.some((u) => u.includes('/datasets/sample.jsonl')), all.join('\n')).toBe(true);
  const foreign = all.filter((u) => {
    const url = new URL(u);
    if (url.protocol === 'data:' || url.protocol === 'blob:') return false;
    // ws: is the dev server's own reload channel, on the same host and port
    return !['http:', 'ws:'].includes(url.protocol) || url.host !== origin.host;
  });
  expect(foreign).toEqual([]);
  expect(await page.evaluate(() => window.__cspViolations)).toEqual([]);
  expect(errors).toEqual([]);
});

test('the CSP meta tag allows no inline script, and the browser enforces it', async ({ page }) => {
  await recordCspViolations(page);
  await page.goto('/');
  await expect(page.getByTestId('adapter-name')).not.toBeEmpty({ timeout: 60_000 });
  const meta = page.locator('meta[http-equiv="Content-Security-Policy"]');
  await expect(meta).toHaveCount(1);
  const csp = cspDirectives((await meta.getAttribute('content')) ?? '');
  expect(csp.get('default-src')).toEqual(["'self'"]);
  const scriptSrc = csp.get('script-src');
  expect(scriptSrc).toBeDefined();
  expect(scriptSrc).not.toContain("'unsafe-inline'");
  expect(scriptSrc).not.toContain("'unsafe-eval'");
  expect(scriptSrc!.every((s) => s === "'self'" || s === "'wasm-unsafe-eval'"), scriptSrc!.join(' ')).toBe(true);
  expect(csp.get('object-src')).toEqual(["'none'"]);
  // The page as loaded broke no rule...
  expect(await page.evaluate(() => window.__cspViolations)).toEqual([]);
  // ...and an injected inline script is refused, and reported.
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true';
    document.body.appendChild(s);
  });
  await expect.poll(() => page.evaluate(() => window.__cspViolations!.length)).toBeGreaterThan(0);
  expect(await page.evaluate(() => window.__inlineRan)).toBeUndefined();
  expect((await page.evaluate(() => window.__cspViolations!))[0].directive).toMatch(/^script-src/);
});
