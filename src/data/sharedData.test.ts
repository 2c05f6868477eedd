// The shared datasets load with the right detected format and no bad rows. They live in
// ../shared (read-only, present in CI); this suite skips itself only when that folder is absent.

import { existsSync, openAsBlob } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { readDatasetFile } from './read';
import { chatTemplateInfo } from './template';
import { tokenizeDataset } from './tokenize';
import { makeSentencePieceTokenizer } from './testing/tokenizers';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const dataDir = `${repoRoot}../shared/data`;

async function open(name: string): Promise<Blob & { name: string }> {
  return Object.assign(await openAsBlob(`${dataDir}/${name}`), { name });
}

describe.skipIf(!existsSync(dataDir))('shared datasets', () => {
  const t = makeSentencePieceTokenizer();
  const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);

  test('gsm8k-test.jsonl: question/answer, 1319 rows, no errors', async () => {
    const raw = await readDatasetFile(await open('gsm8k-test.jsonl'));
    expect(raw.format.name).toBe('question-answer');
    expect(raw.format.kind).toBe('instruction');
    expect(raw.badRows).toEqual([]);
    expect(raw.rowCount).toBe(1319);
    expect(raw.examples.length).toBe(1319);
    const ds = tokenizeDataset(raw, t.tokenizer, info, { maxSeqLen: 1024, onBadRow: 'stop' });
    expect(ds.stats.examples).toBe(1319);
    expect(ds.stats.skippedRows).toBe(0);
    expect(ds.stats.trainedTokens).toBeGreaterThan(0);
    expect(ds.stats.trainedTokens).toBeLessThan(ds.stats.tokens);
  });

  test('tinyshakespeare.txt: a text file, no errors, cut into full blocks', async () => {
    const raw = await readDatasetFile(await open('tinyshakespeare.txt'));
    expect(raw.format.name).toBe('text-file');
    expect(raw.badRows).toEqual([]);
    expect(raw.rowCount).toBe(40000);
    const ds = tokenizeDataset(raw, t.tokenizer, info, { maxSeqLen: 256, onBadRow: 'stop' });
    expect(ds.stats.skippedRows).toBe(0);
    const n = ds.stats.examples;
    for (let i = 0; i < n - 1; i++) expect(ds.offsets[i + 1] - ds.offsets[i]).toBe(256);
    expect(ds.tokens[0]).toBe(1); // BOS once, at the start
    expect(ds.tokens.filter((id) => id === 1).length).toBe(1);
    expect(ds.tokens[ds.tokens.length - 1]).toBe(info.eosId);
    // Pieces were encoded as continuations: no dummy "▁" at piece joins, so the text comes back exactly.
    const text = await (await open('tinyshakespeare.txt')).text();
    expect(t.tokenizer.decode(Array.from(ds.tokens), { skip_special_tokens: true })).toBe(text);
  });
});
