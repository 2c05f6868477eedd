// Byte-level BPE tokenizers rebuilt from GGUF metadata (tokenizer.ggml.model "gpt2"): the real Qwen3
// and Llama 3.2 tokenizers written as llama.cpp's converter does (tokens by id, token types, merges
// as "a b", tokenizer.ggml.pre) encode every test text to the ids of their own tokenizer.json.
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { realTokenizer, type RealTokenizerName } from '../data/testing/realTokenizers';
import { GgufType, readGguf, writeGguf, type GgufKv } from './gguf';
import { ggufTokenizer } from './ggufModel';

const TEXTS = [
  'Hello world! It\'s 2026, and 1234567 apples cost $3.50.',
  "  leading spaces, tabs\tand\nnewlines\n\n  and CAPS'LL  don'T",
  'Ünïcödé: 日本語のテキスト, emoji 🙂👍🏽, Ελληνικά',
  '<|im_start|>user\nWhat is 7*8?<|im_end|>\n<|im_start|>assistant\n',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
];

function ggufOf(name: RealTokenizerName, pre: string, bos: string | null) {
  const t = realTokenizer(name).tokenizerJson as { model: { vocab: Record<string, number>; merges: (string | [string, string])[] }; added_tokens: { id: number; content: string; special: boolean }[] };
  const n = [...Object.values(t.model.vocab), ...t.added_tokens.map((a) => a.id)].reduce((m, v) => Math.max(m, v), 0) + 1;
  const tokens = new Array<string>(n).fill('');
  const types = new Array<number>(n).fill(1);
  for (const [tok, id] of Object.entries(t.model.vocab)) tokens[id] = tok;
  for (const a of t.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
  }
  for (let i = 0; i < n; i++) if (tokens[i] === '') tokens[i] = `[PAD${i}]`;
  const kv: GgufKv[] = [
    { key: 'general.architecture', type: GgufType.STRING, value: 'llama' },
    { key: 'tokenizer.ggml.model', type: GgufType.STRING, value: 'gpt2' },
    { key: 'tokenizer.ggml.pre', type: GgufType.STRING, value: pre },
    { key: 'tokenizer.ggml.tokens', type: GgufType.ARRAY, value: { itemType: GgufType.STRING, items: tokens } },
    { key: 'tokenizer.ggml.token_type', type: GgufType.ARRAY, value: { itemType: GgufType.INT32, items: types } },
    { key: 'tokenizer.ggml.merges', type: GgufType.ARRAY, value: { itemType: GgufType.STRING, items: t.model.merges.map((m) => (typeof m === 'string' ? m : m.join(' '))) } },
    { key: 'tokenizer.ggml.add_bos_token', type: GgufType.BOOL, value: bos !== null },
  ];
  if (bos !== null) kv.push({ key: 'tokenizer.ggml.bos_token_id', type: GgufType.UINT32, value: tokens.indexOf(bos) });
  return readGguf(writeGguf(kv, []), `${name}.gguf`);
}

describe('byte-level BPE tokenizers from GGUF metadata', () => {
  it.each([
    ['qwen3', 'qwen2', null],
    ['llama3_2', 'llama-bpe', '<|begin_of_text|>'],
  ] as const)('%s (tokenizer.ggml.pre %s): the same ids as its tokenizer.json', (name, pre, bos) => {
    const real = realTokenizer(name).tokenizer;
    const { tokenizerJson } = ggufTokenizer(ggufOf(name, pre, bos), `${name}.gguf`);
    const ours = new Tokenizer(tokenizerJson, {});
    for (const text of TEXTS) {
      const want = real.encode(text).ids;
      expect(ours.encode(text).ids, text).toEqual(want);
      expect(ours.decode(want, { skip_special_tokens: false })).toBe(real.decode(want, { skip_special_tokens: false }));
    }
    // the split regex matters: GPT-2's own (an unknown tokenizer.ggml.pre) splits some of these texts otherwise
    const gpt2 = new Tokenizer(ggufTokenizer(ggufOf(name, 'gpt2', bos), `${name}.gguf`).tokenizerJson, {});
    expect(TEXTS.some((t) => JSON.stringify(gpt2.encode(t).ids) !== JSON.stringify(real.encode(t).ids))).toBe(true);
  }, 120_000);
});
