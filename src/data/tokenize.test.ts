import { describe, expect, test } from 'vitest';
import { readDatasetFile } from './read';
import { chatTemplateInfo, ChatRenderer, DEFAULT_TEMPLATE } from './template';
import { checkTemplateTokens } from './templateTokens';
import { tokenizeDataset, type TokenizedDataset } from './tokenize';
import { CHATML_TEMPLATE, LLAMA2_TEMPLATE, makeByteLevelChatmlTokenizer, makeSentencePieceTokenizer } from './testing/tokenizers';
import { DatasetError, type Example, type RawDataset } from './types';

function raw(examples: Example[], name: RawDataset['format']['name'] = 'openai-chat'): RawDataset {
  return {
    fileName: 'test.jsonl',
    format: { name, kind: examples[0].kind, mapping: { kind: 'text', text: 'text' }, confidence: 1, sampled: examples.length },
    examples, badRows: [], rowCount: examples.length, bytes: 0,
  };
}

function pairs(ds: TokenizedDataset, tok: { id_to_token(id: number): string | undefined }, i = 0): [string, number][] {
  const out: [string, number][] = [];
  for (let j = ds.offsets[i]; j < ds.offsets[i + 1]; j++) out.push([tok.id_to_token(ds.tokens[j])!, ds.trained[j]]);
  return out;
}

const CONVERSATION: Example = {
  kind: 'chat', line: 1,
  messages: [
    { role: 'system', content: 'You are Bob' },
    { role: 'user', content: 'Hello' },
    { role: 'assistant', content: 'Hi' },
    { role: 'user', content: 'How are you?' },
    { role: 'assistant', content: 'The robot is happy' },
  ],
};

describe('loss masking with a real chat template (ChatML)', () => {
  test('byte-level tokenizer with its own ChatML template: token by token', () => {
    const t = makeByteLevelChatmlTokenizer();
    const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
    expect(info.source).toBe('tokenizer_config');
    const ds = tokenizeDataset(raw([CONVERSATION]), t.tokenizer, info, { maxSeqLen: 128, onBadRow: 'stop' });
    // Prompt tokens 0; each answer and its <|im_end|> 1 (not the newline after it, which the model
    // never generates); eos is <|im_end|>, already there; nothing after the last answer.
    expect(pairs(ds, t.tokenizer)).toEqual([
      ['<|im_start|>', 0], ['system', 0], ['Ċ', 0], ['Y', 0], ['o', 0], ['u', 0], ['Ġare', 0], ['ĠBob', 0], ['<|im_end|>', 0], ['Ċ', 0],
      ['<|im_start|>', 0], ['user', 0], ['Ċ', 0], ['Hello', 0], ['<|im_end|>', 0], ['Ċ', 0],
      ['<|im_start|>', 0], ['assistant', 0], ['Ċ', 0],
      ['Hi', 1], ['<|im_end|>', 1], ['Ċ', 0],
      ['<|im_start|>', 0], ['user', 0], ['Ċ', 0], ['How', 0], ['Ġare', 0], ['Ġyou', 0], ['?', 0], ['<|im_end|>', 0], ['Ċ', 0],
      ['<|im_start|>', 0], ['assistant', 0], ['Ċ', 0],
      ['The', 1], ['Ġrobot', 1], ['Ġis', 1], ['Ġhappy', 1], ['<|im_end|>', 1],
    ]);
    // The same ids as encoding the rendered text whole (up to the end of the last answer).
    const full = new ChatRenderer(info).render(CONVERSATION.messages, false);
    expect(full.endsWith('<|im_end|>\n')).toBe(true);
    expect(Array.from(ds.tokens)).toEqual(t.tokenizer.encode(full.slice(0, -1)).ids);
    expect(ds.stats.trainedTokens).toBe(7);
  });

  test('SentencePiece tokenizer, ChatML added to a base vocab: BOS once, no stray dummy prefix, EOS appended as an id', () => {
    const t = makeSentencePieceTokenizer({ chatml: true });
    const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer, { chatTemplate: CHATML_TEMPLATE });
    const ds = tokenizeDataset(raw([CONVERSATION]), t.tokenizer, info, { maxSeqLen: 128, onBadRow: 'stop' });
    const p = pairs(ds, t.tokenizer);
    expect(p.slice(19, 27)).toEqual([
      ['<|im_start|>', 0], ['▁assistant', 0], ['<0x0A>', 0],
      ['Hi', 1], ['<|im_end|>', 1], ['▁', 0], ['<0x0A>', 0],
      ['<|im_start|>', 0],
    ]);
    expect(p.slice(-7)).toEqual([
      ['<0x0A>', 0], ['The', 1], ['▁robot', 1], ['▁is', 1], ['▁happy', 1], ['<|im_end|>', 1], ['</s>', 1],
    ]);
    const full = new ChatRenderer(info).render(CONVERSATION.messages, false);
    // Same as the tokenizer's own encoding of the whole text (BOS from its post-processor; its "▁"
    // after each added token), plus EOS: the template never writes </s>, and generation stops at it.
    expect(Array.from(ds.tokens)).toEqual([...t.tokenizer.encode(full.slice(0, -1)).ids, info.eosId]);
    expect(p.filter(([tok]) => tok === '<s>').length).toBe(1);
    expect(p.filter(([, f]) => f === 1).map(([tok]) => tok).join('')).toBe('Hi<|im_end|>The▁robot▁is▁happy<|im_end|></s>');
  });

  test("trainOn: 'all' trains every token after the first", () => {
    const t = makeByteLevelChatmlTokenizer();
    const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
    const ds = tokenizeDataset(raw([CONVERSATION]), t.tokenizer, info, { maxSeqLen: 128, onBadRow: 'stop', trainOn: 'all' });
    expect(ds.trained[0]).toBe(0);
    expect(Array.from(ds.trained.subarray(1)).every((f) => f === 1)).toBe(true);
    expect(ds.stats.trainedTokens).toBe(ds.stats.tokens - 1);
  });

  test('instruction rows with a chat template become system/user/assistant messages', () => {
    const t = makeByteLevelChatmlTokenizer();
    const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
    const ex: Example = { kind: 'instruction', line: 1, instruction: 'What is the answer', input: 'the question', output: 'Hi', system: 'Be Bob' };
    const segs = new ChatRenderer(info).segments(ex);
    expect(segs).toEqual([
      { text: '<|im_start|>system\nBe Bob<|im_end|>\n<|im_start|>user\nWhat is the answer\n\nthe question<|im_end|>\n<|im_start|>assistant\n', train: false },
      { text: 'Hi<|im_end|>', train: true },
    ]);
  });
});

describe('the default template (base models)', () => {
  test('alpaca layout; only the answer and the EOS id are trained; EOS is an id, not text', () => {
    const t = makeSentencePieceTokenizer();
    const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
    expect(info.source).toBe('none');
    const ex: Example = { kind: 'instruction', line: 1, instruction: 'Tell a story', input: 'about Bob', output: 'Once upon a time' };
    const segs = new ChatRenderer(info).segments(ex);
    expect(segs.map((s) => s.text).join('')).toBe('### Instruction:\nTell a story\n\n### Input:\nabout Bob\n\n### Response:\nOnce upon a time');
    expect(DEFAULT_TEMPLATE.response).toBe('### Response:\n');
    const ds = tokenizeDataset(raw([ex], 'alpaca'), t.tokenizer, info, { maxSeqLen: 256, onBadRow: 'stop' });
    const p = pairs(ds, t.tokenizer);
    expect(p[0]).toEqual(['<s>', 0]);
    expect(p.slice(-6)).toEqual([['<0x0A>', 0], ['Once', 1], ['▁upon', 1], ['▁a', 1], ['▁time', 1], ['</s>', 1]]);
    expect(p.filter(([, f]) => f === 0).length).toBe(p.length - 5);
  });

  test('chat rows: every assistant turn is trained and ended by EOS', () => {
    const t = makeSentencePieceTokenizer();
    const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
    const segs = new ChatRenderer(info).segments(CONVERSATION);
    expect(segs).toEqual([
      { text: 'You are Bob\n\n### Instruction:\nHello\n\n### Response:\n', train: false },
      { text: 'Hi', train: true, eos: 'always' },
      { text: '\n\n### Instruction:\nHow are you?\n\n### Response:\n', train: false },
      { text: 'The robot is happy', train: true, eos: 'always' },
    ]);
    const ds = tokenizeDataset(raw([CONVERSATION]), t.tokenizer, info, { maxSeqLen: 256, onBadRow: 'stop' });
    const eos = Array.from(ds.tokens).flatMap((id, j) => (id === info.eosId ? [ds.trained[j]] : []));
    expect(eos).toEqual([1, 1]);
    expect(new ChatRenderer(info).prompt([{ role: 'user', content: 'Hi' }])).toBe('### Instruction:\nHi\n\n### Response:\n');
  });
});

describe('templates that write BOS/EOS as text, or refuse rows', () => {
  const t = makeSentencePieceTokenizer({ chatTemplate: LLAMA2_TEMPLATE });
  const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);

  test('Llama-2: one BOS per turn as the template writes it, none added; its " </s>" ends the answer', () => {
    const ex: Example = { kind: 'chat', line: 1, messages: [{ role: 'user', content: 'Hello' }, { role: 'assistant', content: 'Hi' }] };
    const ds = tokenizeDataset(raw([ex]), t.tokenizer, info, { maxSeqLen: 128, onBadRow: 'stop' });
    const p = pairs(ds, t.tokenizer);
    expect(p.filter(([tok]) => tok === '<s>').length).toBe(1);
    expect(p[0]).toEqual(['<s>', 0]);
    expect(p.filter(([tok]) => tok === '</s>')).toEqual([['</s>', 1]]);
    expect(p[p.length - 1]).toEqual(['</s>', 1]);
  });

  test('raise_exception in the template makes a bad row with its message', () => {
    const ex: Example = { kind: 'chat', line: 7, messages: [{ role: 'assistant', content: 'Hi' }] };
    const ok: Example = { kind: 'chat', line: 8, messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] };
    const ds = tokenizeDataset(raw([ex, ok]), t.tokenizer, info, { maxSeqLen: 128, onBadRow: 'skip' });
    expect(ds.badRows).toEqual([{ line: 7, reason: expect.stringMatching(/refused.*roles must alternate/) as unknown as string }]);
    expect(ds.stats.skippedRows).toBe(1);
    expect(ds.stats.examples).toBe(1);
  });

  test('a template that is not prefix-stable is reported, not guessed at', () => {
    const t2 = makeSentencePieceTokenizer();
    const unstable = chatTemplateInfo(t2.tokenizerConfig, t2.tokenizer, {
      chatTemplate: '{{ messages|length }}{% for m in messages %}|{{ m.content }}{% endfor %}',
    });
    expect(() => tokenizeDataset(raw([CONVERSATION]), t2.tokenizer, unstable, { maxSeqLen: 128, onBadRow: 'stop' })).toThrow(
      /line 1: the chat template renders earlier turns differently/,
    );
  });

  test('a template that does not parse is a typed error', () => {
    const bad = chatTemplateInfo(t.tokenizerConfig, t.tokenizer, { chatTemplate: '{% for %}' });
    expect(() => new ChatRenderer(bad)).toThrow(DatasetError);
  });
});

describe('special-token text in rows', () => {
  test('is reported by default, and encoded as the special id only when allowed', () => {
    const t = makeSentencePieceTokenizer();
    const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
    const rows: Example[] = [
      { kind: 'instruction', line: 1, instruction: 'Say it', output: 'Bob says </s> to the moon' },
      { kind: 'instruction', line: 2, instruction: 'Say it', output: 'Bob' },
    ];
    const ds = tokenizeDataset(raw(rows, 'alpaca'), t.tokenizer, info, { maxSeqLen: 128, onBadRow: 'skip' });
    expect(ds.badRows).toEqual([{ line: 1, reason: expect.stringMatching(/contains the text "<\/s>"/) as unknown as string }]);
    expect(ds.stats.examples).toBe(1);
    const allowed = tokenizeDataset(raw(rows, 'alpaca'), t.tokenizer, info, { maxSeqLen: 128, onBadRow: 'stop', specialTokenText: 'allow' });
    expect(allowed.stats.rowsWithSpecialTokenText).toBe(1);
    const first = Array.from(allowed.tokens.subarray(allowed.offsets[0], allowed.offsets[1]));
    expect(first.filter((id) => id === info.eosId).length).toBe(2);
  });
});

describe('lengths', () => {
  const t = makeSentencePieceTokenizer();
  const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
  const long = Array.from({ length: 40 }, () => 'the robot').join(' ');

  test('long answers are truncated and counted; a prompt that fills maxSeqLen is a bad row', () => {
    const rows: Example[] = [
      { kind: 'instruction', line: 1, instruction: 'Hi', output: long },
      { kind: 'instruction', line: 2, instruction: long, output: 'Hi' },
      { kind: 'instruction', line: 3, instruction: 'Hi', output: 'Bob' },
    ];
    const ds = tokenizeDataset(raw(rows, 'alpaca'), t.tokenizer, info, { maxSeqLen: 32, onBadRow: 'skip' });
    expect(ds.stats.truncatedRows).toBe(1);
    expect(ds.offsets[1] - ds.offsets[0]).toBe(32);
    expect(ds.badRows.map((b) => b.line)).toEqual([2]);
    expect(ds.badRows[0].reason).toMatch(/too long: the prompt alone is \d+ tokens and max sequence length is 32/);
    expect(Array.from(ds.lines)).toEqual([1, 3]);
    expect(() => tokenizeDataset(raw(rows, 'alpaca'), t.tokenizer, info, { maxSeqLen: 32, onBadRow: 'stop' })).toThrow(/line 2: too long/);
  });

  test('text rows longer than maxSeqLen are cut into blocks, not truncated', () => {
    const ds = tokenizeDataset(raw([{ kind: 'text', line: 1, text: long }], 'text'), t.tokenizer, info, { maxSeqLen: 16, onBadRow: 'stop' });
    const whole = [...t.tokenizer.encode(long).ids, info.eosId];
    expect(Array.from(ds.tokens)).toEqual(whole.length % 16 === 1 ? whole.slice(0, -1) : whole);
    expect(ds.stats.splitRows).toBe(1);
    expect(ds.stats.examples).toBe(Math.ceil(ds.tokens.length / 16));
    for (let i = 0; i + 1 < ds.offsets.length - 1; i++) expect(ds.offsets[i + 1] - ds.offsets[i]).toBe(16);
  });

  test('stats: histogram covers every example; trained tokens are the targets', () => {
    const rows: Example[] = Array.from({ length: 20 }, (_, i) => ({
      kind: 'instruction' as const, line: i + 1, instruction: 'Tell', output: Array.from({ length: i + 1 }, () => 'moon').join(' '),
    }));
    const ds = tokenizeDataset(raw(rows, 'alpaca'), t.tokenizer, info, { maxSeqLen: 64, onBadRow: 'stop', histogramBins: 8 });
    const h = ds.stats.lengthHistogram;
    expect(h.edges).toEqual([0, 8, 16, 24, 32, 40, 48, 56, 64]);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(20);
    let targets = 0;
    for (let i = 0; i < 20; i++) for (let j = ds.offsets[i] + 1; j < ds.offsets[i + 1]; j++) targets += ds.trained[j];
    expect(ds.stats.trainedTokens).toBe(targets);
    expect(ds.stats.tokens).toBe(ds.tokens.length);
    expect(ds.stats.maxLength).toBe(Math.max(...Array.from({ length: 20 }, (_, i) => ds.offsets[i + 1] - ds.offsets[i])));
  });
});

describe('text files', () => {
  test('one document: BOS once, pieces continue without dummy prefixes, EOS at the end, blocks of maxSeqLen', async () => {
    const t = makeSentencePieceTokenizer();
    const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
    const text = Array.from({ length: 400 }, (_, i) => `Once upon a time ${i % 10} the robot`).join('\n') + '\n';
    const r = await readDatasetFile(new File([text], 'story.txt'));
    expect(r.examples.length).toBeGreaterThan(2);
    const ds = tokenizeDataset(r, t.tokenizer, info, { maxSeqLen: 64, onBadRow: 'stop' });
    const expected = [...t.tokenizer.encode(text).ids, info.eosId];
    expect(Array.from(ds.tokens)).toEqual(expected.length % 64 === 1 ? expected.slice(0, -1) : expected);
    expect(ds.offsets[1]).toBe(64);
    expect(ds.stats.rows).toBe(400);
  });

  test('a line holding special-token text is reported with its own line number', async () => {
    const t = makeSentencePieceTokenizer();
    const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
    const r = await readDatasetFile(new File(['Once upon a time\nthe end </s>\nBob\n'], 'x.txt'));
    const ds = tokenizeDataset(r, t.tokenizer, info, { maxSeqLen: 64, onBadRow: 'skip' });
    expect(ds.badRows).toEqual([{ line: 2, reason: expect.stringMatching(/"<\/s>"/) as unknown as string }]);
    expect(t.tokenizer.decode(Array.from(ds.tokens), { skip_special_tokens: true })).toBe('Once upon a time\nBob\n');
  });
});

describe('bad rows from reading', () => {
  test("onBadRow: 'stop' names the first bad row; 'skip' counts them", async () => {
    const t = makeSentencePieceTokenizer();
    const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
    const r = await readDatasetFile(new File(['{"text":"a"}\n{"text":1}\n{"text":"b"}\n'], 'x.jsonl'));
    const err = (() => {
      try {
        tokenizeDataset(r, t.tokenizer, info, { maxSeqLen: 16, onBadRow: 'stop' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).badRow).toEqual({ line: 2, reason: 'field "text" must be a string, got a number' });
    const ds = tokenizeDataset(r, t.tokenizer, info, { maxSeqLen: 16, onBadRow: 'skip' });
    expect(ds.stats.skippedRows).toBe(1);
    expect(ds.stats.rows).toBe(3);
    expect(ds.stats.examples).toBe(2);
  });
});

describe('untrained template tokens', () => {
  test('ChatML added to a base model is flagged; a chat model shipping ChatML is not; ids past the embedding are errors', () => {
    const base = makeSentencePieceTokenizer({ chatml: true });
    const bolted = chatTemplateInfo(base.tokenizerConfig, base.tokenizer, { chatTemplate: CHATML_TEMPLATE });
    const w = checkTemplateTokens(base.tokenizer, bolted);
    expect(w.map((x) => x.token)).toEqual(['<|im_start|>', '<|im_end|>']);
    expect(w[0].message).toMatch(/never stop/);
    expect(checkTemplateTokens(base.tokenizer, chatTemplateInfo(base.tokenizerConfig, base.tokenizer))).toEqual([]);

    const chat = makeByteLevelChatmlTokenizer();
    const own = chatTemplateInfo(chat.tokenizerConfig, chat.tokenizer);
    expect(checkTemplateTokens(chat.tokenizer, own)).toEqual([]);
    const small = checkTemplateTokens(chat.tokenizer, own, { modelVocabSize: chat.tokenizer.get_vocab(false).size });
    expect(small.map((x) => [x.token, x.severity])).toEqual([['<|im_start|>', 'error'], ['<|im_end|>', 'error']]);
    const zeroRows = checkTemplateTokens(chat.tokenizer, own, { isTrained: (id) => chat.tokenizer.id_to_token(id) !== '<|im_end|>' });
    expect(zeroRows.map((x) => x.token)).toEqual(['<|im_end|>']);
  });
});
