import { describe, expect, test } from 'vitest';
import { previewPieces } from './preview';
import { chatTemplateInfo } from './template';
import { tokenizeDataset } from './tokenize';
import { CHAT } from './testing/conversations';
import { realTokenizer } from './testing/realTokenizers';
import { makeSentencePieceTokenizer } from './testing/tokenizers';
import type { Example, RawDataset } from './types';

function raw(examples: Example[]): RawDataset {
  return {
    fileName: 'x.jsonl', format: { name: 'openai-chat', kind: 'chat', mapping: { kind: 'text', text: 'text' }, confidence: 1, sampled: 1 },
    examples, badRows: [], rowCount: examples.length, bytes: 0,
  };
}

describe('preview pieces', () => {
  test('real Qwen3 template: the pieces are the whole text, the trained ones exactly the answers with <|im_end|>, emoji and CJK intact', () => {
    const t = realTokenizer('qwen3');
    const ds = tokenizeDataset(raw([{ kind: 'chat', line: 1, messages: CHAT }]), t.tokenizer, chatTemplateInfo(t.tokenizerConfig, t.tokenizer), { maxSeqLen: 512, onBadRow: 'stop' });
    const decode = (ids: number[]) => t.tokenizer.decode(ids, { skip_special_tokens: false });
    const pieces = previewPieces(decode, ds.tokens, ds.trained);
    expect(pieces.map((p) => p.text).join('')).toBe(decode(Array.from(ds.tokens)));
    expect(pieces.filter((p) => p.trained).map((p) => p.text)).toEqual([
      'Paris — la « Ville Lumière ». 🗼<|im_end|>', ' Madrid, señor.\n<|im_end|>', 'Berlin. ベルリン<|im_end|>',
    ]);
    expect(pieces.reduce((n, p) => n + p.tokens, 0)).toBe(ds.tokens.length);
    expect(pieces.filter((p) => p.trained).reduce((n, p) => n + p.tokens, 0)).toBe(ds.stats.trainedTokens);
    // Token by token, the emoji (three byte-level tokens) would have been U+FFFD pieces.
    expect(pieces.some((p) => p.text.includes('\uFFFD'))).toBe(false);
  });

  test('SentencePiece with byte fallback: spaces between runs kept, a character split over two runs shown whole in the second', () => {
    const t = makeSentencePieceTokenizer();
    const decode = (ids: number[]) => t.tokenizer.decode(ids, { skip_special_tokens: false });
    const ids = t.tokenizer.encode('Once upon a time é the end').ids;
    const tokens = ids.map((id) => t.tokenizer.id_to_token(id));
    const e = tokens.indexOf('<0xC3>');
    expect(tokens[e + 1]).toBe('<0xA9>');
    // trained from "▁upon" up to the first byte of "é"; then the rest
    const upon = tokens.indexOf('▁upon');
    const flags = ids.map((_, j) => (j >= upon && j <= e ? 1 : 0));
    const pieces = previewPieces(decode, ids, flags);
    expect(pieces.map((p) => [p.text, p.trained])).toEqual([
      ['<s> Once', false], [' upon a time ', true], ['é the end', false],
    ]);
    expect(pieces.map((p) => p.text).join('')).toBe(decode(ids));
  });
});
