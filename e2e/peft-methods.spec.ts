// (IA)³, bottleneck adapters and prefix tuning chosen in the job step, against the real engine
// worker on the demo model: each trains, its adapter answer streams in the playground, its adapter
// files download (PEFT IA3; the AdapterHub adapters layout for bottleneck; PEFT PREFIX_TUNING),
// and the exports that cannot exist for it say why before any click: GGUF for all three, the
// merged model for bottleneck and prefix. The prefix export imports back.
import { expect, test, type Page } from '@playwright/test';
import { downloadOne, loadDemo, loadSample, openStudio } from './lib/studio';
import { bufferSource } from '../src/io/byteSource';
import { readSafetensorsHeader } from '../src/io/safetensors';

async function trainWith(page: Page, pick: (job: ReturnType<Page['getByRole']>) => Promise<void>, name: string) {
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await pick(job);
  await job.getByLabel('Max steps').fill('4');
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Sequence length').fill('64');
  await job.getByLabel('Evaluate every (steps)').fill('4');
  await job.getByLabel('Checkpoint every (steps)').fill('4');
  await expect(job.getByTestId('memory-estimate')).toContainText('Fits on this GPU.');
  await loadSample(page);
  const run = page.getByRole('region', { name: 'Run' });
  await run.getByLabel('Run name (optional)').fill(name);
  await page.getByTestId('start-training').click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 200_000 });

  const pg = page.getByRole('region', { name: 'Playground' });
  await pg.getByLabel('Prompt', { exact: true }).fill('Once upon a time');
  await pg.getByLabel('Max new tokens').fill('12');
  await pg.getByLabel('Greedy (always the most likely token)').check();
  await pg.getByTestId('generate').click();
  await expect(pg.getByTestId('answer-adapter')).toContainText(/\d+ tokens in/, { timeout: 60_000 });
  return page.getByRole('region', { name: 'Export' });
}

test('job step (IA)³: trains, shows in the playground, exports PEFT IA3 and the merged model, blocks GGUF', async ({ page }) => {
  test.setTimeout(420_000);
  const errors = await openStudio(page);
  await loadDemo(page);
  const ex = await trainWith(page, (job) => job.getByLabel('(IA)³ scaling vectors (tiniest adapter)').check(), 'e2e ia3');

  const peft = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  const config = JSON.parse(peft.files.get('adapter_config.json')!.toString('utf8'));
  expect(config).toMatchObject({ peft_type: 'IA3', target_modules: ['k_proj', 'v_proj', 'down_proj'], feedforward_modules: ['down_proj'] });
  const header = await readSafetensorsHeader(bufferSource(peft.files.get('adapter_model.safetensors')!, 'adapter_model.safetensors'));
  const names = header.tensors.map((t) => t.name);
  expect(names.every((n) => n.endsWith('.ia3_l'))).toBe(true);
  // stories260K: 5 layers, each with k, v and down_proj vectors; down_proj's is [1, in]
  expect(names.length).toBe(15);
  expect(header.byName.get('base_model.model.model.layers.0.mlp.down_proj.ia3_l')?.shape[0]).toBe(1);

  const gguf = ex.getByRole('button', { name: 'Download GGUF adapter' });
  await expect(gguf).toHaveAttribute('aria-disabled', 'true');
  await expect(gguf).toHaveAccessibleDescription(/an \(IA\)³ vector rescales whole rows or columns .* download the merged model instead/);
  const merged = await downloadOne(page, ex.getByRole('button', { name: 'Download merged model' }));
  expect([...merged.files.keys()]).toEqual(expect.arrayContaining(['model.safetensors', 'config.json']));
  expect(errors).toEqual([]);
});

test('job step bottleneck (Houlsby): trains, shows in the playground, exports the adapters-library files, blocks GGUF and merged', async ({ page }) => {
  test.setTimeout(420_000);
  const errors = await openStudio(page);
  await loadDemo(page);
  const ex = await trainWith(
    page,
    async (job) => {
      await job.getByLabel('Bottleneck adapters (Houlsby / Pfeiffer)').check();
      await job.getByLabel('Adapter placement').selectOption('houlsby');
      await job.getByLabel('Reduction factor').fill('8');
    },
    'e2e bottleneck',
  );

  const files = await downloadOne(page, ex.getByRole('button', { name: 'Download adapter (adapters library)' }));
  expect([...files.files.keys()].sort()).toEqual(['adapter.safetensors', 'adapter_config.json']);
  const config = JSON.parse(files.files.get('adapter_config.json')!.toString('utf8'));
  expect(config).toMatchObject({ hidden_size: 64, config: { architecture: 'bottleneck', mh_adapter: true, output_adapter: true, reduction_factor: 8, non_linearity: 'swish' } });
  const header = await readSafetensorsHeader(bufferSource(files.files.get('adapter.safetensors')!, 'adapter.safetensors'));
  // Houlsby: two adapters per layer (after attention, after the MLP), each a down and an up projection (weight + bias)
  expect(header.tensors.length).toBe(5 * 2 * 4);
  expect(header.tensors.some((t) => /adapter_down.*weight/.test(t.name) && t.shape[0] === 8)).toBe(true);

  for (const name of ['Download GGUF adapter', 'Download merged model']) {
    const b = ex.getByRole('button', { name });
    await expect(b).toHaveAttribute('aria-disabled', 'true');
  }
  await expect(ex.getByRole('button', { name: 'Download GGUF adapter' })).toHaveAccessibleDescription(/llama\.cpp has no bottleneck adapters/);
  await expect(ex.getByRole('button', { name: 'Download merged model' })).toHaveAccessibleDescription(/cannot be merged into the weights/);
  expect(errors).toEqual([]);
});

test('job step prefix tuning: trains from the text init, shows in the playground, exports PEFT PREFIX_TUNING and imports it back, blocks GGUF and merged', async ({ page }) => {
  test.setTimeout(420_000);
  const errors = await openStudio(page);
  await loadDemo(page);
  const ex = await trainWith(
    page,
    async (job) => {
      await job.getByLabel('Prefix tuning (trained keys/values in every layer)').check();
      await job.getByLabel('Prefix positions').fill('8');
      await expect(job.getByLabel('Start the prefix from')).toHaveValue('text');
      // the job's learning rate is LoRA's: the studio offers prefix tuning's own
      await job.getByTestId('typical-lr').getByRole('button', { name: 'Use 1e-1' }).click();
      await expect(job.getByLabel('Learning rate')).toHaveValue('0.1');
      await expect(job.getByTestId('typical-lr')).toHaveCount(0);
    },
    'e2e prefix',
  );

  const peft = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  const config = JSON.parse(peft.files.get('adapter_config.json')!.toString('utf8'));
  expect(config).toMatchObject({ peft_type: 'PREFIX_TUNING', num_virtual_tokens: 8, token_dim: 32, num_attention_heads: 4, num_layers: 5, prefix_projection: false });
  const header = await readSafetensorsHeader(bufferSource(peft.files.get('adapter_model.safetensors')!, 'adapter_model.safetensors'));
  expect(header.byName.get('prompt_embeddings')?.shape).toEqual([8, 5 * 2 * 32]);

  for (const name of ['Download GGUF adapter', 'Download merged model']) {
    const b = ex.getByRole('button', { name });
    await expect(b).toHaveAttribute('aria-disabled', 'true');
    await expect(b).toHaveAccessibleDescription(/not a change of any weight: there is no merged model, and llama\.cpp has no prefix-tuning adapters/);
  }

  await ex.getByLabel('Choose adapter files…').setInputFiles([
    { name: 'adapter_config.json', mimeType: 'application/json', buffer: peft.files.get('adapter_config.json')! },
    { name: 'adapter_model.safetensors', mimeType: 'application/octet-stream', buffer: peft.files.get('adapter_model.safetensors')! },
  ]);
  await expect(ex.getByTestId('imported-adapter')).toContainText('prefix tuning, 8 key/value positions in every layer.');
  expect(errors).toEqual([]);
});

test('job step LoRA+: trains, shows in the playground, exports a plain PEFT LoRA (the format does not change)', async ({ page }) => {
  test.setTimeout(420_000);
  const errors = await openStudio(page);
  await loadDemo(page);
  const ex = await trainWith(page, (job) => job.getByLabel('LoRA+ (larger learning rate for B)').check(), 'e2e lora+');
  const peft = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  const config = JSON.parse(peft.files.get('adapter_config.json')!.toString('utf8'));
  expect(config).toMatchObject({ peft_type: 'LORA', r: 4 });
  expect(config.use_dora ?? false).toBe(false);
  const gguf = await downloadOne(page, ex.getByRole('button', { name: 'Download GGUF adapter' }));
  expect([...gguf.files.keys()].some((n) => n.endsWith('.gguf'))).toBe(true);
  expect(errors).toEqual([]);
});

test('the method picker compares every method on the loaded model (parameters, memory, measured step time) and chooses one', async ({ page }) => {
  test.setTimeout(420_000);
  const errors = await openStudio(page);
  await loadDemo(page);
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Sequence length').fill('64');
  await job.getByText('Compare the methods on this model', { exact: true }).click();
  const table = job.getByTestId('method-comparison');
  await expect(table).toBeVisible({ timeout: 60_000 });
  await expect(table.locator('tbody tr')).toHaveCount(7);
  await expect(table).toContainText('batch 2 × 64 tokens');
  // stories260K: LoRA r4 on every linear of 5 layers; (IA)³ 5·(32 + 32 + 172)
  await expect(table.locator('tr[data-method="ia3"] td').first()).toHaveText('1.18K');
  await expect(table.locator('tr[data-method="full"] td').first()).toHaveText(/^\d+(\.\d+)?K$/);

  await job.getByRole('button', { name: 'Measure speed on this GPU' }).click();
  await expect(job.getByRole('button', { name: 'Measure speed on this GPU' })).toBeEnabled({ timeout: 300_000 });
  for (const key of ['lora', 'dora', 'ia3', 'bottleneck', 'prefix', 'prompt']) {
    await expect(table.locator(`tr[data-method="${key}"] td`).nth(2), key).toHaveText(/^\d+ ms \(\d+\.\d×\)$/);
  }
  await expect(table.locator('tr[data-method="full"]')).toContainText('Not measured: full fine-tuning would overwrite the loaded weights.');

  await table.getByRole('button', { name: 'Choose Prefix tuning' }).click();
  await expect(job.getByLabel('Prefix tuning (trained keys/values in every layer)')).toBeChecked();
  await expect(job.getByLabel('Prefix positions')).toBeVisible();
  expect(errors).toEqual([]);
});

test('job step prefix tuning through its MLP (prefix_projection): trains, answers in the playground, exports the prefix it produces', async ({ page }) => {
  test.setTimeout(420_000);
  const errors = await openStudio(page);
  await loadDemo(page);
  const ex = await trainWith(
    page,
    async (job) => {
      await job.getByLabel('Prefix tuning (trained keys/values in every layer)').check();
      await job.getByLabel('Prefix positions').fill('8');
      await job.getByLabel('Train through an MLP (PEFT prefix_projection)').check();
      // the MLP starts from PEFT's random init: no text to start from
      await expect(job.getByLabel('Start the prefix from')).toHaveCount(0);
      await expect(job.getByLabel('Prefix text')).toHaveCount(0);
      await job.getByLabel('MLP hidden size (optional)').fill('16');
      // its typical lr (5e-3) is near Quick try's 3e-3: no hint, unlike the prefix itself (1e-1)
      await expect(job.getByTestId('typical-lr')).toHaveCount(0);
    },
    'e2e prefix mlp',
  );
  const peft = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  expect(JSON.parse(peft.files.get('adapter_config.json')!.toString('utf8'))).toMatchObject({ peft_type: 'PREFIX_TUNING', num_virtual_tokens: 8 });
  const header = await readSafetensorsHeader(bufferSource(peft.files.get('adapter_model.safetensors')!, 'adapter_model.safetensors'));
  expect(header.byName.get('prompt_embeddings')?.shape).toEqual([8, 5 * 2 * 32]);
  expect(errors).toEqual([]);
});
