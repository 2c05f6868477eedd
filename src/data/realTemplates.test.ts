// The answer-only mask with the real chat templates people fine-tune with, checked against an
// independent render: each template is rendered here with @huggingface/jinja directly, the
// pipeline's tokens must be the tokenizer's encoding of that text (up to the end of the last
// answer), and its trained tokens must decode exactly to hand-written strings: each answer as the
// template writes it, followed by its end-of-turn token and nothing of the prompt or role headers.
// Qwen3, Llama 3.2 instruct and Gemma 3 use their real tokenizer files; SmolLM2/3 and Phi-3/4
// templates run on stand-in tokenizers of the same families with their special tokens added.

import { Template } from '@huggingface/jinja';
import { describe, expect, test } from 'vitest';
import { readDatasetFile } from './read';
import { chatTemplateInfo } from './template';
import { checkTemplateTokens } from './templateTokens';
import { tokenizeDataset, type TokenizedDataset } from './tokenize';
import { CHAT } from './testing/conversations';
import { PHI3_TEMPLATE, PHI4_MINI_TEMPLATE, PHI4_TEMPLATE, SMOLLM2_TEMPLATE, SMOLLM3_TEMPLATE } from './testing/chatTemplates';
import { realTokenizer, type RealTokenizerName } from './testing/realTokenizers';
import { makeByteLevelChatmlTokenizer, makeSentencePieceTokenizer, type TestTokenizer } from './testing/tokenizers';
import type { ChatMessage } from './types';

interface Tok {
  tokenizer: TestTokenizer['tokenizer'];
  tokenizerConfig: Record<string, unknown>;
}

async function tokenizeRows(t: Tok, rows: ChatMessage[][]): Promise<TokenizedDataset> {
  const file = new File([rows.map((messages) => JSON.stringify({ messages })).join('\n') + '\n'], 'chat.jsonl');
  const raw = await readDatasetFile(file);
  expect(raw.format.name).toBe('openai-chat');
  return tokenizeDataset(raw, t.tokenizer, chatTemplateInfo(t.tokenizerConfig, t.tokenizer), { maxSeqLen: 4096, onBadRow: 'stop' });
}

function decode(t: Tok, ids: number[]): string {
  return t.tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
}

/**
 * The text of each run of consecutive trained tokens of example i: the decoded example up to the
 * run's end less the decoded example before it (decoding a run alone would lose a leading space to
 * SentencePiece's decoder, which strips the text's first one).
 */
function trainedRuns(t: Tok, ds: TokenizedDataset, i = 0): string[] {
  const ids = Array.from(ds.tokens.subarray(ds.offsets[i], ds.offsets[i + 1]));
  const flags = ds.trained.subarray(ds.offsets[i], ds.offsets[i + 1]);
  const upTo = (n: number) => (n === 0 ? '' : decode(t, ids.slice(0, n)));
  const runs: string[] = [];
  for (let j = 0; j < ids.length; j++) {
    if (flags[j] !== 1 || (j > 0 && flags[j - 1] === 1)) continue;
    let end = j;
    while (end < ids.length && flags[end] === 1) end++;
    runs.push(upTo(end).slice(upTo(j).length));
  }
  return runs;
}

/** The template rendered here, independently of the pipeline's renderer. */
function independentRender(t: Tok, messages: ChatMessage[]): string {
  const c = t.tokenizerConfig;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return new Template(c.chat_template as string).render({ messages, add_generation_prompt: false, bos_token: str(c.bos_token), eos_token: str(c.eos_token) });
}

/** Checks example i against the independent render: same tokens up to the end of the last answer, trained runs as expected. */
function expectMask(t: Tok, ds: TokenizedDataset, messages: ChatMessage[], expected: string[], opts: { eosAppended?: boolean; i?: number } = {}) {
  const i = opts.i ?? 0;
  const text = independentRender(t, messages);
  const last = expected[expected.length - 1];
  const upTo = text.slice(0, text.lastIndexOf(last.replace(/<\/s>$/, '')) + last.replace(/<\/s>$/, '').length);
  const bos = t.tokenizerConfig.bos_token;
  const ids = t.tokenizer.encode(upTo, { add_special_tokens: !(typeof bos === 'string' && upTo.startsWith(bos)) }).ids;
  const eosId = t.tokenizer.token_to_id(t.tokenizerConfig.eos_token as string)!;
  expect(Array.from(ds.tokens.subarray(ds.offsets[i], ds.offsets[i + 1]))).toEqual(opts.eosAppended ? [...ids, eosId] : ids);
  expect(trainedRuns(t, ds, i)).toEqual(expected);
}

const real: { name: RealTokenizerName; expected: string[]; beforeLast: string }[] = [
  {
    name: 'qwen3',
    // Answers as written, with <|im_end|>; the empty think block Qwen3 writes into the last turn is context.
    expected: ['Paris — la « Ville Lumière ». 🗼<|im_end|>', ' Madrid, señor.\n<|im_end|>', 'Berlin. ベルリン<|im_end|>'],
    beforeLast: '<|im_start|>assistant\n<think>\n\n</think>\n\n',
  },
  {
    name: 'llama3_2',
    // Llama 3.x trims each message.
    expected: ['Paris — la « Ville Lumière ». 🗼<|eot_id|>', 'Madrid, señor.<|eot_id|>', 'Berlin. ベルリン<|eot_id|>'],
    beforeLast: '<|start_header_id|>assistant<|end_header_id|>\n\n',
  },
  {
    name: 'gemma3',
    // Gemma 3 trims too, puts the system message into the first user turn and calls the assistant "model".
    expected: ['Paris — la « Ville Lumière ». 🗼<end_of_turn>', 'Madrid, señor.<end_of_turn>', 'Berlin. ベルリン<end_of_turn>'],
    beforeLast: '<start_of_turn>model\n',
  },
];

describe('real tokenizer files and templates', () => {
  for (const c of real) {
    test(`${c.name}: trained tokens are each answer and its end-of-turn token, nothing of prompts or headers`, async () => {
      const t = realTokenizer(c.name);
      const ds = await tokenizeRows(t, [CHAT]);
      expect(ds.badRows).toEqual([]);
      expectMask(t, ds, CHAT, c.expected);
      // What precedes the last answer is the (untrained) assistant header the model is prompted with.
      const ids = Array.from(ds.tokens.subarray(ds.offsets[0], ds.offsets[1]));
      const firstOfLast = ids.length - [...ds.trained.subarray(ds.offsets[0], ds.offsets[1])].reverse().findIndex((f) => f === 0);
      expect(decode(t, ids.slice(0, firstOfLast)).endsWith(c.beforeLast)).toBe(true);
      // The template ships with the tokenizer: its special tokens are trusted, also when passed back in explicitly.
      const own = chatTemplateInfo(t.tokenizerConfig, t.tokenizer, { chatTemplate: t.chatTemplate });
      expect(own.source).toBe('tokenizer_config');
      expect(checkTemplateTokens(t.tokenizer, own)).toEqual([]);
    });
  }

  test('qwen3: reasoning the template drops from an earlier turn is not trained; reasoning in the last turn is', async () => {
    const t = realTokenizer('qwen3');
    const chat: ChatMessage[] = [
      { role: 'system', content: 'Réponds brièvement.' },
      { role: 'user', content: 'Capitale de la France ?' },
      { role: 'assistant', content: '<think>\nC’est Paris.\n</think>\n\nParis.' },
      { role: 'user', content: '¿Y de España?' },
      { role: 'assistant', content: '<think>\nMadrid, claro.\n</think>\n\nMadrid.' },
    ];
    const ds = await tokenizeRows(t, [chat]);
    expectMask(t, ds, chat, ['Paris.<|im_end|>', '<think>\nMadrid, claro.\n</think>\n\nMadrid.<|im_end|>']);
    expect(decode(t, Array.from(ds.tokens))).not.toContain('C’est Paris');
  });

  test('the Qwen3 row once refused ("renders earlier turns differently") now tokenizes, several rows in file order', async () => {
    const t = realTokenizer('qwen3');
    const two = CHAT.slice(0, 5);
    const ds = await tokenizeRows(t, [CHAT, two]);
    expect(ds.stats.examples).toBe(2);
    // Here Madrid is the last answer, which Qwen3 writes as content.lstrip('\n'); @huggingface/jinja
    // 0.5.11 strips all leading whitespace there (its lstrip ignores the argument), Python would keep the space.
    expectMask(t, ds, two, ['Paris — la « Ville Lumière ». 🗼<|im_end|>', 'Madrid, señor.\n<|im_end|>'], { i: 1 });
  });
});

describe('templates of SmolLM2/3 and Phi-3/4 on stand-in tokenizers of their families', () => {
  const phiTokens = ['<|system|>', '<|user|>', '<|assistant|>', '<|end|>'];

  test('SmolLM2 (ChatML, byte-level BPE)', async () => {
    const t = makeByteLevelChatmlTokenizer({ chatTemplate: SMOLLM2_TEMPLATE });
    const ds = await tokenizeRows(t, [CHAT]);
    expectMask(t, ds, CHAT, ['Paris — la « Ville Lumière ». 🗼<|im_end|>', ' Madrid, señor.\n<|im_end|>', 'Berlin. ベルリン<|im_end|>']);
  });

  test('SmolLM3: its {% generation %} blocks decide, header and newline included, think block included in /no_think mode', async () => {
    const t = makeByteLevelChatmlTokenizer({ chatTemplate: SMOLLM3_TEMPLATE, addedTokens: ['<think>', '</think>'] });
    const ds = await tokenizeRows(t, [CHAT]);
    expectMask(t, ds, CHAT, [
      '<|im_start|>assistant\nParis — la « Ville Lumière ». 🗼<|im_end|>\n',
      '<|im_start|>assistant\nMadrid, señor.\n<|im_end|>\n', // content.lstrip("\n"), done as trimStart() by @huggingface/jinja 0.5.11
      '<|im_start|>assistant\nBerlin. ベルリン<|im_end|>\n',
    ]);
    const noThink = [{ role: 'system' as const, content: 'Sois bref. /no_think' }, ...CHAT.slice(1, 3)];
    const ds2 = await tokenizeRows(t, [noThink]);
    expectMask(t, ds2, noThink, ['<|im_start|>assistant\n<think>\n\n</think>\nParis — la « Ville Lumière ». 🗼<|im_end|>\n']);
  });

  test('Phi-3 / Phi-3.5-mini (SentencePiece with byte fallback): <|end|> ends each answer; the EOS text the template writes last is not needed', async () => {
    const t = makeSentencePieceTokenizer({ chatTemplate: PHI3_TEMPLATE, addedTokens: ['<|endoftext|>', ...phiTokens], eosToken: '<|endoftext|>' });
    const ds = await tokenizeRows(t, [CHAT]);
    expectMask(t, ds, CHAT, ['Paris — la « Ville Lumière ». 🗼<|end|>', ' Madrid, señor.\n<|end|>', 'Berlin. ベルリン<|end|>']);
  });

  test('Phi-4-mini (byte-level, no newlines between turns)', async () => {
    const t = makeByteLevelChatmlTokenizer({ chatTemplate: PHI4_MINI_TEMPLATE, addedTokens: phiTokens, eosToken: '<|endoftext|>' });
    const ds = await tokenizeRows(t, [CHAT]);
    expectMask(t, ds, CHAT, ['Paris — la « Ville Lumière ». 🗼<|end|>', ' Madrid, señor.\n<|end|>', 'Berlin. ベルリン<|end|>']);
  });

  test('phi-4 (ChatML with <|im_sep|>)', async () => {
    const t = makeByteLevelChatmlTokenizer({ chatTemplate: PHI4_TEMPLATE, addedTokens: ['<|im_sep|>'], eosToken: '<|im_end|>' });
    const ds = await tokenizeRows(t, [CHAT]);
    expectMask(t, ds, CHAT, ['Paris — la « Ville Lumière ». 🗼<|im_end|>', ' Madrid, señor.\n<|im_end|>', 'Berlin. ベルリン<|im_end|>']);
  });
});
