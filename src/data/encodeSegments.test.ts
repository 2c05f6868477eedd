import { describe, expect, test } from 'vitest';
import { SegmentEncoder } from './encode';
import { encodeSegments } from './encodeSegments';
import { makeByteLevelChatmlTokenizer, makeSentencePieceTokenizer } from './testing/tokenizers';

describe('segments to tokens: the whole text tokens, with the trained flags on them', () => {
  const t = makeByteLevelChatmlTokenizer();
  const enc = new SegmentEncoder(t.tokenizer);
  const eos = t.tokenizer.token_to_id('<|im_end|>')!;
  const names = (ids: number[]) => ids.map((id) => t.tokenizer.id_to_token(id));

  test('boundaries on token boundaries: segment by segment, same as the whole text', () => {
    const segs = [{ text: '<|im_start|>assistant\n', train: false }, { text: 'Hi Bob<|im_end|>', train: true }];
    const r = encodeSegments(enc, segs, eos);
    expect(r.realigned).toBe(0);
    expect(r.ids).toEqual(t.tokenizer.encode(segs.map((s) => s.text).join('')).ids);
    expect(names(r.ids.filter((_, i) => r.trained[i]))).toEqual(['Hi', 'ĠBob', '<|im_end|>']);
  });

  test('a token of the whole text straddling a boundary: the whole text tokens are kept and the straddling token is trained', () => {
    // "He" + "llo": the whole text has one "Hello" token across the boundary; separately there would be several.
    const segs = [{ text: '<|im_start|>assistant\nHe', train: false }, { text: 'llo<|im_end|>', train: true }, { text: '\n<|im_start|>user\nHi', train: false }];
    const r = encodeSegments(enc, segs, eos);
    expect(r.realigned).toBe(1);
    expect(r.ids).toEqual(t.tokenizer.encode(segs.map((s) => s.text).join('')).ids);
    expect(names(r.ids).map((n, i) => [n, r.trained[i]])).toEqual([
      ['<|im_start|>', 0], ['assistant', 0], ['Ċ', 0], ['Hello', 1], ['<|im_end|>', 1], ['Ċ', 0], ['<|im_start|>', 0], ['user', 0], ['Ċ', 0], ['Hi', 0],
    ]);
  });

  test('an EOS id after a segment splits the text into runs; flags follow each segment', () => {
    const sp = makeSentencePieceTokenizer();
    const spEnc = new SegmentEncoder(sp.tokenizer, '<s>');
    const eosId = sp.tokenizer.token_to_id('</s>')!;
    const segs = [
      { text: '### Instruction:\nHi\n\n### Response:\n', train: false },
      { text: 'Hello', train: true, eos: 'always' as const },
      { text: '\n\n### Instruction:\nHello\n\n### Response:\n', train: false },
      { text: 'Hi', train: true, eos: 'always' as const },
    ];
    const r = encodeSegments(spEnc, segs, eosId);
    expect(r.ids.filter((id) => id === eosId).length).toBe(2);
    expect(r.ids[0]).toBe(sp.tokenizer.token_to_id('<s>'));
    const trainedNames = r.ids.filter((_, i) => r.trained[i]).map((id) => sp.tokenizer.id_to_token(id));
    expect(trainedNames).toEqual(['Hello', '</s>', 'Hi', '</s>']);
    expect(encodeSegments(spEnc, segs, eosId, true).trained.every((f) => f === 1)).toBe(true);
  });
});
