// DoRA chosen in the job step, against the real engine worker on the demo model: it trains, the
// playground's adapter answer streams, the PEFT export is a DoRA adapter (use_dora and one
// lora_magnitude_vector per module), the GGUF download is blocked with the reason and the merged
// model offered instead, and the merged model downloads.
import { expect, test } from '@playwright/test';
import { downloadOne, loadDemo, loadSample, openStudio } from './lib/studio';
import { bufferSource } from '../src/io/byteSource';
import { readSafetensorsHeader } from '../src/io/safetensors';

test('job step DoRA: trains, shows in the playground, exports PEFT DoRA and the merged model, blocks GGUF', async ({ page }) => {
  test.setTimeout(420_000);
  const errors = await openStudio(page);
  await loadDemo(page);
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Max steps').fill('4');
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Sequence length').fill('64');
  await job.getByLabel('Evaluate every (steps)').fill('4');
  await job.getByLabel('Checkpoint every (steps)').fill('4');
  await job.getByLabel('DoRA (weight-decomposed LoRA)').check();
  await expect(job.getByTestId('memory-estimate')).toContainText('Fits on this GPU.');
  await loadSample(page);

  const run = page.getByRole('region', { name: 'Run' });
  await run.getByLabel('Run name (optional)').fill('e2e dora');
  await page.getByTestId('start-training').click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 200_000 });

  const pg = page.getByRole('region', { name: 'Playground' });
  await pg.getByLabel('Prompt', { exact: true }).fill('Once upon a time');
  await pg.getByLabel('Max new tokens').fill('12');
  await pg.getByLabel('Greedy (always the most likely token)').check();
  await pg.getByTestId('generate').click();
  await expect(pg.getByTestId('answer-adapter')).toContainText(/\d+ tokens in/, { timeout: 60_000 });

  const ex = page.getByRole('region', { name: 'Export' });
  const peft = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  const config = JSON.parse(peft.files.get('adapter_config.json')!.toString('utf8'));
  expect(config).toMatchObject({ peft_type: 'LORA', use_dora: true, r: 4 });
  const header = await readSafetensorsHeader(bufferSource(peft.files.get('adapter_model.safetensors')!, 'adapter_model.safetensors'));
  expect(header.byName.get('base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector')?.shape).toEqual([64]);
  expect(header.tensors.filter((t) => t.name.endsWith('.lora_magnitude_vector')).length).toBe(header.tensors.length / 3);

  // the GGUF button says before any click why there is none, and what to take instead
  const gguf = ex.getByRole('button', { name: 'Download GGUF adapter' });
  await expect(gguf).toHaveAttribute('aria-disabled', 'true');
  await expect(gguf).toHaveAccessibleDescription(/no DoRA magnitude: download the merged model instead/);

  const merged = await downloadOne(page, ex.getByRole('button', { name: 'Download merged model' }));
  expect([...merged.files.keys()]).toEqual(expect.arrayContaining(['model.safetensors', 'config.json']));
  expect(errors).toEqual([]);
});
