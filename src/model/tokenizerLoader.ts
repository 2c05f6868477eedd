// The studio's loader for tokenizer.json + tokenizer_config.json: checks the structure first,
// builds @huggingface/tokenizers' Tokenizer, then encodes and decodes a few probe texts, and turns
// every failure into one TokenizerLoadError that says what is wrong. The library itself throws
// bare Errors and TypeErrors from deep inside, accepts configs that crash only at the first encode
// (a Replace with no pattern, a TemplateProcessing item that is null), and hangs on some (a
// FixedLength pre-tokenizer of length 0 loops forever), so a file picked by a user must pass here
// before anything encodes with it.
//
// Lives in src/fuzz for now (the fuzz tests define its contract); it belongs in src/model/tokenizer.ts.

import { Tokenizer } from '@huggingface/tokenizers';

export class TokenizerLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerLoadError';
  }
}

/** Far above any real vocabulary (Gemma 3 has 262,144 ids); bigger ids are corrupt, not large. */
export const MAX_TOKEN_ID = 1 << 24;
/** Bound for lengths and counts inside component configs (FixedLength, Strip). */
const MAX_SMALL_INT = 1 << 20;

const REDOWNLOAD = 'Download tokenizer.json again, from the same model as the weights.';

type Json = Record<string, unknown>;

class Checker {
  constructor(private readonly file: string) {}

  fail(path: string, problem: string, fix = REDOWNLOAD): never {
    throw new TokenizerLoadError(`${this.file}: ${path ? `${path} ` : ''}${problem}. ${fix}`);
  }

  object(v: unknown, path: string): Json {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(path, `must be an object, got ${describe(v)}`);
    return v as Json;
  }

  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `must be a list, got ${describe(v)}`);
    return v;
  }

  string(v: unknown, path: string, nonEmpty = false): string {
    if (typeof v !== 'string') this.fail(path, `must be a string, got ${describe(v)}`);
    if (nonEmpty && v.length === 0) this.fail(path, 'must not be empty');
    return v;
  }

  int(v: unknown, path: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.fail(path, `must be an integer from ${min} to ${max}, got ${describe(v)}`);
    }
    return v;
  }

  /** Optional fields: absent (or null when `nullable`) is fine, anything else must match. */
  optional(o: Json, key: string, path: string, kind: 'bool' | 'string' | 'number', nullable = true): void {
    const v = o[key];
    if (v === undefined || (nullable && v === null)) return;
    const ok = kind === 'bool' ? typeof v === 'boolean' : kind === 'string' ? typeof v === 'string' : typeof v === 'number' && Number.isFinite(v);
    if (!ok) this.fail(`${path}.${key}`, `must be ${kind === 'bool' ? 'true or false' : `a ${kind}`}, got ${describe(v)}`);
  }

  pattern(v: unknown, path: string): void {
    const p = this.object(v, path);
    if (typeof p.String === 'string' || typeof p.Regex === 'string') return;
    this.fail(path, `must be {"String": "..."} or {"Regex": "..."}, got ${describe(v)}`);
  }
}

/** A short, bounded description of a value for messages (never recursive: values may be deep). */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return String(v);
}

// Component types @huggingface/tokenizers 0.2.0 implements, with the fields each reads.
type ComponentCheck = (c: Checker, o: Json, path: string) => void;
const bools = (...keys: string[]): ComponentCheck => (c, o, path) => keys.forEach((k) => c.optional(o, k, path, 'bool'));
const none: ComponentCheck = () => {};

const NORMALIZERS: Record<string, ComponentCheck> = {
  BertNormalizer: bools('clean_text', 'handle_chinese_chars', 'lowercase', 'strip_accents'),
  Precompiled: (c, o, p) => c.optional(o, 'precompiled_charsmap', p, 'string'),
  Sequence: (c, o, p) => c.array(o.normalizers, `${p}.normalizers`).forEach((x, i) => component(c, NORMALIZERS, x, `${p}.normalizers[${i}]`)),
  Replace: (c, o, p) => (c.pattern(o.pattern, `${p}.pattern`), c.optional(o, 'content', p, 'string')),
  NFC: none, NFD: none, NFKC: none, NFKD: none, StripAccents: none, Lowercase: none,
  Strip: bools('strip_left', 'strip_right'),
  Prepend: (c, o, p) => c.string(o.prepend, `${p}.prepend`),
};

const PRE_TOKENIZERS: Record<string, ComponentCheck> = {
  BertPreTokenizer: none, Whitespace: none, WhitespaceSplit: none,
  Punctuation: (c, o, p) => c.optional(o, 'behavior', p, 'string'),
  Digits: bools('individual_digits'),
  ByteLevel: bools('add_prefix_space', 'trim_offsets', 'use_regex'),
  Metaspace: (c, o, p) => {
    c.optional(o, 'replacement', p, 'string');
    c.optional(o, 'str_rep', p, 'string');
    c.optional(o, 'prepend_scheme', p, 'string');
    bools('add_prefix_space', 'split')(c, o, p);
  },
  Split: (c, o, p) => (c.pattern(o.pattern, `${p}.pattern`), c.optional(o, 'behavior', p, 'string'), c.optional(o, 'invert', p, 'bool')),
  Replace: (c, o, p) => (c.pattern(o.pattern, `${p}.pattern`), c.optional(o, 'content', p, 'string')),
  Sequence: (c, o, p) => c.array(o.pretokenizers, `${p}.pretokenizers`).forEach((x, i) => component(c, PRE_TOKENIZERS, x, `${p}.pretokenizers[${i}]`)),
  // length 0 makes the library loop forever
  FixedLength: (c, o, p) => c.int(o.length, `${p}.length`, 1, MAX_SMALL_INT),
};

function templateItems(c: Checker, v: unknown, path: string): void {
  c.array(v, path).forEach((item, i) => {
    const it = c.object(item, `${path}[${i}]`);
    if (it.SpecialToken !== undefined) {
      const s = c.object(it.SpecialToken, `${path}[${i}].SpecialToken`);
      c.string(s.id, `${path}[${i}].SpecialToken.id`, true);
      c.int(s.type_id ?? 0, `${path}[${i}].SpecialToken.type_id`, 0, MAX_SMALL_INT);
    } else if (it.Sequence !== undefined) {
      const s = c.object(it.Sequence, `${path}[${i}].Sequence`);
      if (s.id !== 'A' && s.id !== 'B') c.fail(`${path}[${i}].Sequence.id`, `must be "A" or "B", got ${describe(s.id)}`);
      c.int(s.type_id ?? 0, `${path}[${i}].Sequence.type_id`, 0, MAX_SMALL_INT);
    } else {
      c.fail(`${path}[${i}]`, 'must be {"SpecialToken": {...}} or {"Sequence": {...}}');
    }
  });
}

function tokenPair(c: Checker, v: unknown, path: string): void {
  const a = c.array(v, path);
  if (a.length !== 2) c.fail(path, `must be [token, id], got ${describe(v)}`);
  c.string(a[0], `${path}[0]`, true);
  c.int(a[1], `${path}[1]`, 0, MAX_TOKEN_ID - 1);
}

const POST_PROCESSORS: Record<string, ComponentCheck> = {
  TemplateProcessing: (c, o, p) => {
    templateItems(c, o.single, `${p}.single`);
    if (o.pair !== undefined && o.pair !== null) templateItems(c, o.pair, `${p}.pair`);
  },
  ByteLevel: bools('add_prefix_space', 'trim_offsets', 'use_regex'),
  BertProcessing: (c, o, p) => (tokenPair(c, o.sep, `${p}.sep`), tokenPair(c, o.cls, `${p}.cls`)),
  RobertaProcessing: (c, o, p) => (tokenPair(c, o.sep, `${p}.sep`), tokenPair(c, o.cls, `${p}.cls`)),
  Sequence: (c, o, p) => c.array(o.processors, `${p}.processors`).forEach((x, i) => component(c, POST_PROCESSORS, x, `${p}.processors[${i}]`)),
};

const DECODERS: Record<string, ComponentCheck> = {
  ByteLevel: bools('add_prefix_space', 'trim_offsets', 'use_regex'),
  WordPiece: (c, o, p) => (c.optional(o, 'prefix', p, 'string'), c.optional(o, 'cleanup', p, 'bool')),
  Metaspace: (c, o, p) => (c.optional(o, 'replacement', p, 'string'), c.optional(o, 'prepend_scheme', p, 'string'), bools('add_prefix_space', 'split')(c, o, p)),
  BPEDecoder: (c, o, p) => c.optional(o, 'suffix', p, 'string'),
  CTC: (c, o, p) => (c.optional(o, 'pad_token', p, 'string'), c.optional(o, 'word_delimiter_token', p, 'string'), c.optional(o, 'cleanup', p, 'bool')),
  Sequence: (c, o, p) => c.array(o.decoders, `${p}.decoders`).forEach((x, i) => component(c, DECODERS, x, `${p}.decoders[${i}]`)),
  Replace: (c, o, p) => (c.pattern(o.pattern, `${p}.pattern`), c.optional(o, 'content', p, 'string')),
  Fuse: none,
  Strip: (c, o, p) => {
    c.optional(o, 'content', p, 'string');
    if (o.start !== undefined) c.int(o.start, `${p}.start`, 0, MAX_SMALL_INT);
    if (o.stop !== undefined) c.int(o.stop, `${p}.stop`, 0, MAX_SMALL_INT);
  },
  ByteFallback: none,
};

function component(c: Checker, kinds: Record<string, ComponentCheck>, v: unknown, path: string): void {
  const o = c.object(v, path);
  const type = o.type;
  if (typeof type !== 'string' || !Object.hasOwn(kinds, type)) {
    c.fail(path, `has type ${describe(type)}, which is not supported`, `Supported: ${Object.keys(kinds).join(', ')}.`);
  }
  kinds[type](c, o, path);
}

/** id -> token text of the model's vocabulary, after checking its layout. */
function checkModel(c: Checker, v: unknown): { type: string; ids: Map<number, string> } {
  const m = c.object(v, 'model');
  let type = m.type;
  if (type === undefined) {
    // very old files omit the type; infer it the way the library does
    if (Array.isArray(m.vocab)) type = 'Unigram';
    else if (Object.hasOwn(m, 'continuing_subword_prefix') && Object.hasOwn(m, 'unk_token')) type = Object.hasOwn(m, 'merges') ? 'BPE' : 'WordPiece';
  }
  const ids = new Map<number, string>();
  if (type === 'BPE' || type === 'WordPiece') {
    const vocab = c.object(m.vocab, 'model.vocab');
    for (const [token, id] of Object.entries(vocab)) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= MAX_TOKEN_ID) {
        c.fail(`model.vocab[${describe(token)}]`, `must be a token id from 0 to ${MAX_TOKEN_ID - 1}, got ${describe(id)}`);
      }
      ids.set(id, token);
    }
    if (ids.size === 0) c.fail('model.vocab', 'is empty');
    if (type === 'BPE') {
      const merges = c.array(m.merges ?? [], 'model.merges');
      const pairs = merges.length > 0 && Array.isArray(merges[0]);
      merges.forEach((x, i) => {
        const ok = pairs
          ? Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' && typeof x[1] === 'string'
          : typeof x === 'string' && x.indexOf(' ') > 0 && x.indexOf(' ') < x.length - 1;
        if (!ok) c.fail(`model.merges[${i}]`, `must be ${pairs ? 'a pair ["a", "b"] like the merges before it' : 'a string "a b" like the merges before it'}, got ${describe(x)}`);
      });
      c.optional(m, 'unk_token', 'model', 'string');
      for (const k of ['byte_fallback', 'fuse_unk', 'ignore_merges']) c.optional(m, k, 'model', 'bool');
      for (const k of ['end_of_word_suffix', 'continuing_subword_suffix', 'continuing_subword_prefix']) c.optional(m, k, 'model', 'string');
      c.optional(m, 'dropout', 'model', 'number');
    } else {
      c.string(m.unk_token, 'model.unk_token', true);
      if (!Object.hasOwn(vocab, m.unk_token as string)) c.fail('model.unk_token', `${describe(m.unk_token)} is not in the vocabulary`);
      c.optional(m, 'continuing_subword_prefix', 'model', 'string');
      if (m.max_input_chars_per_word !== undefined) c.int(m.max_input_chars_per_word, 'model.max_input_chars_per_word', 1, MAX_SMALL_INT);
    }
  } else if (type === 'Unigram') {
    const vocab = c.array(m.vocab, 'model.vocab');
    if (vocab.length === 0) c.fail('model.vocab', 'is empty');
    if (vocab.length > MAX_TOKEN_ID) c.fail('model.vocab', `has ${vocab.length} entries, more than ${MAX_TOKEN_ID}`);
    vocab.forEach((e, i) => {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number' || !Number.isFinite(e[1])) {
        c.fail(`model.vocab[${i}]`, `must be [piece, score], got ${describe(e)}`);
      }
      ids.set(i, e[0] as string);
    });
    if (m.unk_id !== undefined && m.unk_id !== null) c.int(m.unk_id, 'model.unk_id', 0, vocab.length - 1);
    c.optional(m, 'byte_fallback', 'model', 'bool');
  } else {
    c.fail('model.type', `is ${describe(type)}, which is not supported`, 'Supported: BPE, WordPiece, Unigram.');
  }
  return { type: type as string, ids };
}

const COMPONENT_SLOTS = [
  ['normalizer', NORMALIZERS],
  ['pre_tokenizer', PRE_TOKENIZERS],
  ['post_processor', POST_PROCESSORS],
  ['decoder', DECODERS],
] as const;

function parseJsonArg(c: Checker, v: unknown, what: string): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch (e) {
    return c.fail('', `${what} is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * The message for a model without tokenizer.json; `where` is the file name the caller uses
 * ("tokenizer.json") or the model folder's name (the engine passes that).
 */
export function missingTokenizerJson(where: string): string {
  const what = where.endsWith('.json') ? `${where}: the file is missing` : `The model folder "${where}" has no tokenizer.json`;
  return (
    `${what}: Whetstone reads the model's tokenizer from tokenizer.json, the file Hugging Face models ship beside config.json. ` +
    "Add tokenizer.json (and tokenizer_config.json) from the model's Hub page to the folder and load it again. " +
    'A model that has only tokenizer.model or vocab.json + merges.txt gets one from transformers: AutoTokenizer.from_pretrained(dir).save_pretrained(dir).'
  );
}

/**
 * Checks tokenizer.json and tokenizer_config.json (text or parsed) and returns copies the library
 * can take: missing component slots become null, as the Rust library writes them.
 */
export function checkTokenizerFiles(
  json: unknown,
  config: unknown,
  fileName = 'tokenizer.json',
): { json: Json; config: Json; ids: Map<number, string> } {
  if (json === null || json === undefined) throw new TokenizerLoadError(missingTokenizerJson(fileName));
  const c = new Checker(fileName);
  const t = c.object(parseJsonArg(c, json, fileName), '');
  const out: Json = { ...t };
  for (const [slot, kinds] of COMPONENT_SLOTS) {
    const v = t[slot];
    if (v === undefined || v === null) out[slot] = null;
    else component(c, kinds, v, slot);
  }
  const { ids } = checkModel(c, t.model);
  const added = c.array(t.added_tokens ?? [], 'added_tokens');
  out.added_tokens = added;
  // an added token may take over a vocabulary id, but two added tokens may not share one
  const addedIds = new Map<number, string>();
  added.forEach((a, i) => {
    const p = `added_tokens[${i}]`;
    const o = c.object(a, p);
    const id = c.int(o.id, `${p}.id`, 0, MAX_TOKEN_ID - 1);
    const content = c.string(o.content, `${p}.content`, true);
    for (const k of ['special', 'normalized', 'lstrip', 'rstrip', 'single_word']) c.optional(o, k, p, 'bool');
    const had = addedIds.get(id);
    if (had !== undefined && had !== content) c.fail(`${p}.id`, `${id} is given to both ${describe(had)} and ${describe(content)}`);
    addedIds.set(id, content);
    ids.set(id, content);
  });
  const cfgRaw = config === undefined || config === null ? {} : parseJsonArg(c, config, 'tokenizer_config.json');
  const cfg = { ...c.object(cfgRaw, 'tokenizer_config.json') };
  for (const k of ['clean_up_tokenization_spaces', 'remove_space', 'do_lowercase_and_remove_accent']) {
    c.optional(cfg, k, 'tokenizer_config.json', 'bool');
  }
  if (cfg.additional_special_tokens !== undefined && cfg.additional_special_tokens !== null) {
    c.array(cfg.additional_special_tokens, 'tokenizer_config.json.additional_special_tokens');
  } else {
    delete cfg.additional_special_tokens;
  }
  return { json: out, config: cfg, ids };
}

const PROBES = ['Hello world', ' leading space', 'two  spaces\tand\nlines\r\n', 'digits 0123456789', 'punctuation .,!?;:\'"()[]{}<>/\\|-_=+*&^%$#@~`', 'ünïcödé 中文 😀', ''];

/**
 * Builds the tokenizer and proves it works: every probe text (and every added token's text)
 * encodes to integer ids of the vocabulary and decodes back to a string.
 */
export function loadTokenizer(json: unknown, config?: unknown, fileName = 'tokenizer.json'): Tokenizer {
  const files = checkTokenizerFiles(json, config, fileName);
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(files.json, files.config);
  } catch (e) {
    throw new TokenizerLoadError(`${fileName}: @huggingface/tokenizers cannot build it (${(e as Error)?.message ?? String(e)}). ${REDOWNLOAD}`);
  }
  const added = (files.json.added_tokens as Json[]).slice(0, 32).map((a) => a.content as string);
  for (const text of [...PROBES, ...added, added.join(' ')]) probe(tokenizer, text, files.ids, fileName);
  return tokenizer;
}

/** Encodes and decodes `text`; throws TokenizerLoadError when the tokenizer cannot. */
export function probe(tokenizer: Tokenizer, text: string, ids: ReadonlyMap<number, string>, fileName = 'tokenizer.json'): number[] {
  let out: number[] = [];
  try {
    for (const add_special_tokens of [true, false]) {
      const enc = tokenizer.encode(text, { add_special_tokens });
      const bad = enc.ids.findIndex((id) => !Number.isSafeInteger(id) || !ids.has(id));
      if (bad >= 0) {
        throw new TokenizerLoadError(
          `${fileName}: encoding ${describe(text)} gives token ${describe(enc.tokens[bad])} the id ${describe(enc.ids[bad])}, which is not in the vocabulary ` +
            '(no unk_token and no byte_fallback, or a post-processor naming an unknown token). ' + REDOWNLOAD,
        );
      }
      if (enc.ids.length > 0) {
        for (const skip_special_tokens of [false, true]) {
          if (typeof tokenizer.decode(enc.ids, { skip_special_tokens }) !== 'string') throw new Error('decode did not return a string');
        }
      }
      out = enc.ids;
    }
  } catch (e) {
    if (e instanceof TokenizerLoadError) throw e;
    throw new TokenizerLoadError(`${fileName}: the tokenizer fails on the text ${describe(text)} (${(e as Error)?.message ?? String(e)}). ${REDOWNLOAD}`);
  }
  return out;
}
