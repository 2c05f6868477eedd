// The finetune CLI's --data forms (the CLI run itself is checked by hand and by the e2e Hub spec's engine path).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { dataForSidecar, parseDataArg, pickConfigSplit } from './dataArg.mjs';

const dir = mkdtempSync(join(tmpdir(), 'whetstone-data-arg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const usage = (m: string) => new Error(m);

test('demo, files, Parquet shards and hub: specs', () => {
  for (const f of ['a.parquet', 'b.parquet', 'c.jsonl']) writeFileSync(join(dir, f), 'x');
  expect(parseDataArg('demo', usage)).toEqual({ kind: 'demo' });
  expect(parseDataArg(join(dir, 'c.jsonl'), usage)).toEqual({ kind: 'files', paths: [join(dir, 'c.jsonl')] });
  const shards = `${join(dir, 'a.parquet')},${join(dir, 'b.parquet')}`;
  expect(parseDataArg(shards, usage)).toEqual({ kind: 'files', paths: [join(dir, 'a.parquet'), join(dir, 'b.parquet')] });
  expect(dataForSidecar(parseDataArg(shards, usage), shards)).toBe(shards);
  expect(parseDataArg('hub:HuggingFaceH4/ultrachat_200k', usage)).toEqual({ kind: 'hub', repo: 'HuggingFaceH4/ultrachat_200k', config: undefined, split: undefined });
  expect(parseDataArg('hub:o/n:default:train_sft', usage)).toEqual({ kind: 'hub', repo: 'o/n', config: 'default', split: 'train_sft' });
  expect(() => parseDataArg('hub:nope', usage)).toThrow(/hub:OWNER\/NAME\[:CONFIG\[:SPLIT\]\]/);
  expect(() => parseDataArg('hub:o/n::train', usage)).toThrow(/hub:OWNER\/NAME/);
  expect(() => parseDataArg(join(dir, 'missing.parquet'), usage)).toThrow(/missing\.parquet: no such file/);
  expect(() => parseDataArg(`${join(dir, 'a.parquet')},${join(dir, 'c.jsonl')}`, usage)).toThrow(/c\.jsonl is not a \.parquet file/);
});

test('config and split: as given, else default/train, else the first; unknown ones list the choices', () => {
  const listing = { configs: [{ name: 'en', splits: [{ name: 'test' }, { name: 'train' }] }, { name: 'default', splits: [{ name: 'train_sft' }, { name: 'test_sft' }] }] };
  expect(pickConfigSplit(listing, undefined, undefined)).toEqual({ config: 'default', split: 'train_sft' });
  expect(pickConfigSplit(listing, 'en', undefined)).toEqual({ config: 'en', split: 'train' });
  expect(pickConfigSplit(listing, 'en', 'test')).toEqual({ config: 'en', split: 'test' });
  expect(pickConfigSplit(listing, 'fr', undefined)).toEqual({ error: 'it has no config "fr"; its configs: en, default.' });
  expect(pickConfigSplit(listing, 'default', 'train')).toEqual({ error: 'its config "default" has no split "train"; its splits: train_sft, test_sft.' });
});
