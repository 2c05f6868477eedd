// @ts-check
// llama2.c's flat tokenizer format (tok512.bin and friends) -> a Hugging Face tokenizer.json
// that encodes exactly as llama2.c's own encoder does (see shared/tokenizers-and-templates.md).
// Plain JavaScript so scripts/demo-model.mjs runs under plain Node; its JSDoc types are what
// TypeScript callers see, checked by `npm run typecheck`.
//
// Format: int32 max_token_length, then for each token: float32 score, int32 byte length, bytes.
// The token count is not stored (it is the model's vocab_size). llama2.c's export wrote
// SentencePiece's word marker U+2581 as a plain space, and BOS/EOS as "\n<s>\n" / "\n</s>\n".

export class TokenizerError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'TokenizerError';
  }
}

/**
 * A parsed llama2.c tokenizer. `tokens`: pieces exactly as stored (word marker as a plain space,
 * BOS/EOS as "\n<s>\n"/"\n</s>\n").
 * @typedef {{ maxTokenLength: number, tokens: { piece: string, score: number }[] }} Llama2cTokenizer
 */

const SPACE_MARK = '\u2581';
const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

/**
 * Parses a llama2.c tokenizer file.
 * @param {ArrayBuffer | Uint8Array} file
 * @param {number} [vocabSize] when given, the file must hold exactly this many tokens
 * @param {string} [name]
 * @returns {Llama2cTokenizer}
 */
export function parseLlama2cTokenizer(file, vocabSize, name = 'tokenizer.bin') {
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const corrupt = (/** @type {string} */ why) => new TokenizerError(`${name}: ${why}. This is not a llama2.c tokenizer file, or it is truncated; download it again.`);
  if (bytes.length < 4) throw corrupt('the file is shorter than its 4-byte header');
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > 1024) throw corrupt(`max_token_length is ${maxTokenLength}`);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  /** @type {{ piece: string, score: number }[]} */
  const tokens = [];
  let at = 4;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) throw corrupt(`token ${tokens.length} is cut off at byte ${at}`);
    const score = view.getFloat32(at, true);
    const len = view.getInt32(at + 4, true);
    if (len < 0 || len > maxTokenLength || at + 8 + len > bytes.length) {
      throw corrupt(`token ${tokens.length} has length ${len} (max_token_length ${maxTokenLength}, ${bytes.length - at - 8} bytes left)`);
    }
    let piece;
    try {
      piece = decoder.decode(bytes.subarray(at + 8, at + 8 + len));
    } catch {
      throw corrupt(`token ${tokens.length} is not valid UTF-8`);
    }
    tokens.push({ piece, score });
    at += 8 + len;
  }
  if (vocabSize !== undefined && tokens.length !== vocabSize) {
    throw new TokenizerError(`${name}: holds ${tokens.length} tokens but the model's vocab_size is ${vocabSize}. Use the tokenizer that belongs to this model.`);
  }
  return { maxTokenLength, tokens };
}

/**
 * SentencePiece piece text of each token: the word marker restored, BOS/EOS unwrapped.
 * @param {Llama2cTokenizer} tok
 * @returns {string[]}
 */
function pieces(tok) {
  return tok.tokens.map(({ piece }) => {
    if (piece === '\n<s>\n') return '<s>';
    if (piece === '\n</s>\n') return '</s>';
    return piece.replaceAll(' ', SPACE_MARK);
  });
}

/**
 * tokenizer.json for a llama2.c tokenizer exported from a SentencePiece BPE model with
 * byte_fallback (ids 0, 1, 2 = <unk>, <s>, </s>; 3..258 = <0x00>..<0xFF>; then normal pieces).
 * Merges are every split of each normal piece into two normal pieces, ordered by the piece's
 * score (highest first), which reproduces llama2.c's greedy highest-score-pair merging.
 * @param {Llama2cTokenizer} tok
 * @param {string} [name]
 * @returns {Record<string, unknown>}
 */
export function llama2cTokenizerJson(tok, name = 'tokenizer.bin') {
  const p = pieces(tok);
  const fail = (/** @type {string} */ why) => new TokenizerError(`${name}: ${why}. Only tokenizers exported by llama2.c from a SentencePiece BPE model with byte_fallback are supported.`);
  if (p.length < 259 || p[0] !== '<unk>' || p[1] !== '<s>' || p[2] !== '</s>') {
    throw fail('ids 0, 1, 2 must be <unk>, <s>, </s>');
  }
  for (let b = 0; b < 256; b++) {
    const want = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    if (p[3 + b] !== want) throw fail(`id ${3 + b} must be the byte token ${want}, found ${JSON.stringify(p[3 + b])}`);
  }
  /** @type {Record<string, number>} */
  const vocab = {};
  p.forEach((piece, id) => {
    if (Object.hasOwn(vocab, piece)) throw fail(`the piece ${JSON.stringify(piece)} appears twice (ids ${vocab[piece]} and ${id})`);
    vocab[piece] = id;
  });
  /** @type {Set<string>} */
  const normal = new Set();
  for (let id = 259; id < p.length; id++) {
    if (BYTE_PIECE.test(p[id]) || p[id] === '') throw fail(`id ${id} is ${JSON.stringify(p[id])}, not a normal piece`);
    normal.add(p[id]);
  }
  const byScore = [];
  for (let id = 259; id < p.length; id++) byScore.push(id);
  // highest score first; equal scores keep id order (SentencePiece's own tie order)
  byScore.sort((a, b) => tok.tokens[b].score - tok.tokens[a].score || a - b);
  /** @type {string[]} */
  const merges = [];
  for (const id of byScore) {
    const chars = Array.from(p[id]); // split on code points, never inside a surrogate pair
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      if (normal.has(left) && normal.has(right)) merges.push(`${left} ${right}`);
    }
  }
  /** @param {number} id @param {string} content */
  const added = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    // SentencePiece's add_dummy_prefix and whitespace escaping. (A Metaspace pre-tokenizer with
    // prepend_scheme "first" adds no prefix when the text starts with a space: wrong here.)
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPACE_MARK },
        { type: 'Replace', pattern: { String: ' ' }, content: SPACE_MARK },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE_MARK }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/**
 * tokenizer_config.json to go with llama2cTokenizerJson.
 * @param {number} modelMaxLength
 * @returns {Record<string, unknown>}
 */
export function llama2cTokenizerConfig(modelMaxLength) {
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    add_bos_token: true,
    add_eos_token: false,
    // the default (true) rewrites " ." to "." and such on decode, which this model never wants
    clean_up_tokenization_spaces: false,
    model_max_length: modelMaxLength,
  };
}
