// The committed sample dataset is exactly what scripts/make-sample-dataset.mjs writes, and it
// loads as a clean plain-text dataset of short Bob-and-the-moon stories.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { readDatasetFile } from './read';

const root = fileURLToPath(new URL('../../', import.meta.url));
const committed = join(root, 'public/datasets/sample.jsonl');

test('the generator is deterministic and the committed file is its output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'whetstone-sample-'));
  try {
    for (const name of ['a.jsonl', 'b.jsonl']) {
      execFileSync(process.execPath, [join(root, 'scripts/make-sample-dataset.mjs'), join(dir, name)]);
    }
    const a = readFileSync(join(dir, 'a.jsonl'), 'utf8');
    expect(readFileSync(join(dir, 'b.jsonl'), 'utf8')).toBe(a);
    expect(readFileSync(committed, 'utf8')).toBe(a);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sample.jsonl: 300 distinct short stories in a fixed, recognisable style', async () => {
  const raw = await readDatasetFile(new File([readFileSync(committed)], 'sample.jsonl'), { onBadRow: 'stop' });
  expect(raw.format.name).toBe('text');
  expect(raw.examples.length).toBe(300);
  const texts = raw.examples.map((e) => (e.kind === 'text' ? e.text : ''));
  expect(new Set(texts).size).toBe(300);
  for (const t of texts) {
    expect(t.startsWith('Once upon a time, there was a little robot named Bob.')).toBe(true);
    expect(t.endsWith('And the moon smiled at Bob.')).toBe(true);
    // ~2.2 characters per token for tok512 on this text: 400 characters stays under 200 tokens.
    expect(t.length).toBeLessThan(400);
  }
});
