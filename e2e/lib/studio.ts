// Steps the real-engine specs share: open the studio, load the bundled demo model and sample
// dataset. (studio-fake.spec.ts has its own: the stand-in engine answers in milliseconds.)
import { expect, type Download, type Locator, type Page } from '@playwright/test';
import { unzipSync } from 'fflate';

/** Loads the page and waits for the GPU adapter to be named (the engine worker is up). */
export async function gotoStudio(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByTestId('adapter-name')).not.toBeEmpty({ timeout: 60_000 });
}

/** gotoStudio, collecting the page's uncaught errors from the start (tests expect none). */
export async function openStudio(page: Page): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await gotoStudio(page);
  return errors;
}

export async function loadDemo(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Use demo model (stories260K)' }).click();
  await expect(page.getByTestId('model-name')).toHaveText(/stories260K/, { timeout: 60_000 });
}

export async function loadSample(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Use sample dataset' }).click();
  await expect(page.getByTestId('dataset-info')).toBeVisible({ timeout: 60_000 });
}

/**
 * Clicks an export button and returns the one download it starts, with the files in it (a .zip
 * is unzipped; a single file is itself). Fails when the click starts more than one download.
 */
export async function downloadOne(page: Page, button: Locator): Promise<{ name: string; files: Map<string, Buffer> }> {
  const names: string[] = [];
  const onDownload = (d: Download) => void names.push(d.suggestedFilename());
  page.on('download', onDownload);
  const first = page.waitForEvent('download', { timeout: 60_000 });
  await button.click();
  const download = await first;
  // the export says what it saved once every download of the click has started
  await expect(page.getByRole('region', { name: 'Export' }).getByRole('status').filter({ hasText: /^Saved / })).toBeVisible();
  page.off('download', onDownload);
  expect(names, 'downloads started by one click').toEqual([download.suggestedFilename()]);
  const bytes = Buffer.concat(await (await download.createReadStream()).toArray());
  const name = download.suggestedFilename();
  const files = new Map<string, Buffer>();
  if (name.endsWith('.zip')) for (const [n, b] of Object.entries(unzipSync(new Uint8Array(bytes)))) files.set(n, Buffer.from(b));
  else files.set(name, bytes);
  return { name, files };
}
