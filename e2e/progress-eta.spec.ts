import { expect, test, type Page } from '@playwright/test';
import { loadDemo, openStudio } from './lib/studio';

// Long work shows progress with an ETA computed from the measured rate (src/ui/lib/eta.ts):
// tokenizing a large dataset, and downloading a model on a slow connection.

declare global {
  interface Window {
    __progressTexts?: string[];
  }
}

/** Records every text the progress lines inside `selector` show from now on (window.__progressTexts). */
async function recordProgressTexts(page: Page, selector: string) {
  await page.evaluate((sel) => {
    const seen: string[] = [];
    window.__progressTexts = seen;
    const root = document.querySelector(sel)!;
    const note = () => {
      for (const el of root.querySelectorAll('.progress-text')) if (el.textContent && el.textContent !== seen.at(-1)) seen.push(el.textContent);
    };
    new MutationObserver(note).observe(root, { subtree: true, childList: true, characterData: true });
  }, selector);
}

/** An instruction dataset of about `mb` megabytes. */
function bigJsonl(mb: number): Buffer {
  const rows: string[] = [];
  let size = 0;
  for (let i = 0; size < mb * 1e6; i++) {
    const row = JSON.stringify({ instruction: `Tell a short story about Bob the robot and the moon, number ${i}.`, output: `Bob the robot looked at the moon. ${'The moon was big and bright and Bob was happy. '.repeat(4)}The end of story ${i}.` });
    rows.push(row);
    size += row.length + 1;
  }
  return Buffer.from(rows.join('\n') + '\n');
}

test('tokenizing a large dataset shows its progress with an ETA from the measured rate', async ({ page }) => {
  test.setTimeout(240_000);
  const errors = await openStudio(page);
  await loadDemo(page);
  await recordProgressTexts(page, '#dataset');
  await page.getByLabel('Choose dataset file…').setInputFiles({ name: 'big.jsonl', mimeType: 'application/json', buffer: bigJsonl(2) });
  await expect(page.getByTestId('dataset-info')).toBeVisible({ timeout: 200_000 });
  const texts = await page.evaluate(() => window.__progressTexts!);
  const withEta = texts.filter((t) => /^Reading and tokenizing: .* \(\d+(\.\d)?%\) · ETA (\d+ s|\d+ min \d\d s)$/.test(t));
  expect(withEta.length, `progress lines seen: ${JSON.stringify(texts.slice(0, 5))}…`).toBeGreaterThan(0);
  expect(errors).toEqual([]);
});

test('downloading a model on a slow connection shows the download with an ETA', async ({ page }) => {
  const errors = await openStudio(page);
  // about 250 KB/s: the demo model's 1 MB of weights take a few seconds
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: 250_000, uploadThroughput: 250_000 });
  await recordProgressTexts(page, '#model');
  await loadDemo(page);
  const texts = await page.evaluate(() => window.__progressTexts!);
  const withEta = texts.filter((t) => /^Downloading model\.safetensors: .* · ETA (\d+ s|\d+ min \d\d s)$/.test(t));
  expect(withEta.length, `progress lines seen: ${JSON.stringify(texts.slice(0, 5))}…`).toBeGreaterThan(0);
  expect(errors).toEqual([]);
});

test('exporting the merged model shows the weights being read with an ETA', async ({ page }) => {
  const errors = await openStudio(page);
  await loadDemo(page);
  await page.getByRole('button', { name: 'Use sample dataset' }).click();
  await expect(page.getByTestId('dataset-info')).toBeVisible();
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Max steps').fill('2');
  await job.getByLabel('Evaluate every (steps)').fill('0');
  const run = page.getByRole('region', { name: 'Run' });
  await page.getByTestId('start-training').click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 120_000 });
  await recordProgressTexts(page, '#export');
  const ex = page.getByRole('region', { name: 'Export' });
  const download = page.waitForEvent('download');
  await ex.getByRole('button', { name: 'Download merged model', exact: true }).click();
  await download;
  const texts = await page.evaluate(() => window.__progressTexts!);
  expect(texts.some((t) => /^Reading the weights: .* of .* \(\d+(\.\d)?%\) · ETA (—|\d+ s)$/.test(t)), JSON.stringify(texts)).toBe(true);
  // (the demo model's 0.5 MiB is read in a moment; the writing phase and the byte counts are checked in src/workers/engineExportProgress.test.ts)
  expect(errors).toEqual([]);
});
