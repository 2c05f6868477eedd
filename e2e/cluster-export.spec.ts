import { expect, test } from '@playwright/test';
import { downloadOne, loadDemo, loadSample, openStudio } from './lib/studio';

// "Export for a cluster" from a run in the studio: one click, one .zip holding the recipe folder
// (train.py, job.json with the run's settings and losses, the trainer's batches, the first
// adapter as PEFT, the raw dataset, accelerate configs, README, Axolotl YAML). The way back is the
// existing PEFT import: the recipe's adapter folder (the format train.py saves) imports as LoRA.
test('"Export for a cluster" saves the recipe folder of a run as one .zip, and its PEFT adapter imports back', async ({ page }) => {
  const errors = await openStudio(page);
  await loadDemo(page);
  await loadSample(page);
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Max steps').fill('2');
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Evaluate every (steps)').fill('0');
  const run = page.getByRole('region', { name: 'Run' });
  await run.getByLabel('Run name (optional)').fill('cluster job');
  await page.getByTestId('start-training').click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 120_000 });

  const ex = page.getByRole('region', { name: 'Export' });
  const zip = await downloadOne(page, ex.getByRole('button', { name: 'Export for a cluster', exact: true }));
  expect(zip.name).toBe('cluster-job-cluster-recipe.zip');
  const root = 'cluster-job-cluster-recipe/';
  const file = (p: string) => {
    const b = zip.files.get(root + p);
    expect(b, `${p} in the .zip`).toBeDefined();
    return b!;
  };
  for (const p of ['train.py', 'whetstone_recipe.py', 'README.md', 'axolotl.yaml', 'accelerate_config.yaml', 'accelerate_multinode.yaml', 'chat_template.jinja', 'data/raw/sample.jsonl']) file(p);
  expect(file('train.py').toString('utf8')).toContain('from peft import PeftModel');
  const recipe = JSON.parse(file('job.json').toString('utf8'));
  expect(recipe.schedule.total_steps).toBe(2);
  expect(recipe.batch).toMatchObject({ batch_size: 2, grad_accumulation: 1 });
  expect(recipe.studio_history.map((h: { step: number }) => h.step)).toEqual([1, 2]);
  const rows = file('data/train_batches.jsonl').toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(rows.length).toBe(2 * 2);
  expect(rows.map((r: { step: number }) => r.step)).toEqual([1, 1, 2, 2]);
  expect(file('README.md').toString('utf8')).toContain('## Coming back to the studio');

  // back: the PEFT folder imports as a LoRA adapter of the loaded model
  await ex.getByLabel('Choose adapter files…').setInputFiles([
    { name: 'adapter_config.json', mimeType: 'application/json', buffer: file('initial_adapter/adapter_config.json') },
    { name: 'adapter_model.safetensors', mimeType: 'application/octet-stream', buffer: file('initial_adapter/adapter_model.safetensors') },
  ]);
  await expect(ex.getByTestId('imported-adapter')).toContainText(`rank ${recipe.lora.r}`);
  expect(errors).toEqual([]);
});
