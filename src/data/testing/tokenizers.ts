// Small, hand-built tokenizers for the data pipeline's tests. They do not depend on src/io (the
// real tok512 builder lives there); they only have to behave like the two families the pipeline
// meets: a SentencePiece-style BPE with byte fallback (dummy "▁" prefix on every encode call, BOS
// from a TemplateProcessing post-processor, like llama2.c's tok512) and a GPT-2-style byte-level
// BPE with ChatML added tokens and a chat_template in its tokenizer_config (like Qwen).

import { Tokenizer } from '@huggingface/tokenizers';

/** ChatML, as shipped by Qwen2-Instruct and friends (without the default system prompt). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Llama-2-chat's template (bos_token and eos_token appear as text in the rendering). */
export const LLAMA2_TEMPLATE =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}" +
  "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

// Words the test texts use, so that tokens are mostly whole words rather than single letters.
const WORDS = [
  'Once', 'upon', 'a', 'time', 'there', 'was', 'little', 'girl', 'named', 'Lily', 'the', 'robot',
  'Bob', 'who', 'loved', 'moon', 'Hello', 'Hi', 'What', 'is', 'are', 'you', 'How', 'answer',
  'question', 'story', 'The', 'end', 'happy', 'He', 'She', 'said', 'and', 'to', 'of', 'in',
];
const CHAT_WORDS = ['user', 'assistant', 'system', 'INST', 'Instruction', 'Response', 'Input'];

function prefixes(word: string): string[] {
  const out: string[] = [];
  for (let n = 2; n <= word.length; n++) out.push(word.slice(0, n));
  return out;
}

/** Every split of each multi-character piece into two pieces of the vocab, shortest first. */
function mergesFor(pieces: string[], vocab: Record<string, number>): [string, string][] {
  const merges: [string, string][] = [];
  const seen = new Set<string>();
  const sorted = [...pieces].sort((a, b) => [...a].length - [...b].length);
  for (const piece of sorted) {
    const chars = [...piece];
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join('');
      const right = chars.slice(i).join('');
      const key = left + ' ' + right;
      if (left in vocab && right in vocab && !seen.has(key)) {
        seen.add(key);
        merges.push([left, right]);
      }
    }
  }
  return merges;
}

export interface TestTokenizer {
  tokenizer: Tokenizer;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

/**
 * A tok512-like SentencePiece BPE: <unk>=0, <s>=1, </s>=2, <0x00>..<0xFF>=3..258, then pieces.
 * With `chatml: true`, <|im_start|> and <|im_end|> are added on top of the vocab (ids beyond the
 * base vocabulary), the way people bolt ChatML onto a base model.
 */
export function makeSentencePieceTokenizer(
  opts: { chatml?: boolean; chatTemplate?: string; addedTokens?: string[]; eosToken?: string } = {},
): TestTokenizer {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces: string[] = [];
  const add = (p: string) => {
    if (!(p in vocab)) {
      vocab[p] = Object.keys(vocab).length;
      pieces.push(p);
    }
  };
  add('▁');
  for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?:;\'"#-+=/<>|[]()_') add(c);
  for (const w of [...WORDS, ...CHAT_WORDS]) {
    for (const p of prefixes('▁' + w)) add(p);
    for (const p of prefixes(w)) add(p);
  }
  const addedTokens = [
    { id: 0, content: '<unk>', special: true },
    { id: 1, content: '<s>', special: true },
    { id: 2, content: '</s>', special: true },
  ];
  const baseSize = Object.keys(vocab).length;
  const extra = [...(opts.chatml ? ['<|im_start|>', '<|im_end|>'] : []), ...(opts.addedTokens ?? [])];
  extra.forEach((content, i) => addedTokens.push({ id: baseSize + i, content, special: true }));
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens.map((t) => ({ ...t, single_word: false, lstrip: false, rstrip: false, normalized: false })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: { type: 'BPE', unk_token: '<unk>', byte_fallback: true, fuse_unk: true, vocab, merges: mergesFor(pieces, vocab) },
  };
  const tokenizerConfig: Record<string, unknown> = {
    bos_token: '<s>',
    eos_token: opts.eosToken ?? '</s>',
    unk_token: '<unk>',
    clean_up_tokenization_spaces: false,
  };
  if (opts.chatTemplate) tokenizerConfig.chat_template = opts.chatTemplate;
  return { tokenizer: new Tokenizer(tokenizerJson, tokenizerConfig), tokenizerJson, tokenizerConfig };
}

/** GPT-2's reversible byte -> printable character table. */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table: string[] = new Array(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i])));
  return table;
}

/**
 * A Qwen-like byte-level BPE: 256 byte symbols, a few word merges, then <|endoftext|>,
 * <|im_start|>, <|im_end|> as added special tokens and ChatML as its own chat_template.
 */
export function makeByteLevelChatmlTokenizer(
  opts: { addedTokens?: string[]; chatTemplate?: string; eosToken?: string; bosToken?: string } = {},
): TestTokenizer {
  const table = bytesToUnicode();
  const vocab: Record<string, number> = {};
  table.forEach((c, i) => (vocab[c] = i));
  const pieces: string[] = [];
  const enc = new TextEncoder();
  const toSymbols = (s: string) => Array.from(enc.encode(s), (b) => table[b]).join('');
  for (const w of [...WORDS, ...CHAT_WORDS]) {
    for (const form of [w, ' ' + w]) {
      for (const p of prefixes(toSymbols(form))) {
        if (!(p in vocab)) {
          vocab[p] = Object.keys(vocab).length;
          pieces.push(p);
        }
      }
    }
  }
  const nl2 = toSymbols('\n\n');
  vocab[nl2] = Object.keys(vocab).length;
  pieces.push(nl2);
  const baseSize = Object.keys(vocab).length;
  const added = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', ...(opts.addedTokens ?? [])].map((content, i) => ({
    id: baseSize + i, content, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false,
  }));
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    model: { type: 'BPE', unk_token: null, byte_fallback: false, vocab, merges: mergesFor(pieces, vocab) },
  };
  const tokenizerConfig = {
    bos_token: opts.bosToken ?? null,
    eos_token: opts.eosToken ?? '<|im_end|>',
    pad_token: '<|endoftext|>',
    clean_up_tokenization_spaces: false,
    chat_template: opts.chatTemplate ?? CHATML_TEMPLATE,
  };
  return { tokenizer: new Tokenizer(tokenizerJson, tokenizerConfig), tokenizerJson, tokenizerConfig };
}
