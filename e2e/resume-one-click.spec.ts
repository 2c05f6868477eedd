import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import type { EngineTestHandle } from '../src/ui/engineClient';
import { downloadOne, gotoStudio, loadDemo, loadSample, openStudio } from './lib/studio';

// "Close the tab and resume later, exactly where it stopped": after reopening, Resume is one
// click. The run kept its tokenized dataset (OPFS) and knows its model (the demo model is loaded
// again by the click); a model from a folder the browser cannot reopen is asked for by name. The
// runs list shows what each run stores, and deleting the run frees it.

declare global {
  interface Window {
    __whetstoneEngine?: EngineTestHandle;
    __steps?: number[];
  }
}

const DEMO_DIR = join(import.meta.dirname, '../public/models/stories260K');

function runPanel(page: Page) {
  return page.getByRole('region', { name: 'Run' });
}

/** Quick try, `steps` steps of batch 2, no validation passes, a checkpoint every 2 steps. */
async function shortJob(page: Page, steps: number) {
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Max steps').fill(String(steps));
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Evaluate every (steps)').fill('0');
  await job.getByLabel('Checkpoint every (steps)').fill('2');
  await expect(job.getByTestId('memory-estimate')).toContainText('Fits on this GPU.');
}

async function startRun(page: Page, name: string) {
  await runPanel(page).getByLabel('Run name (optional)').fill(name);
  await page.getByTestId('start-training').click();
}

async function waitFinished(page: Page) {
  await expect(runPanel(page).getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 120_000 });
}

/** Records every step the Run panel's progress bar shows from now on (window.__steps). */
async function recordSteps(page: Page) {
  await page.evaluate(() => {
    const seen: number[] = [];
    window.__steps = seen;
    const note = () => {
      const v = document.querySelector('#run progress')?.getAttribute('value');
      if (v && Number(v) !== seen.at(-1)) seen.push(Number(v));
    };
    new MutationObserver(note).observe(document.getElementById('run')!, { subtree: true, childList: true, attributes: true, attributeFilter: ['value'] });
  });
}

/** The adapter weights of a saved run, from the one .zip "Download PEFT adapter" gives. */
async function runAdapter(page: Page, runName: string, steps: number): Promise<Buffer> {
  const ex = page.getByRole('region', { name: 'Export' });
  await ex.getByRole('combobox', { name: /export/i }).selectOption({ label: `${runName} (checkpoint at step ${steps})` });
  const { files } = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  return files.get('adapter_model.safetensors')!;
}

/** The run folders the engine keeps in the origin-private file system. */
function keptRunFolders(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const runs = await root.getDirectoryHandle('runs', { create: true });
    const names: string[] = [];
    for await (const name of (runs as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    return names;
  });
}

test('a tab closed mid-run: after reopening, one click on Resume loads the model again, continues on the kept dataset and ends with the same adapter bytes as an uninterrupted run; deleting frees its storage', async ({ context }) => {
  test.setTimeout(240_000);
  const first = await context.newPage();
  await openStudio(first);
  await loadDemo(first);
  await loadSample(first);
  await shortJob(first, 6);
  await startRun(first, 'one click');
  await expect(runPanel(first).getByText(/Step [345] of 6/)).toBeVisible({ timeout: 90_000 });
  await first.close();

  const page = await context.newPage();
  const errors = await openStudio(page);
  const row = runPanel(page).getByTestId('run-row').filter({ hasText: 'one click' });
  await expect(row).toContainText('interrupted');
  // what the run keeps, in the list
  await expect(row.getByTestId('run-storage')).toHaveText(/^Stored in this browser: [\d.]+ KiB \(tokenized dataset [\d.]+ KiB, checkpoint [\d.]+ KiB\)$/);
  const resume = row.getByRole('button', { name: /^Resume one click from step [24]$/ });
  // nothing loaded in this tab, and yet Resume can be used
  await expect(page.getByTestId('model-name')).toHaveCount(0);
  await expect(resume).not.toHaveAttribute('aria-disabled', 'true');
  const from = Number((await resume.textContent())!.match(/\d+/)![0]);
  await recordSteps(page);
  await resume.click();
  await waitFinished(page);
  await expect(row).toContainText('finished');
  await expect(page.getByTestId('model-name')).toHaveText(/stories260K/);
  const steps = await page.evaluate(() => window.__steps!);
  expect(steps[0]).toBe(from + 1);
  expect(steps.at(-1)).toBe(6);
  const resumed = await runAdapter(page, 'one click', 6);

  // the same job, never interrupted
  await loadSample(page);
  await shortJob(page, 6);
  await startRun(page, 'straight through');
  await waitFinished(page);
  const straight = await runAdapter(page, 'straight through', 6);
  expect(resumed.length).toBeGreaterThan(1000);
  expect(resumed.equals(straight)).toBe(true);

  // deleting a run frees what it kept
  const ids = (await page.evaluate(() => window.__whetstoneEngine!.api.listRuns())).map((r) => r.id);
  expect((await keptRunFolders(page)).sort()).toEqual(expect.arrayContaining(ids));
  const oneClickId = (await page.evaluate(() => window.__whetstoneEngine!.api.listRuns())).find((r) => r.name === 'one click')!.id;
  page.once('dialog', (d) => void d.accept());
  await row.getByRole('button', { name: 'Delete one click' }).click();
  await expect(row).toHaveCount(0);
  expect(await keptRunFolders(page)).not.toContain(oneClickId);
  expect(errors).toEqual([]);
});

test('a run on a model from picked files: after reopening, Resume asks for the folder by name, and after it is given again Resume is one click', async ({ context }) => {
  test.setTimeout(240_000);
  const files = readdirSync(DEMO_DIR).filter((f) => !f.startsWith('.') && f !== 'SOURCE.md').map((f) => join(DEMO_DIR, f));
  const first = await context.newPage();
  await openStudio(first);
  await first.getByLabel('Choose model files…').setInputFiles(files);
  await expect(first.getByTestId('model-name')).toHaveText(/\S/, { timeout: 60_000 });
  await loadSample(first);
  await shortJob(first, 4);
  await startRun(first, 'from files');
  await expect(runPanel(first).getByText(/Step [34] of 4/)).toBeVisible({ timeout: 90_000 });
  await first.close();

  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await gotoStudio(page);
  const row = runPanel(page).getByTestId('run-row').filter({ hasText: 'from files' });
  await expect(row).toContainText('interrupted');
  const resume = row.getByRole('button', { name: /^Resume from files from step [24]$/ });
  await expect(resume).toHaveAttribute('aria-disabled', 'true');
  await expect(row).toContainText(/Drop the model folder “[^”]+” in step 1 again to resume/);
  await page.getByLabel('Choose model files…').setInputFiles(files);
  await expect(resume).not.toHaveAttribute('aria-disabled', 'true', { timeout: 60_000 });
  await resume.click();
  await waitFinished(page);
  await expect(row).toContainText('finished');
  expect(errors).toEqual([]);
});

test('a run on a dropped folder the browser gave a handle for: after reopening, Resume is one click (the folder is read again through the kept handle)', async ({ context }) => {
  test.setTimeout(240_000);
  const first = await context.newPage();
  await openStudio(first);
  // What a drop in Chromium hands the model panel (src/ui/lib/dropFiles.ts): the folder's files and
  // its FileSystemDirectoryHandle. Playwright cannot drop a real folder, so the folder is a real
  // one of the origin-private file system, and the panel's own load action is called with it.
  await first.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('dropped-model', { create: true });
    for (const name of ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) {
      const res = await fetch(`/models/stories260K/${name}`);
      const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
      await w.write(await res.blob());
      await w.close();
    }
    const files: File[] = [];
    for await (const h of (dir as unknown as { values(): AsyncIterable<FileSystemFileHandle> }).values()) files.push(await h.getFile());
    const modelStore = (await import(/* @vite-ignore */ `${location.origin}/src/ui/stores/modelStore.ts`)) as typeof import('../src/ui/stores/modelStore');
    await modelStore.loadModelFiles(files, 'dropped-model', dir as unknown as Parameters<typeof modelStore.loadModelFiles>[2]);
  });
  await expect(first.getByTestId('model-name')).toHaveText(/\S/, { timeout: 60_000 });
  await loadSample(first);
  await shortJob(first, 4);
  await startRun(first, 'dropped');
  await expect(runPanel(first).getByText(/Step [34] of 4/)).toBeVisible({ timeout: 90_000 });
  await first.close();

  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await gotoStudio(page);
  const row = runPanel(page).getByTestId('run-row').filter({ hasText: 'dropped' });
  await expect(row).toContainText('interrupted');
  await expect(page.getByTestId('model-name')).toHaveCount(0);
  const resume = row.getByRole('button', { name: /^Resume dropped from step [24]$/ });
  await expect(resume).not.toHaveAttribute('aria-disabled', 'true');
  await expect(row).not.toContainText('Drop the model folder');
  await resume.click();
  await waitFinished(page);
  await expect(row).toContainText('finished');
  await expect(page.getByTestId('model-name')).toHaveText(/\S/);
  expect(errors).toEqual([]);
});
