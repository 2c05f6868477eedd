import { unzipSync } from 'fflate';
import { expect, test } from 'vitest';
import { safeRelativePath, zipFolderBlob } from './zipFolder';

test('a folder of files zips under its root with its subfolders, and no path escapes it', async () => {
  const enc = new TextEncoder();
  const blob = zipFolderBlob('my run: recipe', [
    { name: 'train.py', bytes: enc.encode('print(1)\n') },
    { name: 'data/train_batches.jsonl', bytes: enc.encode('{}\n') },
    { name: '../../etc/passwd', bytes: enc.encode('x') },
  ]);
  const entries = unzipSync(new Uint8Array(await blob.arrayBuffer()));
  expect(Object.keys(entries).sort()).toEqual(['my run_ recipe/_/_/etc/passwd', 'my run_ recipe/data/train_batches.jsonl', 'my run_ recipe/train.py']);
  expect(new TextDecoder().decode(entries['my run_ recipe/data/train_batches.jsonl'])).toBe('{}\n');
  expect(safeRelativePath('/a//b\\c')).toBe('a/b/c');
  expect(() => zipFolderBlob('r', [{ name: 'a', bytes: new Uint8Array(1) }, { name: 'a', bytes: new Uint8Array(1) }])).toThrow(/both named/);
});
