import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { downloadOne, loadDemo, loadSample, openStudio } from './lib/studio';

// The studio's flows against the real engine worker, on the demo model (public/models/stories260K,
// written by scripts/demo-model.mjs) and the sample dataset, on whatever WebGPU adapter the
// browser has (SwiftShader in CI). e2e/studio-fake.spec.ts checks the UI's own behaviour, fast,
// against a stand-in engine.

/**
 * A short job: 12 steps, validation and a checkpoint every 4. Batch 2 of 64 tokens: the flows are
 * about the studio, not the numbers, and a step costs a quarter of the default batch's on
 * SwiftShader. Set before the dataset is loaded (a new sequence length tokenizes it again).
 */
async function shortJob(page: Page, steps = 12, every = 4) {
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Max steps').fill(String(steps));
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Sequence length').fill('64');
  await job.getByLabel('Evaluate every (steps)').fill(String(every));
  await job.getByLabel('Checkpoint every (steps)').fill(String(every));
  await expect(job.getByTestId('memory-estimate')).toContainText('Fits on this GPU.');
}

/** The demo model, a job of `steps` steps, the sample dataset: ready to start. */
async function readyToTrain(page: Page, steps?: number, every?: number) {
  await loadDemo(page);
  await shortJob(page, steps, every);
  await loadSample(page);
}

async function trainToEnd(page: Page, name: string) {
  const run = page.getByRole('region', { name: 'Run' });
  await run.getByLabel('Run name (optional)').fill(name);
  await page.getByTestId('start-training').click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 150_000 });
  return run;
}

const BAD_ROWS_FILE = [
  '{"instruction":"Where does Bob look?","output":"At the moon."}',
  '{"instruction":"broken", "output": }',
  '{"instruction":"no answer here"}',
  '{"instruction":"Say <img src=x onerror=\\"window.__xss=1\\">","output":"<b>no</b>"}',
  '{"instruction":"Who is Bob?","output":"A little robot."}',
].join('\n');

test('model: the demo model loads and shows its facts and the memory estimate', async ({ page }) => {
  const errors = await openStudio(page);
  await loadDemo(page);
  const model = page.getByRole('region', { name: 'Model' });
  await expect(model.getByRole('definition').filter({ hasText: /\d+K \(/ })).toBeVisible();
  await expect(model.getByRole('definition').filter({ hasText: 'llama' })).toBeVisible();
  await expect(model.getByRole('img', { name: /GPU memory for this job/ })).toBeVisible();
  expect(errors).toEqual([]);
});

test('model: a model folder picked as files loads', async ({ page }) => {
  await openStudio(page);
  // Written by scripts/demo-model.mjs (npm start); the demo source serves the same folder.
  const dir = join(process.cwd(), 'public/models/stories260K');
  const files = readdirSync(dir)
    .filter((f) => !f.startsWith('.') && f !== 'SOURCE.md')
    .map((f) => ({ name: f, mimeType: 'application/octet-stream', buffer: readFileSync(join(dir, f)) }));
  await page.getByLabel('Choose model files…').setInputFiles(files);
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByRole('region', { name: 'Model' }).getByRole('alert')).toHaveCount(0);
});

test('dataset: the sample dataset shows its format, preview, statistics and histogram', async ({ page }) => {
  await openStudio(page);
  await loadDemo(page);
  await loadSample(page);
  const ds = page.getByRole('region', { name: 'Dataset' });
  await expect(ds.getByTestId('detected-format')).not.toBeEmpty();
  await expect(ds.locator('.example').first()).toBeVisible();
  await expect(ds.locator('mark.tok-trained').first()).not.toBeEmpty();
  await expect(ds.getByRole('term').filter({ hasText: 'Trained tokens' })).toBeVisible();
  await expect(ds.getByRole('figure', { name: 'Sequence lengths (tokens)' })).toBeVisible();
  await expect(ds.getByText('Every row could be used.')).toBeVisible();
});

test('dataset: bad rows are listed with line numbers, text stays text, "stop" names the first bad line', async ({ page }) => {
  await openStudio(page);
  await loadDemo(page);
  const ds = page.getByRole('region', { name: 'Dataset' });
  await ds.getByLabel('Choose dataset file…').setInputFiles({ name: 'bad <rows>.jsonl', mimeType: 'application/json', buffer: Buffer.from(BAD_ROWS_FILE) });
  await expect(ds.getByTestId('dataset-info')).toBeVisible({ timeout: 60_000 });
  const bad = ds.getByRole('list', { name: /Rows not used/ });
  await expect(bad.getByRole('listitem')).toHaveCount(2);
  await expect(bad.getByRole('listitem').nth(0)).toContainText('Line 2');
  await expect(bad.getByRole('listitem').nth(1)).toContainText('Line 3');
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  expect(await ds.locator('.preview img, .preview b').count()).toBe(0);
  await ds.getByLabel('Stop at the first one').check();
  await expect(ds.getByRole('alert')).toContainText(/line 2/i);
});

test('job: the memory estimate follows batch size and sequence length', async ({ page }) => {
  await openStudio(page);
  await loadDemo(page);
  const job = page.getByRole('region', { name: 'Training job' });
  const bar = job.getByTestId('memory-estimate').getByRole('img');
  const before = await bar.getAttribute('aria-label');
  await job.getByLabel('Batch size').fill('16');
  await expect(bar).not.toHaveAttribute('aria-label', before ?? '');
  await expect(job.getByTestId('memory-estimate')).toContainText('Activation checkpointing is off');
});

test('run: trains the demo model with live progress, pauses, resumes, finishes, and lists the run', async ({ page }) => {
  const errors = await openStudio(page);
  await readyToTrain(page, 24, 6);
  const run = page.getByRole('region', { name: 'Run' });
  await run.getByLabel('Run name (optional)').fill('e2e pause');
  await page.getByTestId('start-training').click();
  await expect(run.getByText(/Step \d+ of 24/)).toBeVisible({ timeout: 60_000 });
  await run.getByRole('button', { name: 'Pause', exact: true }).click();
  await expect(run.getByRole('status').filter({ hasText: 'Paused' })).toBeVisible({ timeout: 60_000 });
  await run.getByRole('button', { name: 'Resume', exact: true }).click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 150_000 });
  await expect(run.getByRole('progressbar', { name: 'Training progress' })).toHaveAttribute('value', '24');
  await expect(run.getByTestId('chart-loss')).toContainText(/latest [\d.]+, validation [\d.]+/);
  await expect(run.getByTestId('chart-speed')).toContainText(/latest [\d,]+/);
  await expect(run.getByTestId('run-row').filter({ hasText: 'e2e pause' })).toContainText('finished');
  expect(errors).toEqual([]);
});

test('run: a stopped tab’s run is offered for resuming after a reload', async ({ page }) => {
  await openStudio(page);
  // long enough that the reload always comes before the end
  await readyToTrain(page, 40, 4);
  const run = page.getByRole('region', { name: 'Run' });
  await run.getByLabel('Run name (optional)').fill('e2e interrupted');
  await page.getByTestId('start-training').click();
  await expect(run.getByText(/Step ([5-9]|[1-3]\d) of 40/)).toBeVisible({ timeout: 120_000 });
  await page.reload();
  await expect(page.getByTestId('adapter-name')).not.toBeEmpty();
  const resume = page.getByRole('button', { name: /^Resume e2e interrupted from step \d+/ });
  await expect(resume).toBeVisible({ timeout: 30_000 });
  await loadDemo(page);
  await loadSample(page);
  await resume.click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 150_000 });
});

test('playground: base and adapter answers stream side by side', async ({ page }) => {
  await openStudio(page);
  await readyToTrain(page, 4, 2);
  await trainToEnd(page, 'e2e playground');
  const pg = page.getByRole('region', { name: 'Playground' });
  await pg.getByLabel('Prompt', { exact: true }).fill('Once upon a time');
  await pg.getByLabel('Max new tokens').fill('16');
  await pg.getByLabel('Greedy (always the most likely token)').check();
  await pg.getByTestId('generate').click();
  await expect(pg.getByTestId('answer-base')).toContainText(/\d+ tokens in/, { timeout: 60_000 });
  await expect(pg.getByTestId('answer-adapter')).toContainText(/\d+ tokens in/, { timeout: 60_000 });
  await expect(pg.getByTestId('answer-base').locator('pre')).not.toHaveText('—');
  await expect(pg.getByTestId('answer-adapter').locator('pre')).not.toHaveText('—');
  await expect(pg.getByRole('alert')).toHaveCount(0);
});

test('export: the PEFT adapter (one .zip) and the GGUF download, and the PEFT files import back', async ({ page }, testInfo) => {
  await openStudio(page);
  await readyToTrain(page, 4, 2);
  await trainToEnd(page, 'e2e export');
  const ex = page.getByRole('region', { name: 'Export' });
  const peft = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  expect(peft.name).toBe('e2e-export-peft-adapter.zip');
  expect([...peft.files.keys()].sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  const gguf = await downloadOne(page, ex.getByRole('button', { name: 'Download GGUF adapter' }));
  expect(gguf.name).toMatch(/\.gguf$/);
  await expect(ex.getByRole('alert')).toHaveCount(0);
  const config = JSON.parse(peft.files.get('adapter_config.json')!.toString('utf8'));
  expect(config.r).toBe(4);
  const paths = [...peft.files].map(([name, bytes]) => {
    const path = testInfo.outputPath(name);
    writeFileSync(path, bytes);
    return path;
  });
  await ex.getByLabel('Choose adapter files…').setInputFiles(paths);
  await expect(ex.getByTestId('imported-adapter')).toContainText('rank 4', { timeout: 60_000 });
});

test('export: the merged model downloads', async ({ page }) => {
  await openStudio(page);
  await readyToTrain(page, 4, 2);
  await trainToEnd(page, 'e2e merged');
  const merged = await downloadOne(page, page.getByRole('region', { name: 'Export' }).getByRole('button', { name: 'Download merged model' }));
  expect(merged.name).toBe('e2e-merged-merged-model.zip');
  expect([...merged.files.keys()]).toEqual(expect.arrayContaining(['model.safetensors', 'config.json']));
});

test('run: a run can be deleted from the list', async ({ page }) => {
  await openStudio(page);
  await readyToTrain(page, 4, 2);
  const run = await trainToEnd(page, 'e2e delete me');
  page.once('dialog', (d) => void d.accept());
  await run.getByRole('button', { name: 'Delete e2e delete me' }).click();
  await expect(run.getByTestId('run-row').filter({ hasText: 'e2e delete me' })).toHaveCount(0);
});
