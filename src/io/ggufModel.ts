// A GGUF base model (the files llama.cpp, Ollama and LM Studio users have) as what the rest of
// Whetstone reads from a Hugging Face folder: config.json from the metadata (general.architecture
// and its "<arch>.*" keys), tokenizer.json rebuilt for @huggingface/tokenizers from
// tokenizer.ggml.*, the chat template from tokenizer.chat_template, and each tensor found under
// its llama.cpp name (the architecture module's hfToGgufName) with llama.cpp's q/k row permutation
// undone (convert_hf_to_gguf.py interleaves the two RoPE halves of every head for "llama").
// Tokenizers:
//   "llama" (SentencePiece): BPE with byte fallback, ▁ for spaces; merges recovered from the
//           vocabulary and scores as transformers' SentencePieceExtractor does (every split of a
//           piece into two pieces, ordered by the piece's score)
//   "gpt2"  (byte-level BPE): vocabulary and tokenizer.ggml.merges as they are; the split regex
//           from tokenizer.ggml.pre: "qwen2" (single digits, NFC), "llama-bpe" (Llama 3: up to 3
//           digits, merges ignored for whole-vocabulary words), else GPT-2's own
import { GgufError, hfToGgufName, type GgufFile, type GgufTensorInfo, type GgufValue } from './gguf';
import type { ModelConfig } from './hfConfig';

/** Metadata value (arrays flattened to their items). */
function kvValue(g: GgufFile, key: string): GgufValue | undefined {
  return g.kv.get(key)?.value;
}

function num(g: GgufFile, key: string): number | undefined {
  const v = kvValue(g, key);
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
}

function items(g: GgufFile, key: string): GgufValue[] | undefined {
  const v = kvValue(g, key);
  return v !== undefined && typeof v === 'object' && 'items' in v ? v.items : undefined;
}

const HF_ARCH: Record<string, { architectures: string[]; model_type: string }> = {
  llama: { architectures: ['LlamaForCausalLM'], model_type: 'llama' },
  qwen2: { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' },
  qwen3: { architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3' },
};

/** config.json of the model a GGUF file holds. */
export function ggufConfigJson(g: GgufFile, file: string): Record<string, unknown> {
  const arch = kvValue(g, 'general.architecture');
  if (typeof arch !== 'string') throw new GgufError(`${file}: no general.architecture in the metadata: is this a model file?`);
  const hf = HF_ARCH[arch];
  if (!hf) throw new GgufError(`${file}: general.architecture "${arch}" is not one Whetstone loads from GGUF (${Object.keys(HF_ARCH).join(', ')}). Load the model's Hugging Face folder instead.`);
  if (kvValue(g, 'general.type') === 'adapter') throw new GgufError(`${file} is a LoRA adapter, not a model: load its base model, then the adapter.`);
  const need = (k: string) => {
    const v = num(g, `${arch}.${k}`);
    if (v === undefined) throw new GgufError(`${file}: the metadata has no ${arch}.${k}, which a ${arch} model needs.`);
    return v;
  };
  const tokens = items(g, 'tokenizer.ggml.tokens');
  const heads = need('attention.head_count');
  const hidden = need('embedding_length');
  const config: Record<string, unknown> = {
    ...hf,
    hidden_size: hidden,
    intermediate_size: need('feed_forward_length'),
    num_hidden_layers: need('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: num(g, `${arch}.attention.head_count_kv`) ?? heads,
    head_dim: num(g, `${arch}.attention.key_length`) ?? hidden / heads,
    vocab_size: num(g, `${arch}.vocab_size`) ?? tokens?.length,
    max_position_embeddings: num(g, `${arch}.context_length`) ?? 2048,
    rms_norm_eps: num(g, `${arch}.attention.layer_norm_rms_epsilon`) ?? 1e-5,
    rope_theta: num(g, `${arch}.rope.freq_base`) ?? 10000,
    hidden_act: 'silu',
    tie_word_embeddings: !g.tensors.some((t) => t.name === 'output.weight'),
    bos_token_id: num(g, 'tokenizer.ggml.bos_token_id') ?? null,
    eos_token_id: num(g, 'tokenizer.ggml.eos_token_id') ?? null,
    torch_dtype: 'float16',
  };
  if (config.vocab_size === undefined) throw new GgufError(`${file}: neither ${arch}.vocab_size nor tokenizer.ggml.tokens is in the metadata.`);
  return config;
}

/** Split regexes of byte-level BPE pre-tokenizers by tokenizer.ggml.pre (as the models' tokenizer.json files have them). */
const SPLIT_REGEX: Record<string, string> = {
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  'llama-bpe': "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

// tokenizer.ggml.model names llama.cpp's vocabulary type (not the model's architecture: Qwen's
// GGUFs say "gpt2", Mistral's "llama")
const GGUF_VOCAB_KINDS: Partial<Record<string, 'sentencepiece' | 'byte-level-bpe'>> = { llama: 'sentencepiece', gpt2: 'byte-level-bpe' };
// byte-level BPE pre-tokenizers (tokenizer.ggml.pre) whose tokenizer.json has an NFC normalizer
const NFC_PRE_TOKENIZERS = new Set(['qwen2']);

// token_type values of llama.cpp's vocab
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const BYTE = 6;

/** tokenizer.json and tokenizer_config.json rebuilt from tokenizer.ggml.*; the chat template. */
export function ggufTokenizer(g: GgufFile, file: string): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown>; chatTemplate: string | null } {
  const model = kvValue(g, 'tokenizer.ggml.model');
  const tokens = items(g, 'tokenizer.ggml.tokens')?.map(String);
  if (!tokens || typeof model !== 'string') throw new GgufError(`${file}: no tokenizer in the metadata (tokenizer.ggml.model and tokenizer.ggml.tokens).`);
  const types = items(g, 'tokenizer.ggml.token_type')?.map(Number) ?? tokens.map(() => NORMAL);
  const special = (id: number | undefined) => (id !== undefined && id >= 0 && id < tokens.length ? tokens[id] : null);
  const bos = special(num(g, 'tokenizer.ggml.bos_token_id'));
  const eos = special(num(g, 'tokenizer.ggml.eos_token_id'));
  const unk = special(num(g, 'tokenizer.ggml.unknown_token_id'));
  const pad = special(num(g, 'tokenizer.ggml.padding_token_id'));
  const kind = GGUF_VOCAB_KINDS[model];
  const addBos = kvValue(g, 'tokenizer.ggml.add_bos_token') ?? kind === 'sentencepiece';
  const addedTokens = tokens
    .map((content, id) => ({ id, content, type: types[id] }))
    .filter((t) => t.type === CONTROL || t.type === UNKNOWN || t.type === USER_DEFINED)
    .map(({ id, content, type }) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type !== USER_DEFINED }));
  const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
  const postProcessor =
    addBos === true && bos
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { [bos]: { id: bos, ids: [vocab[bos]], tokens: [bos] } },
        }
      : null;
  let tokenizerJson: Record<string, unknown>;
  if (kind === 'sentencepiece') {
    const scores = items(g, 'tokenizer.ggml.scores')?.map(Number) ?? tokens.map((_, i) => -i);
    tokenizerJson = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: addedTokens,
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
      pre_tokenizer: null,
      post_processor: postProcessor,
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
      model: {
        type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false,
        vocab,
        merges: sentencePieceMerges(tokens, scores, types),
      },
    };
  } else if (kind === 'byte-level-bpe') {
    const merges = items(g, 'tokenizer.ggml.merges')?.map(String);
    if (!merges) throw new GgufError(`${file}: a gpt2 tokenizer needs tokenizer.ggml.merges.`);
    const pre = kvValue(g, 'tokenizer.ggml.pre');
    const regex = typeof pre === 'string' ? SPLIT_REGEX[pre] : undefined;
    tokenizerJson = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: addedTokens,
      normalizer: typeof pre === 'string' && NFC_PRE_TOKENIZERS.has(pre) ? { type: 'NFC' } : null,
      pre_tokenizer: regex
        ? { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }] }
        : { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: postProcessor ?? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: pre === 'llama-bpe', vocab, merges },
    };
  } else {
    throw new GgufError(`${file}: tokenizer.ggml.model "${model}" is not one Whetstone rebuilds (llama, gpt2).`);
  }
  const chat = kvValue(g, 'tokenizer.chat_template');
  const tokenizerConfig: Record<string, unknown> = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: bos,
    eos_token: eos,
    unk_token: unk,
    pad_token: pad,
    add_bos_token: addBos === true,
    add_eos_token: kvValue(g, 'tokenizer.ggml.add_eos_token') === true,
    clean_up_tokenization_spaces: false,
    model_max_length: num(g, `${String(kvValue(g, 'general.architecture'))}.context_length`) ?? 2048,
  };
  if (typeof chat === 'string') tokenizerConfig.chat_template = chat;
  return { tokenizerJson, tokenizerConfig, chatTemplate: typeof chat === 'string' ? chat : null };
}

/**
 * Merges of a SentencePiece BPE vocabulary: every split of a normal piece into two pieces of the
 * vocabulary (ordered by their ids), all ordered by the piece's score, highest first (stable).
 */
export function sentencePieceMerges(tokens: readonly string[], scores: readonly number[], types: readonly number[]): string[] {
  const id = new Map(tokens.map((t, i) => [t, i]));
  const merges: { a: string; b: string; score: number }[] = [];
  tokens.forEach((piece, i) => {
    if (types[i] !== NORMAL && types[i] !== USER_DEFINED) return;
    const chars = [...piece];
    const local: { a: string; b: string; score: number }[] = [];
    for (let k = 1; k < chars.length; k++) {
      const a = chars.slice(0, k).join('');
      const b = chars.slice(k).join('');
      if (id.has(a) && id.has(b) && types[id.get(a)!] !== BYTE && types[id.get(b)!] !== BYTE) local.push({ a, b, score: scores[i] });
    }
    local.sort((x, y) => id.get(x.a)! - id.get(y.a)! || id.get(x.b)! - id.get(y.b)!);
    merges.push(...local);
  });
  merges.sort((x, y) => y.score - x.score);
  return merges.map((m) => `${m.a} ${m.b}`);
}

/**
 * The GGUF tensor holding HF weight `hfName`, with the HF shape ([out, in] for a matrix): GGUF dims
 * are the numpy shape reversed.
 */
export function ggufTensorFor(g: GgufFile, config: ModelConfig, hfName: string, file: string): { tensor: GgufTensorInfo; shape: number[] } {
  const name = hfToGgufName(hfName, config);
  const tensor = g.tensors.find((t) => t.name === name);
  if (!tensor) throw new GgufError(`${file}: tensor ${name} (${hfName}) is missing.`);
  return { tensor, shape: [...tensor.dims].reverse() };
}

/**
 * Row r of the HF matrix is row src(r) of llama.cpp's: within each head of `headDim` rows, HF keeps
 * the two RoPE halves apart, llama.cpp interleaves them (HF row i -> 2i, half + i -> 2i + 1).
 */
export function unpermuteRowIndex(heads: number, rows: number): Int32Array {
  const headDim = rows / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new GgufError(`cannot undo llama.cpp's q/k permutation: ${rows} rows are not ${heads} heads of an even size.`);
  const half = headDim / 2;
  const src = new Int32Array(rows);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      src[h * headDim + i] = h * headDim + 2 * i;
      src[h * headDim + half + i] = h * headDim + 2 * i + 1;
    }
  }
  return src;
}

/** Rows of `rowLen` elements reordered: out row r = in row src[r]. */
export function permuteRows<T extends Uint8Array | Uint16Array | Uint32Array | Float32Array>(data: T, rowLen: number, src: Int32Array): T {
  const out = new (data.constructor as { new (n: number): T })(data.length);
  for (let r = 0; r < src.length; r++) out.set(data.subarray(src[r] * rowLen, (src[r] + 1) * rowLen), r * rowLen);
  return out;
}
