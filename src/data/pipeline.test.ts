// End to end through the public API: a ChatML chat file -> read -> tokenize -> batches, with the
// labels (-100 on prompt tokens) checked token by token.

import { expect, test } from 'vitest';
import { BatchIterator, chatTemplateInfo, readDatasetFile, splitDataset, tokenizeDataset } from './index';
import { makeByteLevelChatmlTokenizer } from './testing/tokenizers';

test('ChatML file to batches: labels are the next token on assistant tokens, -100 elsewhere', async () => {
  const t = makeByteLevelChatmlTokenizer();
  const rows = [
    { messages: [{ role: 'user', content: 'Hello' }, { role: 'assistant', content: 'Hi Bob' }] },
    { messages: [{ role: 'user', content: 'What is the moon' }, { role: 'assistant', content: 'The moon' }] },
  ];
  const file = new File([rows.map((r) => JSON.stringify(r)).join('\n')], 'chat.jsonl');
  const raw = await readDatasetFile(file);
  expect(raw.format.name).toBe('openai-chat');
  const ds = tokenizeDataset(raw, t.tokenizer, chatTemplateInfo(t.tokenizerConfig, t.tokenizer), { maxSeqLen: 32, onBadRow: 'stop' });
  const it = new BatchIterator(ds, { batchSize: 1, seqLen: 32, pack: false, seed: 0, shuffle: false });
  const b = it.next();
  const name = (id: number) => (id === -100 ? -100 : t.tokenizer.id_to_token(id));
  const rowPairs = Array.from(b.tokens.subarray(0, ds.offsets[1]), (id, j) => [name(id), name(b.labels[j])]);
  expect(rowPairs).toEqual([
    ['<|im_start|>', -100], ['user', -100], ['Ċ', -100], ['Hello', -100], ['<|im_end|>', -100], ['Ċ', -100],
    ['<|im_start|>', -100], ['assistant', -100],
    ['Ċ', 'Hi'], // the last prompt token predicts the first answer token
    ['Hi', 'ĠBob'], ['ĠBob', '<|im_end|>'],
    ['<|im_end|>', -100], // end of the answer (the template's newline after it is not in the sequence): nothing to predict
  ]);
  expect(Array.from(b.labels.subarray(ds.offsets[1]))).toEqual(new Array(32 - ds.offsets[1]).fill(-100));
  expect(b.trainedTokens).toBe(3);
  expect(it.cursor()).toEqual({ epoch: 0, position: 1 });

  const { train, validation } = splitDataset(ds, { validationFraction: 0.5, seed: 3 });
  expect(train.stats.examples + validation.stats.examples).toBe(2);
});
