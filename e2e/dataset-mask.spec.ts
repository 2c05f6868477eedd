// The dataset preview shows exactly which tokens are trained, with a real chat template: a tiny
// random-weight model around Qwen3's real tokenizer files (its template rewrites earlier turns and
// writes an empty think block into the last one) is picked as files, a chat dataset is loaded, and
// the highlighted runs must be each answer with its <|im_end|>, nothing of the prompts or headers,
// non-ASCII text intact; the demo model (no template: the default one) shows its answers with EOS.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { CHAT } from '../src/data/testing/conversations';
import { realTokenizer } from '../src/data/testing/realTokenizers';
import { writeTinyModelFolder } from '../src/data/testing/tinyModelFolder';
import { loadDemo, openStudio } from './lib/studio';

function chatFile(rows: unknown[][]) {
  return { name: 'chat.jsonl', mimeType: 'application/json', buffer: Buffer.from(rows.map((messages) => JSON.stringify({ messages })).join('\n') + '\n') };
}

test('Qwen3 template: the preview highlights exactly the answers and their <|im_end|>', async ({ page }, testInfo) => {
  const errors = await openStudio(page);
  const dir = testInfo.outputPath('qwen3-tiny');
  writeTinyModelFolder(dir, realTokenizer('qwen3'));
  const files = readdirSync(dir).map((f) => ({ name: f, mimeType: 'application/octet-stream', buffer: readFileSync(join(dir, f)) }));
  await page.getByLabel('Choose model files…').setInputFiles(files);
  await expect(page.getByTestId('model-info')).toBeVisible({ timeout: 120_000 });

  const ds = page.getByRole('region', { name: 'Dataset' });
  await ds.getByLabel('Choose dataset file…').setInputFiles(chatFile([CHAT]));
  await expect(ds.getByTestId('dataset-info')).toBeVisible({ timeout: 120_000 });
  const example = ds.locator('.preview .example').first();
  await expect(example.locator('mark.tok-trained')).toHaveCount(3);
  expect(await example.locator('mark.tok-trained').allTextContents()).toEqual([
    'Paris — la « Ville Lumière ». 🗼<|im_end|>', ' Madrid, señor.\n<|im_end|>', 'Berlin. ベルリン<|im_end|>',
  ]);
  const muted = await example.locator('.tok-masked').allTextContents();
  expect(muted[0].startsWith('<|im_start|>system\nTu es un assistant précis. 日本語もOK.<|im_end|>')).toBe(true);
  // Qwen3's inserted empty think block is context, shown muted right before the last answer.
  expect(muted[muted.length - 1].endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
  await expect(example.getByTestId('trained-count')).toHaveText(/· \d+ of \d+ tokens trained/);
  await expect(example.locator('mark.tok-trained').first()).toHaveAttribute('title', /^\d+ tokens, trained$/);
  expect(errors).toEqual([]);
});

test('default template (demo model): answers with their EOS, byte-fallback characters and spaces intact', async ({ page }) => {
  await openStudio(page);
  await loadDemo(page);
  const ds = page.getByRole('region', { name: 'Dataset' });
  const rows = [[{ role: 'user', content: 'Tell me a story' }, { role: 'assistant', content: 'Once upon a time, Lily saw a café ☕.' }, { role: 'user', content: 'More' }, { role: 'assistant', content: 'The end.' }]];
  await ds.getByLabel('Choose dataset file…').setInputFiles(chatFile(rows));
  await expect(ds.getByTestId('dataset-info')).toBeVisible({ timeout: 120_000 });
  const example = ds.locator('.preview .example').first();
  expect(await example.locator('mark.tok-trained').allTextContents()).toEqual(['Once upon a time, Lily saw a café ☕.</s>', 'The end.</s>']);
  expect((await example.locator('.tok-masked').allTextContents()).join('')).toContain('### Instruction:\nTell me a story\n\n### Response:\n');
});
