import { expect, test, type BrowserContext, type Download, type Page, type TestInfo } from '@playwright/test';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/train/config';
import type { EngineTestHandle } from '../src/ui/engineClient';
import { downloadOne, loadDemo, loadSample, openStudio } from './lib/studio';
import { within } from './lib/wait';

// Faults a browser user meets, against the real engine worker (demo model, sample dataset,
// SwiftShader in CI): a tab closed mid-step, a lost GPU device, NaN gradients, a job too large
// for the GPU, an allocation that runs out of GPU memory, storage persistence, two tabs on one run, a crashed engine worker, hostile text
// in data and names. Faults are injected through the test-only handle the dev server exposes
// (window.__whetstoneEngine, see src/ui/engineClient.ts). A full disk while checkpointing is
// e2e/quota.spec.ts (Chromium's quota lowered through DevTools) and, in Node,
// src/workers/engine.test.ts and src/train/checkpointStore.test.ts.

declare global {
  interface Window {
    __whetstoneEngine?: EngineTestHandle;
    __xss?: number;
    __persistCalls?: number[];
    __checkpointWrites?: number[];
    __steps?: number[];
  }
}

/**
 * A short job: the Quick try preset, `steps` optimizer steps of batch 2, no validation passes,
 * a checkpoint every `checkpointEvery` steps. Sequence length, seed and validation share stay at
 * their defaults, so a new page that loads the sample again gets the same tokenized data.
 */
async function shortJob(page: Page, steps: number, checkpointEvery: number) {
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Max steps').fill(String(steps));
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Evaluate every (steps)').fill('0');
  await job.getByLabel('Checkpoint every (steps)').fill(String(checkpointEvery));
  await expect(job.getByTestId('memory-estimate')).toContainText('Fits on this GPU.');
}

function runPanel(page: Page) {
  return page.getByRole('region', { name: 'Run' });
}

async function startRun(page: Page, name: string) {
  await runPanel(page).getByLabel('Run name (optional)').fill(name);
  await page.getByTestId('start-training').click();
}

async function waitFinished(page: Page) {
  await expect(runPanel(page).getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 120_000 });
}

/** Saves every download of the page under the test's output folder; returns their names as they come. */
function collectDownloads(page: Page, testInfo: TestInfo, prefix: string) {
  const saved: { name: string; path: string }[] = [];
  const pending: Promise<void>[] = [];
  const onDownload = (d: Download) => {
    pending.push(
      (async () => {
        const path = testInfo.outputPath(`${prefix}-${pending.length}-${encodeURIComponent(d.suggestedFilename())}`);
        await d.saveAs(path);
        saved.push({ name: d.suggestedFilename(), path });
      })(),
    );
  };
  page.on('download', onDownload);
  return {
    saved,
    /** waits for the files to be written and stops listening */
    done: async () => {
      await within('the downloads to be saved', 60_000, Promise.all(pending));
      page.off('download', onDownload);
    },
  };
}

/** The Export panel's choice of what to export (in memory, or a saved run's checkpoint). */
function exportChoice(page: Page) {
  return page.getByRole('region', { name: 'Export' }).getByRole('combobox', { name: /export/i });
}

/** Exports the PEFT adapter of the named saved run and returns its adapter_model.safetensors bytes. */
async function exportRunAdapter(page: Page, runName: string, steps: number): Promise<Buffer> {
  const ex = page.getByRole('region', { name: 'Export' });
  await exportChoice(page).selectOption({ label: `${runName} (checkpoint at step ${steps})` });
  const peft = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  expect([...peft.files.keys()].sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  await expect(ex.getByRole('alert')).toHaveCount(0);
  return peft.files.get('adapter_model.safetensors')!;
}

/** Names of the tensors of a safetensors file with their raw bytes. */
function safetensorsTensors(bytes: Buffer): Map<string, Buffer> {
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets?: [number, number] }>;
  const out = new Map<string, Buffer>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || !t.data_offsets) continue;
    out.set(name, bytes.subarray(8 + headerLength + t.data_offsets[0], 8 + headerLength + t.data_offsets[1]));
  }
  return out;
}

/** Records every step the Run panel's progress bar shows from now on (window.__steps). */
async function recordSteps(page: Page) {
  await page.evaluate(() => {
    const seen: number[] = [];
    window.__steps = seen;
    const note = () => {
      const bar = document.querySelector('#run progress');
      const v = bar?.getAttribute('value');
      if (v && Number(v) !== seen.at(-1)) seen.push(Number(v));
    };
    new MutationObserver(note).observe(document.getElementById('run')!, { subtree: true, childList: true, attributes: true, attributeFilter: ['value'] });
  });
}

async function newPage(context: BrowserContext) {
  const page = await context.newPage();
  return page;
}

test('a tab closed mid-step: the run is listed as interrupted, resumes from its checkpoint, and ends with the same adapter as an uninterrupted run', async ({ context }) => {
  test.setTimeout(240_000);
  const first = await newPage(context);
  await openStudio(first);
  await loadDemo(first);
  await loadSample(first);
  await shortJob(first, 6, 2);
  await startRun(first, 'closed tab');
  // Step 3 is reported after step 2's checkpoint was written; the tab closes during a later step.
  await expect(runPanel(first).getByText(/Step [345] of 6/)).toBeVisible({ timeout: 90_000 });
  await first.close();

  // IndexedDB outlives the page within the browser context: a new tab finds the run.
  const page = await newPage(context);
  const errors = await openStudio(page);
  const row = runPanel(page).getByTestId('run-row').filter({ hasText: 'closed tab' });
  await expect(row).toContainText('interrupted');
  const resume = row.getByRole('button', { name: /^Resume closed tab from step [24]$/ });
  await expect(resume).toBeVisible();
  await loadDemo(page);
  await loadSample(page);
  await shortJob(page, 6, 2);
  const from = Number((await resume.textContent())!.match(/\d+/)![0]);
  await recordSteps(page);
  await resume.click();
  await waitFinished(page);
  await expect(row).toContainText('finished');
  // It went on from the checkpoint, not from the start.
  const steps = await page.evaluate(() => window.__steps!);
  expect(steps[0]).toBe(from + 1);
  expect(steps.at(-1)).toBe(6);
  const resumed = await exportRunAdapter(page, 'closed tab', 6);

  // The same job, same seed, never interrupted.
  await startRun(page, 'straight through');
  await waitFinished(page);
  const straight = await exportRunAdapter(page, 'straight through', 6);

  const a = safetensorsTensors(resumed);
  const b = safetensorsTensors(straight);
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  expect(a.size).toBeGreaterThan(0);
  for (const [name, bytes] of a) expect(bytes.equals(b.get(name)!), `tensor ${name}`).toBe(true);
  expect(resumed.equals(straight)).toBe(true);
  expect(errors).toEqual([]);
});

test('a lost GPU device mid-run: training continues on a new device from the last checkpoint and the Run panel says so', async ({ page }) => {
  const errors = await openStudio(page);
  await loadDemo(page);
  await loadSample(page);
  await shortJob(page, 6, 2);
  await startRun(page, 'device lost');
  const run = runPanel(page);
  await expect(run.getByText(/Step [34] of 6/)).toBeVisible({ timeout: 90_000 });
  await page.evaluate(() => window.__whetstoneEngine!.debug.loseDevice());
  const note = run.getByRole('status').filter({ hasText: /The GPU was lost at step \d+; a new GPU device was acquired and training resumed from the checkpoint at step [24]/ });
  await expect(note).toBeVisible({ timeout: 60_000 });
  await waitFinished(page);
  await expect(run.getByRole('progressbar', { name: 'Training progress' })).toHaveAttribute('value', '6');
  // The note stays with the run after it finished: the user may have been away.
  await expect(note).toBeVisible();
  await expect(page.getByTestId('gpu-banner')).toHaveCount(0);
  // The adapter trained on the new device is the one in memory: the playground and export use it.
  await expect(exportChoice(page).getByRole('option', { name: /just trained \(in memory\)/ })).toHaveCount(1);
  expect(errors).toEqual([]);
});

test('NaN gradients: the run stops with an explanation that names the learning rate and offers its last checkpoint', async ({ page }) => {
  const errors = await openStudio(page);
  await loadDemo(page);
  await loadSample(page);
  await shortJob(page, 4, 2);
  await page.evaluate(() => window.__whetstoneEngine!.debug.injectNaN(3));
  await startRun(page, 'nan run');
  const run = runPanel(page);
  const alert = run.getByRole('alert').filter({ hasText: /NaN/ });
  await expect(alert).toBeVisible({ timeout: 90_000 });
  await expect(alert).toContainText(/step 3/);
  await expect(alert).toContainText(/learning rate/i);
  await expect(alert).toContainText(/rolled back to its last checkpoint/);
  await expect(run.getByRole('status').filter({ hasText: 'Paused' })).toBeVisible();
  const resume = run.getByRole('button', { name: 'Resume nan run from step 2' });
  await expect(resume).toBeVisible();
  await expect(resume).not.toHaveAttribute('aria-disabled', 'true');
  await resume.click();
  await waitFinished(page);
  await expect(run.getByTestId('run-row').filter({ hasText: 'nan run' })).toContainText('finished');
  expect(errors).toEqual([]);
});

test('a job too large for the GPU is refused by the estimate before anything is allocated, naming what to lower; a small run then works', async ({ page }) => {
  const errors = await openStudio(page);
  await loadDemo(page);
  await loadSample(page);
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByLabel('Batch size').fill('20000');
  const estimate = job.getByTestId('memory-estimate');
  await expect(estimate).toContainText(/lower the batch size/, { timeout: 60_000 });
  await expect(estimate).not.toContainText('Fits on this GPU.');
  const start = page.getByTestId('start-training');
  await expect(start).toHaveAttribute('aria-disabled', 'true');
  await expect(start).toHaveAccessibleDescription(/does not fit in GPU memory/);
  await start.click({ force: true });
  const run = runPanel(page);
  await expect(run.getByRole('status')).toContainText('Not started');

  // The engine refuses the same job on its own, before it stores a run or allocates buffers.
  const big: TrainConfig = { ...DEFAULT_CONFIG, batchSize: 20000 };
  const refusal = await within('the engine to answer a job too large for the GPU', 60_000, page.evaluate(async (config) => {
    const h = window.__whetstoneEngine!;
    try {
      await h.api.startTraining(config, h.proxy({ onProgress() {}, onStatus() {} }));
      return 'started';
    } catch (e) {
      return (e as Error).message;
    }
  }, big));
  expect(refusal).toMatch(/lower the batch size or the sequence length/);
  expect(await within('the list of runs', 60_000, page.evaluate(() => window.__whetstoneEngine!.api.listRuns().then((r) => r.length)))).toBe(0);
  await expect(page.getByTestId('gpu-banner')).toHaveCount(0);

  // The page is still usable: a small job trains.
  await shortJob(page, 2, 2);
  await expect(start).not.toHaveAttribute('aria-disabled', 'true');
  await startRun(page, 'small after big');
  await waitFinished(page);
  expect(errors).toEqual([]);
});

test('out of GPU memory during a step (an allocation fails on the GPU): the run stops naming the batch size and sequence length, and the page keeps working', async ({ page }, testInfo) => {
  const errors = await openStudio(page);
  await loadDemo(page);
  await loadSample(page);
  await shortJob(page, 3, 2);
  // A GPU with 2 MiB free: room for the adapter and its AdamW state, not for a step's activations.
  // (SwiftShader cannot be driven out of memory by a job the estimate lets through in test time,
  // so the allocator fails the allocations past the limit the way a real out-of-memory does.)
  await page.evaluate(() => window.__whetstoneEngine!.debug.simulateGpuMemory(2 * 2 ** 20));
  await startRun(page, 'out of memory');
  const run = runPanel(page);
  const alert = run.getByRole('alert').filter({ hasText: /ran out of memory/ });
  await expect(alert).toBeVisible({ timeout: 90_000 });
  await expect(alert).toContainText(/in training step 1/);
  await expect(alert).toContainText(/Lower the batch size \(now 2\) or the sequence length \(now \d+\)/);
  await expect(alert).toContainText(/GPU memory freed/);
  await expect(run.getByTestId('run-row').filter({ hasText: 'out of memory' })).toContainText('failed');
  await run.screenshot({ path: testInfo.outputPath('out-of-memory.png') });
  // the invalid buffers' validation errors stayed inside the engine: no GPU error banner
  await expect(page.getByTestId('gpu-banner')).toHaveCount(0);

  // The page is still usable: with the memory back, the same job trains to the end.
  await page.evaluate(() => window.__whetstoneEngine!.debug.simulateGpuMemory(null));
  await expect(page.getByTestId('start-training')).not.toHaveAttribute('aria-disabled', 'true');
  await startRun(page, 'after out of memory');
  await waitFinished(page);
  await expect(page.getByTestId('gpu-banner')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('persistent storage is requested when a run starts, before its first checkpoint is written', async ({ page }) => {
  // A spy on StorageManager.prototype.persist in the page (nothing is stubbed: the call goes on).
  await page.addInitScript(() => {
    const calls: number[] = [];
    window.__persistCalls = calls;
    const persist = StorageManager.prototype.persist;
    StorageManager.prototype.persist = function (this: StorageManager) {
      calls.push(performance.timeOrigin + performance.now());
      return persist.call(this);
    };
    const writes: number[] = [];
    window.__checkpointWrites = writes;
    new BroadcastChannel('whetstone-e2e-checkpoints').onmessage = (e: MessageEvent<number>) => writes.push(e.data);
  });
  // The checkpoints are written by the worker: note when the first one goes to IndexedDB.
  await page.route('**/src/workers/engine.worker.ts*', async (route) => {
    const res = await route.fetch();
    const spy = `{
      const put = IDBObjectStore.prototype.put;
      const channel = new BroadcastChannel('whetstone-e2e-checkpoints');
      IDBObjectStore.prototype.put = function (value, key) {
        if (typeof key === 'string' && key.startsWith('ckpt:')) channel.postMessage(performance.timeOrigin + performance.now());
        return put.call(this, value, key);
      };
    }\n`;
    await route.fulfill({ response: res, body: spy + (await res.text()) });
  });
  const errors = await openStudio(page);
  await loadDemo(page);
  await loadSample(page);
  await shortJob(page, 4, 2);
  expect(await page.evaluate(() => window.__persistCalls!.length)).toBe(0);
  await startRun(page, 'persist');
  await waitFinished(page);
  const persistCalls = await page.evaluate(() => window.__persistCalls!);
  const checkpoints = await page.evaluate(() => window.__checkpointWrites!);
  expect(persistCalls).toHaveLength(1);
  expect(checkpoints.length).toBeGreaterThanOrEqual(2); // steps 2 and 4
  expect(persistCalls[0]).toBeLessThan(Math.min(...checkpoints));
  expect(errors).toEqual([]);
});

test('two tabs: the run training in one is listed read-only in the other, and can be resumed there once paused', async ({ context }) => {
  const a = await newPage(context);
  await openStudio(a);
  await loadDemo(a);
  await loadSample(a);
  await shortJob(a, 12, 2);
  await startRun(a, 'tab A run');
  await expect(runPanel(a).getByText(/Step \d+ of 12/)).toBeVisible({ timeout: 90_000 });

  const b = await newPage(context);
  const errors = await openStudio(b);
  await loadDemo(b);
  await loadSample(b);
  const row = runPanel(b).getByTestId('run-row').filter({ hasText: 'tab A run' });
  await expect(row).toContainText('training in another tab');
  await expect(row).toContainText(/shown here read-only/);
  await expect(row.getByRole('button', { name: /^Resume/ })).toHaveCount(0);
  await expect(row.getByRole('button', { name: 'Delete tab A run' })).toHaveAttribute('aria-disabled', 'true');
  // B can still train something else: the lock is per run.
  await expect(b.getByTestId('start-training')).not.toHaveAttribute('aria-disabled', 'true');

  // Paused in A, the run is free: B offers to resume it.
  await runPanel(a).getByRole('button', { name: 'Pause', exact: true }).click();
  await expect(runPanel(a).getByRole('status').filter({ hasText: 'Paused' })).toBeVisible({ timeout: 60_000 });
  await runPanel(b).getByRole('button', { name: 'Refresh list' }).click();
  await expect(row).toContainText('paused');
  await expect(row).not.toContainText('read-only');
  await expect(row.getByRole('button', { name: /^Resume tab A run from step \d+$/ })).toBeVisible();
  expect(errors).toEqual([]);
});

test('a crashed engine worker: the page says so, restarts the engine, and the interrupted run resumes from its checkpoint', async ({ page }) => {
  await openStudio(page);
  await loadDemo(page);
  await loadSample(page);
  await shortJob(page, 6, 2);
  await startRun(page, 'worker crash');
  const run = runPanel(page);
  await expect(run.getByText(/Step [34] of 6/)).toBeVisible({ timeout: 90_000 });
  // A terminated worker sends nothing (no 'error' event): the page's heartbeat must notice.
  await page.evaluate(() => window.__whetstoneEngine!.killWorker());
  const banner = page.getByTestId('gpu-banner');
  await expect(banner).toContainText('The engine stopped.', { timeout: 60_000 });
  await expect(banner).toContainText(/has not answered/);
  await banner.getByRole('button', { name: 'Restart the engine' }).click();
  await expect(banner).toHaveCount(0, { timeout: 60_000 });
  await expect(run.getByRole('alert')).toContainText(/engine stopped during this run/);
  // The model and the dataset come back by themselves; the run waits at its last checkpoint.
  await expect(page.getByTestId('model-name')).toHaveText(/stories260K/, { timeout: 60_000 });
  await expect(page.getByTestId('dataset-info')).toBeVisible({ timeout: 60_000 });
  const row = run.getByTestId('run-row').filter({ hasText: 'worker crash' });
  await expect(row).toContainText('interrupted');
  const resume = row.getByRole('button', { name: /^Resume worker crash from step [24]$/ });
  await expect(resume).not.toHaveAttribute('aria-disabled', 'true');
  const from = Number((await resume.textContent())!.match(/\d+/)![0]);
  await recordSteps(page);
  await resume.click();
  await waitFinished(page);
  await expect(run.getByRole('progressbar', { name: 'Training progress' })).toHaveAttribute('value', '6');
  expect((await page.evaluate(() => window.__steps!))[0]).toBe(from + 1);
  await expect(row).toContainText('finished');
});

const XSS_NAME = '<img src=x onerror="window.__xss=3;alert(3)">.jsonl';
const XSS_ROWS = [
  { instruction: 'Say <img src=x onerror="window.__xss=1;alert(1)">', output: '<script>window.__xss=2;alert(2)</script> and <b>bold</b>' },
  { instruction: 'Where does Bob look? <iframe src="javascript:alert(4)"></iframe>', output: 'At the moon. <svg onload="window.__xss=5;alert(5)"></svg>' },
  { instruction: 'Who is Bob?', output: 'A little robot. <a href="javascript:alert(6)">click</a>' },
  { instruction: 'What does Bob eat?', output: 'Bolts. <style>body{display:none}</style>' },
];

test('hostile text in a dataset and its file name stays text everywhere it is shown', async ({ page }) => {
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  const errors = await openStudio(page);
  const scriptsBefore = await page.locator('script').count();
  await loadDemo(page);
  const ds = page.getByRole('region', { name: 'Dataset' });
  const body = [...XSS_ROWS.map((r) => JSON.stringify(r)), '{"instruction": <script>window.__xss=7</script>}'].join('\n');
  await ds.getByLabel('Choose dataset file…').setInputFiles({ name: XSS_NAME, mimeType: 'application/json', buffer: Buffer.from(body) });
  await expect(ds.getByTestId('dataset-info')).toBeVisible({ timeout: 60_000 });
  // Shown literally: the name, the examples, the bad row.
  await expect(ds.getByText(XSS_NAME)).toBeVisible();
  // (the demo tokenizer drops spaces when pieces are decoded one by one)
  await expect(ds.locator('.example').first()).toContainText(/<img ?src=x ?onerror=/);
  await expect(ds.locator('.example').first()).toContainText('<script>window.__xss=2');
  await expect(ds.getByRole('list', { name: /Rows not used/ }).getByRole('listitem')).toHaveCount(1);

  // The dataset name also lands in the run's name, the runs list and the export choices.
  await shortJob(page, 2, 2);
  await page.getByTestId('start-training').click();
  await waitFinished(page);
  await expect(runPanel(page).getByTestId('run-row').first()).toContainText(XSS_NAME);
  await expect(exportChoice(page)).toContainText(XSS_NAME);

  expect(dialogs).toEqual([]);
  expect(await page.evaluate(() => window.__xss)).toBeUndefined();
  expect(await page.locator('img[src="x"], iframe, svg[onload], a[href^="javascript:"], [onerror], [onload]').count()).toBe(0);
  expect(await page.locator('script').count()).toBe(scriptsBefore);
  expect(await page.locator('main style, main b').count()).toBe(0);
  expect(errors).toEqual([]);
});

test('exported file names are safe even when the run name holds a path and control characters', async ({ page }, testInfo) => {
  const errors = await openStudio(page);
  await loadDemo(page);
  await loadSample(page);
  await shortJob(page, 2, 2);
  const hostile = '../../etc/passwd\u0007\u001b[31m\u202eexe.gguf\\..\\win';
  await startRun(page, hostile);
  await waitFinished(page);
  const ex = page.getByRole('region', { name: 'Export' });
  const downloads = collectDownloads(page, testInfo, 'names');
  // the PEFT pair comes as one .zip
  await ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }).click();
  await expect.poll(() => downloads.saved.length, { timeout: 60_000, message: 'the PEFT .zip download' }).toBe(1);
  await ex.getByRole('button', { name: 'Download GGUF adapter' }).click();
  await expect.poll(() => downloads.saved.length, { timeout: 60_000, message: 'the GGUF download' }).toBe(2);
  await downloads.done();
  const names = downloads.saved.map((d) => d.name);
  // The zip is named after the run: the name was used, and cleaned.
  const zip = names.find((n) => n.endsWith('-peft-adapter.zip'));
  expect(zip, names.join(', ')).toBeTruthy();
  expect(zip).toContain('etc');
  expect(zip).toContain('passwd');
  for (const n of names) {
    expect(n, n).not.toMatch(/[/\\:*?"<>|]/);
    // eslint-disable-next-line no-control-regex
    expect(n, n).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/);
    expect(n, n).not.toMatch(/^[.\s]/);
    expect(n.length).toBeLessThanOrEqual(120);
  }
  expect(names.some((n) => n.endsWith('.gguf'))).toBe(true);
  expect(errors).toEqual([]);
});
