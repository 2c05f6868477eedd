// Small tokenizer.json documents of the model types src/data/testing/tokenizers.ts does not
// build (WordPiece, Unigram), for the loader's tests and as fuzz seeds.

/** A small BERT-style WordPiece tokenizer. */
export function makeWordPieceJson(): { json: Record<string, unknown>; config: Record<string, unknown> } {
  const words = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'hello', 'world', 'the', 'moon', '##s', '##ing', 'a', 'b', 'c', '.', ',', '!'];
  const vocab = Object.fromEntries(words.map((w, i) => [w, i]));
  return {
    json: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]'].map((content, id) => ({ id, content, special: true, single_word: false, lstrip: false, rstrip: false, normalized: false })),
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
        pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: {},
      },
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
    },
    config: { cls_token: '[CLS]', sep_token: '[SEP]', unk_token: '[UNK]', do_lower_case: true },
  };
}

/** A small SentencePiece Unigram tokenizer with a Metaspace pre-tokenizer and decoder. */
export function makeUnigramJson(): { json: Record<string, unknown>; config: Record<string, unknown> } {
  const pieces = ['<unk>', '</s>', '\u2581', '\u2581hello', '\u2581world', 'o', 'l', 'h', 'e', 'w', 'r', 'd', '\u2581the', 'a', 'b', '.', '!'];
  return {
    json: {
      version: '1.0',
      added_tokens: [{ id: 0, content: '<unk>', special: true }, { id: 1, content: '</s>', special: true }],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }], special_tokens: {} },
      decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      model: { type: 'Unigram', unk_id: 0, vocab: pieces.map((p, i) => [p, i < 2 ? 0 : -i]), byte_fallback: false },
    },
    config: { eos_token: '</s>', unk_token: '<unk>' },
  };
}
