import { expect, test, type Page } from '@playwright/test';
import { downloadOne, loadDemo, loadSample, openStudio } from './lib/studio';

// Every export is one action that always works: one click, one download. The PEFT pair and the
// merged model's folder come as one .zip (Chrome would otherwise ask to allow multiple downloads
// and people miss it); the files inside parse as what they are.

/** Names and header entries of a safetensors file. */
function safetensorsHeader(bytes: Buffer): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> {
  const n = Number(bytes.readBigUInt64LE(0));
  expect(8 + n).toBeLessThanOrEqual(bytes.length);
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  delete header.__metadata__;
  for (const t of Object.values(header) as { data_offsets: [number, number] }[]) expect(8 + n + t.data_offsets[1]).toBeLessThanOrEqual(bytes.length);
  return header;
}

async function trainBriefly(page: Page) {
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Max steps').fill('2');
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Evaluate every (steps)').fill('0');
  const run = page.getByRole('region', { name: 'Run' });
  await run.getByLabel('Run name (optional)').fill('one download');
  await page.getByTestId('start-training').click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 120_000 });
}

test('"Download PEFT adapter" is one click, one .zip with adapter_config.json and adapter_model.safetensors that parse; the merged model is one .zip too', async ({ page }) => {
  const errors = await openStudio(page);
  await loadDemo(page);
  await loadSample(page);
  await trainBriefly(page);
  const ex = page.getByRole('region', { name: 'Export' });

  const peft = await downloadOne(page, ex.getByRole('button', { name: 'Download PEFT adapter', exact: true }));
  expect(peft.name).toBe('one-download-peft-adapter.zip');
  expect([...peft.files.keys()].sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  const config = JSON.parse(peft.files.get('adapter_config.json')!.toString('utf8'));
  expect(config.peft_type).toBe('LORA');
  expect(config.r).toBeGreaterThan(0);
  const tensors = Object.keys(safetensorsHeader(peft.files.get('adapter_model.safetensors')!));
  expect(tensors.some((k) => k.endsWith('lora_A.weight'))).toBe(true);
  expect(tensors.some((k) => k.endsWith('lora_B.weight'))).toBe(true);

  const merged = await downloadOne(page, ex.getByRole('button', { name: 'Download merged model', exact: true }));
  expect(merged.name).toBe('one-download-merged-model.zip');
  expect([...merged.files.keys()]).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'tokenizer.json']));
  expect(JSON.parse(merged.files.get('config.json')!.toString('utf8')).torch_dtype).toBe('float16');
  expect(Object.keys(safetensorsHeader(merged.files.get('model.safetensors')!)).length).toBeGreaterThan(5);

  const gguf = await downloadOne(page, ex.getByRole('button', { name: 'Download GGUF adapter' }));
  expect(gguf.name).toMatch(/\.gguf$/);
  expect(gguf.files.get(gguf.name)!.subarray(0, 4).toString()).toBe('GGUF');

  // where the browser has a directory picker, the pair can be written into a folder instead
  const hasPicker = await page.evaluate(() => typeof (window as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function');
  await expect(ex.getByRole('button', { name: 'Save PEFT adapter into a folder' })).toHaveCount(hasPicker ? 1 : 0);
  expect(errors).toEqual([]);
});

test('"Save into a folder…" writes the PEFT pair into the folder the directory picker gives', async ({ page }) => {
  const errors = await openStudio(page);
  const hasPicker = await page.evaluate(() => typeof (window as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function');
  expect(hasPicker, 'Chromium has the directory picker').toBe(true);
  // Playwright cannot answer the browser's folder dialog: the picker hands out a real writable
  // folder of the origin-private file system instead, as the dialog would hand out the user's.
  await page.evaluate(() => {
    (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () =>
      (await navigator.storage.getDirectory()).getDirectoryHandle('picked-export', { create: true });
  });
  await loadDemo(page);
  await loadSample(page);
  await trainBriefly(page);
  const ex = page.getByRole('region', { name: 'Export' });
  let downloads = 0;
  page.on('download', () => downloads++);
  await ex.getByRole('button', { name: 'Save PEFT adapter into a folder' }).click();
  await expect(ex.getByRole('status').filter({ hasText: 'Saved picked-export/adapter_model.safetensors, picked-export/adapter_config.json.' })).toBeVisible();
  const written = await page.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked-export');
    const cfg = await (await dir.getFileHandle('adapter_config.json')).getFile();
    const weights = await (await dir.getFileHandle('adapter_model.safetensors')).getFile();
    return { config: JSON.parse(await cfg.text()) as { peft_type: string }, weightBytes: weights.size };
  });
  expect(written.config.peft_type).toBe('LORA');
  expect(written.weightBytes).toBeGreaterThan(1000);
  expect(downloads).toBe(0);
  expect(errors).toEqual([]);
});
