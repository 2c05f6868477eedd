import { expect, test, type Page } from '@playwright/test';
import { routeFakeEngine } from './fixtures/fakeEngine.helpers';
import { downloadOne } from './lib/studio';

// The studio against a stand-in engine (e2e/fixtures/fakeEngine.ts) that speaks the real
// EngineApi with canned data: these tests check the UI's own behaviour (what it shows, how it
// reacts, what it saves) independently of the GPU code. e2e/flows.spec.ts runs the same steps
// against the real engine.

async function open(page: Page) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await routeFakeEngine(page);
  await page.goto('/');
  await expect(page.getByTestId('adapter-name')).toHaveText('fake adapter');
  return errors;
}

async function loadDemoAndSample(page: Page) {
  await page.getByRole('button', { name: 'Use demo model (stories260K)' }).click();
  await expect(page.getByTestId('model-name')).toHaveText('stories260K');
  await page.getByRole('button', { name: 'Use sample dataset' }).click();
  await expect(page.getByTestId('dataset-info')).toBeVisible();
}

async function train(page: Page, name = '') {
  const run = page.getByRole('region', { name: 'Run' });
  if (name) await run.getByLabel('Run name (optional)').fill(name);
  await expect(page.getByTestId('start-training')).not.toHaveAttribute('aria-disabled', 'true');
  await page.getByTestId('start-training').click();
  return run;
}

test('model step: the demo model, its facts, the adapter it runs on and the memory it needs', async ({ page }) => {
  const errors = await open(page);
  const model = page.getByRole('region', { name: 'Model' });
  await model.getByRole('button', { name: 'Use demo model (stories260K)' }).click();
  const facts = model.getByRole('definition');
  await expect(model.getByTestId('model-name')).toHaveText('stories260K');
  await expect(facts.filter({ hasText: '292K' })).toBeVisible();
  await expect(facts.filter({ hasText: 'LlamaForCausalLM' })).toBeVisible();
  await expect(facts.filter({ hasText: 'fake adapter' })).toBeVisible();
  await expect(model.getByText('A tiny model: expect simple stories')).toBeVisible();
  await expect(model.getByRole('img', { name: /GPU memory for this job: .* of 512 MiB/ })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Steps' }).getByRole('link', { name: /Model/ })).toContainText('stories260K');
  expect(errors).toEqual([]);
});

test('model step: Hub ids are checked, engine errors are shown in words, folders load', async ({ page }) => {
  await open(page);
  const model = page.getByRole('region', { name: 'Model' });
  await model.getByLabel('Hugging Face repo id').fill('https://huggingface.co/gpt2');
  await model.getByRole('button', { name: 'Download model' }).click();
  await expect(model.getByTestId('model-error')).toContainText('not the page address');
  await model.getByLabel('Hugging Face repo id').fill('missing/model');
  await model.getByLabel('Hugging Face repo id').press('Enter');
  await expect(model.getByRole('alert')).toContainText('was not found on the Hugging Face Hub (404). Check the repo id');
  await model.getByLabel('Hugging Face repo id').fill('HuggingFaceTB/SmolLM2-135M');
  await model.getByLabel('Revision').fill('main');
  await model.getByRole('button', { name: 'Download model' }).click();
  await expect(model.getByTestId('model-name')).toHaveText('HuggingFaceTB/SmolLM2-135M');
  await expect(model.getByRole('alert')).toHaveCount(0);

  await model.getByLabel('Choose model files…').setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from('{}') },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.alloc(16) },
  ]);
  await expect(model.getByTestId('model-name')).toHaveText('config.json');
});

test('dataset step: format, preview with trained tokens marked, statistics, every bad row, warnings', async ({ page }) => {
  await open(page);
  await page.getByRole('button', { name: 'Use demo model (stories260K)' }).click();
  const ds = page.getByRole('region', { name: 'Dataset' });
  await ds.getByRole('button', { name: 'Use sample dataset' }).click();
  await expect(ds.getByTestId('detected-format')).toHaveText('Alpaca (instruction / input / output)');
  await expect(ds.getByText('(96% of 50 sampled rows fit)')).toBeVisible();
  // Trained pieces are <mark>ed and distinct from prompt pieces; a legend says which is which.
  await expect(ds.getByLabel('Legend')).toContainText('trained on');
  await expect(ds.locator('mark.tok-trained').first()).toHaveText('Bob looks up at the moon.');
  const masked = ds.locator('.tok-masked').nth(1);
  expect(await masked.evaluate((el) => getComputedStyle(el).color)).not.toBe(await ds.locator('mark.tok-trained').first().evaluate((el) => getComputedStyle(el).color));
  // Dataset text that looks like HTML is shown as text, never parsed.
  await expect(ds.getByText('<img src=x onerror="window.__xss=1">').first()).toBeVisible();
  expect(await ds.locator('.preview img').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  // Statistics and histogram.
  const stats = ds.getByRole('term');
  await expect(stats.filter({ hasText: 'Trained tokens' })).toBeVisible();
  await expect(ds.getByText('21,000')).toBeVisible();
  await expect(ds.getByRole('figure', { name: 'Sequence lengths (tokens)' })).toBeVisible();
  // All 25 bad rows, each with its line and reason, in a scrollable list.
  const bad = ds.getByRole('list', { name: /Rows not used/ });
  await expect(bad.getByRole('listitem')).toHaveCount(25);
  await expect(bad.getByRole('listitem').first()).toHaveText(/Line 3 not valid JSON/);
  await expect(bad.getByRole('listitem').last()).toContainText('Line 99');
  expect(await bad.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
  await expect(ds.getByRole('list', { name: 'Dataset warnings' })).toContainText('truncated');
  // Stopping at bad rows turns the first one into an error that names its line and the way out.
  await ds.getByLabel('Stop at the first one').check();
  await expect(ds.getByRole('alert')).toContainText('line 3');
  await expect(ds.getByRole('alert')).toContainText('choose "skip bad rows"');
  await ds.getByLabel('Skip them and list them below').check();
  await expect(ds.getByRole('alert')).toHaveCount(0);
  await expect(bad.getByRole('listitem')).toHaveCount(25);
});

test('dataset step: a user file name and content are shown as text; the column mapping can be overridden', async ({ page }) => {
  await open(page);
  await page.getByRole('button', { name: 'Use demo model (stories260K)' }).click();
  await expect(page.getByTestId('model-name')).toHaveText('stories260K');
  const ds = page.getByRole('region', { name: 'Dataset' });
  await ds.getByLabel('Choose dataset file…').setInputFiles({ name: '<b>rows</b>.jsonl', mimeType: 'application/json', buffer: Buffer.from('{"q":"<script>window.__xss=2</script>","a":"hi"}\n') });
  await expect(ds.getByText('<b>rows</b>.jsonl', { exact: true })).toBeVisible();
  await expect(ds.getByText('{"q":"<script>window.__xss=2</script>","a":"hi"}')).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();

  await ds.getByLabel('Rows are').selectOption('instruction');
  await ds.getByLabel('Instruction column').fill('q');
  await ds.getByLabel('Answer column').fill('a');
  await ds.getByLabel('Input column (optional)').fill('');
  await ds.getByRole('button', { name: 'Apply mapping' }).click();
  await expect(ds.getByText('Using your mapping')).toBeVisible();
  await expect(ds.getByLabel('Instruction column')).toHaveValue('q');
  await ds.getByRole('button', { name: 'Use detected format' }).click();
  await expect(ds.getByText('Detected:')).toBeVisible();
  await expect(ds.getByLabel('Instruction column')).toHaveValue('instruction');

  // A file type the studio does not read is refused with the list of types it does.
  await ds.getByLabel('Choose dataset file…').setInputFiles({ name: 'data.xlsx', mimeType: 'application/octet-stream', buffer: Buffer.alloc(4) });
  await expect(ds.getByRole('alert')).toContainText('Use .jsonl, .json, .csv, .txt or .parquet');
});

test('dataset step: data picked before a model waits for it, and is read again for a new model', async ({ page }) => {
  await open(page);
  const ds = page.getByRole('region', { name: 'Dataset' });
  await ds.getByRole('button', { name: 'Use sample dataset' }).click();
  await expect(ds.getByRole('status')).toContainText('will be read as soon as a model is loaded');
  await expect(page.getByRole('navigation', { name: 'Steps' }).getByRole('link', { name: /Dataset/ })).toContainText('waiting for a model');
  await page.getByRole('button', { name: 'Use demo model (stories260K)' }).click();
  await expect(ds.getByTestId('dataset-info')).toBeVisible();
  // Another model: the old tokenization is dropped and the same source read again.
  await page.getByLabel('Hugging Face repo id').fill('HuggingFaceTB/SmolLM2-135M');
  await page.getByRole('button', { name: 'Download model' }).click();
  await expect(page.getByTestId('model-name')).toHaveText('HuggingFaceTB/SmolLM2-135M');
  await expect(ds.getByTestId('dataset-info')).toBeVisible();
});

test('a lost GPU shows a banner with the way out, and reconnecting clears it', async ({ page }) => {
  await open(page);
  await page.getByLabel('Hugging Face repo id').fill('test/lose-device');
  await page.getByRole('button', { name: 'Download model' }).click();
  const banner = page.getByTestId('gpu-banner');
  await expect(banner).toContainText('The GPU was lost.');
  await banner.getByRole('button', { name: 'Reconnect to the GPU' }).click();
  await expect(banner).toHaveCount(0);
  await expect(page.getByTestId('adapter-name')).toHaveText('fake adapter');
});

test('job step: the estimate follows the settings, says when the job does not fit, and compares checkpointing', async ({ page }) => {
  await open(page);
  await loadDemoAndSample(page);
  const job = page.getByRole('region', { name: 'Training job' });
  const estimate = job.getByTestId('memory-estimate');
  await expect(estimate).toContainText('Fits on this GPU.');
  await expect(job.getByRole('img', { name: /GPU memory for this job/ })).toBeVisible();
  await expect(estimate).toContainText('Activation checkpointing is off');
  const before = await estimate.getByRole('img').getAttribute('aria-label');
  await job.getByLabel('Batch size').fill('64');
  await job.getByLabel('Sequence length').fill('1024');
  await expect(estimate).toContainText('turn on activation checkpointing, or lower the batch size');
  expect(await estimate.getByRole('img').getAttribute('aria-label')).not.toBe(before);
  await expect(page.getByTestId('start-training')).toHaveAttribute('aria-disabled', 'true');
  await expect(page.getByRole('region', { name: 'Run' })).toContainText('The job does not fit in GPU memory');
  await estimate.getByRole('button', { name: 'Turn it on' }).click();
  await expect(job.getByLabel('Activation checkpointing')).toBeChecked();
  await expect(estimate).toContainText('Activation checkpointing is on');
  // Changing the sequence length re-reads the dataset so its numbers match the job.
  await job.getByLabel('Batch size').fill('4');
  await job.getByLabel('Sequence length').fill('256');
  await expect(page.getByRole('region', { name: 'Dataset' }).getByRole('definition').filter({ hasText: /^0$/ })).toHaveCount(1);
});

test('job step: the method decides which settings show; prompt tuning turns packing off; the budget is in GiB', async ({ page }) => {
  await open(page);
  const job = page.getByRole('region', { name: 'Training job' });
  await expect(job.getByLabel('Rank (r)')).toBeVisible();
  await job.getByLabel('Prompt tuning (smallest)').check();
  await expect(job.getByLabel('Rank (r)')).toHaveCount(0);
  await expect(job.getByLabel('Virtual tokens', { exact: true })).toHaveValue('20');
  await expect(job.getByLabel('Pack short examples together')).not.toBeChecked();
  await job.getByLabel('Start the virtual tokens from').selectOption('text');
  await expect(job.getByText('Text init needs an init text')).toBeVisible();
  await job.getByLabel('Init text').fill('Tell stories about Bob.');
  await expect(job.getByText('Text init needs an init text')).toHaveCount(0);
  await job.getByLabel('Virtual tokens', { exact: true }).fill('0');
  await expect(job.getByText('Virtual tokens must be a whole number from 1 to 512')).toBeVisible();
  await job.getByLabel('Full fine-tuning (every weight)').check();
  await expect(job.getByLabel('Virtual tokens', { exact: true })).toHaveCount(0);
  await expect(job.getByLabel('Rank (r)')).toHaveCount(0);
  const budget = job.getByLabel('GPU memory budget (GiB, optional)');
  await budget.fill('lots');
  await expect(job.getByText('Enter a size in GiB above 0')).toBeVisible();
  await budget.fill('2');
  await expect(job.getByText('Enter a size in GiB above 0')).toHaveCount(0);
  await expect(job.getByText(/settings? needs? fixing/)).toHaveCount(0);
});

test('export: what a fully fine-tuned run offers, and why the others are refused', async ({ page }) => {
  await open(page);
  await loadDemoAndSample(page);
  await page.getByRole('region', { name: 'Training job' }).getByLabel('Full fine-tuning (every weight)').check();
  const run = await train(page, 'full');
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 20_000 });
  await expect(run.getByTestId('run-row')).toContainText('full fine-tuning');
  const ex = page.getByRole('region', { name: 'Export' });
  await expect(ex.getByRole('button', { name: 'Download GGUF adapter' })).toHaveAttribute('aria-disabled', 'true');
  await expect(ex.getByRole('button', { name: 'Download GGUF adapter' })).toHaveAccessibleDescription(/LoRA only/);
  const peft = ex.getByRole('button', { name: 'Download PEFT adapter', exact: true });
  await expect(peft).toHaveAttribute('aria-disabled', 'true');
  await expect(peft).toHaveAccessibleDescription('Full fine-tuning has no adapter: download the fine-tuned model instead.');
  await expect(ex.getByRole('button', { name: 'Download fine-tuned model' })).not.toHaveAttribute('aria-disabled', 'true');
  await expect(ex.getByLabel('Weights as')).toHaveValue('float16');
});

test('run step: start, live progress and charts, pause, resume, finish, and the run in the list', async ({ page }) => {
  const errors = await open(page);
  await loadDemoAndSample(page);
  await page.getByRole('region', { name: 'Training job' }).getByLabel('Max steps').fill('40');
  const run = await train(page, 'bob <i>moon</i>');
  const bar = run.getByRole('progressbar', { name: 'Training progress' });
  await expect(bar).toBeVisible();
  await expect(run.getByText(/Step \d+ of 40 · epoch 1 · loss [\d.]+ .* tokens\/s · ETA \d+/)).toBeVisible();
  await expect(run.getByTestId('chart-loss')).toContainText(/latest [\d.]+/);
  await expect(run.getByTestId('chart-lr').locator('canvas').first()).toBeVisible();
  await run.getByRole('button', { name: 'Pause', exact: true }).click();
  await expect(run.getByRole('status').filter({ hasText: 'Paused' })).toBeVisible();
  await expect(run.getByText(/checkpoint saved/)).toBeVisible();
  const pausedAt = Number(await bar.getAttribute('value'));
  expect(pausedAt).toBeLessThan(40);
  await run.getByRole('button', { name: 'Resume', exact: true }).click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 20_000 });
  await expect(bar).toHaveAttribute('value', '40');
  await expect(run.getByTestId('chart-loss')).toContainText('validation');
  const row = run.getByTestId('run-row');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('bob <i>moon</i>');
  await expect(row).toContainText('finished · step 40 of 40');
  await expect(run.getByRole('button', { name: /^Resume bob/ })).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('run step: a run that hits NaN shows the error in words with the way out, and offers to resume from its checkpoint', async ({ page }) => {
  await open(page);
  await loadDemoAndSample(page);
  const run = await train(page, 'explode');
  const alert = run.getByRole('alert');
  await expect(alert).toContainText('NaN/Inf at step 4');
  await expect(alert).toContainText('Lower the learning rate');
  await expect(run.getByRole('button', { name: 'Resume explode from step 2' })).toBeVisible();
  await alert.getByRole('button', { name: 'Dismiss' }).click();
  await expect(run.getByRole('alert')).toHaveCount(0);
  await expect(run.getByRole('status').filter({ hasText: 'Paused' })).toBeVisible();
  await expect(run.getByRole('button', { name: 'Resume', exact: true })).not.toHaveAttribute('aria-disabled', 'true');
});

test('playground: base and adapter answers stream side by side; model text stays text', async ({ page }) => {
  await open(page);
  await loadDemoAndSample(page);
  const pg = page.getByRole('region', { name: 'Playground' });
  await expect(pg.getByRole('region', { name: /Fine-tuned/ })).toHaveCount(0);
  const run = await train(page);
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 20_000 });
  await pg.getByLabel('Prompt', { exact: true }).fill('Where is Bob?');
  await pg.getByLabel('Greedy (always the most likely token)').check();
  await expect(pg.getByLabel('Temperature')).toBeDisabled();
  await pg.getByLabel('Chat (uses the chat template)').check();
  await expect(pg.getByLabel('Message')).toHaveValue('Where is Bob?');
  await pg.getByTestId('generate').click();
  await expect(pg.getByTestId('answer-base').locator('pre')).toHaveText('Once there was a <b>cat</b>.');
  await expect(pg.getByTestId('answer-adapter').locator('pre')).toHaveText('Bob looks up at the moon.');
  await expect(pg.getByTestId('answer-adapter')).toContainText('7 tokens');
  expect(await pg.locator('pre b').count()).toBe(0);
  await pg.getByLabel('Max new tokens').fill('0');
  await expect(pg.getByText('Max tokens must be a whole number from 1 to 4096.')).toBeVisible();
  await expect(pg.getByTestId('generate')).toHaveAttribute('aria-disabled', 'true');
});

test('export: PEFT files, zip and GGUF download under safe names; merge errors explain; adapters import', async ({ page }) => {
  await open(page);
  await loadDemoAndSample(page);
  const ex = page.getByRole('region', { name: 'Export' });
  await expect(ex.getByRole('button', { name: 'Download PEFT adapter', exact: true })).toHaveAttribute('aria-disabled', 'true');
  const run = await train(page, 'my run/1');
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 20_000 });

  // one click, one .zip named after the run; the files inside under safe names
  const peft = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  expect(peft.name).toBe('my-run_1-peft-adapter.zip');
  const inside = [...peft.files.keys()];
  expect(inside).toHaveLength(2);
  expect(inside).toContain('adapter_model.safetensors');
  // eslint-disable-next-line no-control-regex
  for (const n of inside) expect(n, n).not.toMatch(/[/\\:*?"<>|\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/);

  const gguf = page.waitForEvent('download');
  await ex.getByRole('button', { name: 'Download GGUF adapter' }).click();
  expect((await gguf).suggestedFilename()).toBe('stories260K-lora.gguf');

  await ex.getByRole('button', { name: 'Download merged model' }).click();
  await expect(ex.getByTestId('export-error')).toContainText('Export the PEFT adapter instead');

  await ex.getByLabel('Choose adapter files…').setInputFiles([{ name: 'adapter_model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.alloc(16) }]);
  await expect(ex.getByTestId('import-error')).toContainText('adapter_config.json is missing');
  await ex.getByLabel('Choose adapter files…').setInputFiles([
    { name: 'adapter_config.json', mimeType: 'application/json', buffer: Buffer.from('{}') },
    { name: 'adapter_model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.alloc(16) },
  ]);
  await expect(ex.getByTestId('imported-adapter')).toContainText('rank 8, alpha 16, on q_proj, v_proj');
});

for (const size of [
  { width: 1280, height: 800 },
  { width: 1920, height: 1080 },
]) {
  for (const scheme of ['light', 'dark'] as const) {
    test(`screenshots of the filled-in panels at ${size.width}x${size.height}, ${scheme}`, async ({ page }, testInfo) => {
      await page.setViewportSize(size);
      await page.emulateMedia({ colorScheme: scheme });
      await open(page);
      await loadDemoAndSample(page);
      const run = await train(page, 'screenshot run');
      await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 20_000 });
      const pg = page.getByRole('region', { name: 'Playground' });
      await pg.getByTestId('generate').click();
      await expect(pg.getByTestId('answer-adapter').locator('pre')).toHaveText('Bob looks up at the moon.');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      const tag = `${size.width}x${size.height}-${scheme}`;
      for (const id of ['model', 'dataset', 'job', 'run', 'playground', 'export']) {
        const region = page.locator(`#${id}`);
        await region.scrollIntoViewIfNeeded();
        await region.screenshot({ path: testInfo.outputPath(`${id}-filled-${tag}.png`) });
      }
      await page.screenshot({ path: testInfo.outputPath(`full-filled-${tag}.png`), fullPage: true });
    });
  }
}
