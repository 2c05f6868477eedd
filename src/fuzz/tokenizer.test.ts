// Fuzzes loadTokenizer (tokenizerLoader.ts) with the test tokenizers (SentencePiece-style BPE
// with byte fallback, GPT-2-style byte-level BPE with ChatML, WordPiece, Unigram) mutated:
// components swapped for random ones of known and unknown types, added tokens and model fields
// broken, tokenizer_config.json mutated, and the JSON text cut up. Contract: TokenizerLoadError, or
// a Tokenizer that encodes any text, random Unicode and its own special tokens included, to ids
// of its vocabulary and decodes them back to a string.

import { Tokenizer } from '@huggingface/tokenizers';
import { expect, it } from 'vitest';
import { makeByteLevelChatmlTokenizer, makeSentencePieceTokenizer } from '../data/testing/tokenizers';
import { fuzz, FUZZ_TIMEOUT_MS, type Rng, summary } from './harness';
import { jsonText, mutateJsonMany, mutateTextMany, randomJson, randomNumber, randomString } from './mutate';
import { checkTokenizerFiles, loadTokenizer, probe, TokenizerLoadError } from '../model/tokenizerLoader';
import { makeUnigramJson, makeWordPieceJson } from './tokenizerSeeds';

interface Seed {
  name: string;
  json: Record<string, unknown>;
  config: Record<string, unknown>;
  reference: Tokenizer;
}

const SEEDS: Seed[] = (() => {
  const sp = makeSentencePieceTokenizer({ chatml: true });
  const bl = makeByteLevelChatmlTokenizer();
  const wp = makeWordPieceJson();
  const ug = makeUnigramJson();
  return [
    { name: 'sentencepiece-bpe', json: sp.tokenizerJson, config: sp.tokenizerConfig, reference: sp.tokenizer },
    { name: 'byte-level-bpe', json: bl.tokenizerJson, config: bl.tokenizerConfig, reference: bl.tokenizer },
    { name: 'wordpiece', json: wp.json, config: wp.config, reference: new Tokenizer(wp.json, wp.config) },
    { name: 'unigram', json: ug.json, config: ug.config, reference: new Tokenizer(ug.json, ug.config) },
  ];
})();

const FIELD_KEYS = [
  'type', 'pattern', 'content', 'prepend', 'normalizers', 'pretokenizers', 'processors', 'decoders', 'replacement', 'prepend_scheme',
  'add_prefix_space', 'use_regex', 'length', 'start', 'stop', 'single', 'pair', 'special_tokens', 'sep', 'cls', 'prefix', 'suffix',
  'behavior', 'invert', 'individual_digits', 'lowercase', 'strip_accents', 'vocab', 'merges', 'unk_token', 'unk_id', 'byte_fallback',
  'fuse_unk', 'continuing_subword_prefix', 'end_of_word_suffix', 'max_input_chars_per_word', 'added_tokens', 'id', 'special', 'normalized',
  'lstrip', 'rstrip', 'single_word', 'model', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder',
];

const TYPES: Record<string, string[]> = {
  normalizer: ['BertNormalizer', 'Precompiled', 'Sequence', 'Replace', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Strip', 'StripAccents', 'Lowercase', 'Prepend'],
  pre_tokenizer: ['BertPreTokenizer', 'Sequence', 'Whitespace', 'WhitespaceSplit', 'Metaspace', 'ByteLevel', 'Split', 'Punctuation', 'Digits', 'Replace', 'FixedLength'],
  post_processor: ['TemplateProcessing', 'ByteLevel', 'BertProcessing', 'RobertaProcessing', 'Sequence'],
  decoder: ['ByteLevel', 'WordPiece', 'Metaspace', 'BPEDecoder', 'CTC', 'Sequence', 'Replace', 'Fuse', 'Strip', 'ByteFallback'],
};
const SEQUENCE_KEY: Record<string, string> = { normalizer: 'normalizers', pre_tokenizer: 'pretokenizers', post_processor: 'processors', decoder: 'decoders' };

function fieldValue(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => rng.chance(0.5),
    () => randomString(rng),
    () => randomNumber(rng),
    () => ({ String: randomString(rng) }),
    () => ({ Regex: rng.pick(['\\s+', '\\p{L}+|\\p{N}', '(', '[a-', '\\d{1,3}', ' ?\\p{L}+| ?[^\\s\\p{L}\\p{N}]+', "'s|'t", '(?i:ab)', '[[:alpha:]]', '\\X', randomString(rng)]) }),
    () => ({}),
    () => null,
    () => [rng.pick(['<s>', '[CLS]', '<unk>', 'x', '']), rng.pick([0, 1, -1, 2 ** 40, 0.5])],
    () => [{ SpecialToken: { id: rng.pick(['<s>', '</s>', '[CLS]', '<nope>', '']), type_id: rng.pick([0, 1, -1]) } }, { Sequence: { id: rng.pick(['A', 'B', 'C']), type_id: 0 } }],
    () => [null],
    () => randomJson(rng, 2),
  ])();
}

/** A component of a known or unknown type, with field values sometimes right and often wrong. */
function randomComponent(rng: Rng, slot: string, depth = 0): unknown {
  if (rng.chance(0.05)) return randomJson(rng, 2);
  const type = rng.chance(0.9) ? rng.pick(TYPES[slot]) : randomString(rng);
  const c: Record<string, unknown> = { type };
  if (type === 'Sequence' && depth < 3) {
    c[SEQUENCE_KEY[slot]] = Array.from({ length: rng.int(0, 3) }, () => (rng.chance(0.1) ? null : randomComponent(rng, slot, depth + 1)));
  }
  const n = rng.int(0, 3);
  for (let i = 0; i < n; i++) {
    c[rng.pick(['pattern', 'content', 'prepend', 'replacement', 'prepend_scheme', 'add_prefix_space', 'use_regex', 'length', 'start', 'stop', 'single', 'pair', 'sep', 'cls', 'prefix', 'suffix', 'behavior', 'invert', 'individual_digits', 'str_rep', 'cleanup'])] = fieldValue(rng);
  }
  return c;
}

function targeted(rng: Rng, seed: Seed): { json: unknown; config: unknown } {
  const json: Record<string, unknown> = { ...seed.json };
  let config: unknown = seed.config;
  const what = rng.below(7);
  if (what <= 1) {
    const slot = rng.pick(Object.keys(TYPES));
    json[slot] = rng.chance(0.1) ? rng.pick([null, undefined, 0, 'x', []]) : randomComponent(rng, slot);
    if (json[slot] === undefined) delete json[slot];
  } else if (what === 2) {
    const added = [...((json.added_tokens as unknown[]) ?? [])];
    const i = rng.below(added.length + 1);
    const base = (added[i] ?? { id: 7, content: '<new>', special: true }) as Record<string, unknown>;
    const k = rng.pick(['id', 'content', 'special', 'normalized', 'lstrip', 'rstrip', 'single_word']);
    added[i] = rng.chance(0.1) ? rng.pick([null, 1, 'x', []]) : { ...base, [k]: k === 'id' ? rng.pick([-1, 0.5, 2 ** 24, 2 ** 53, 3, 600, NaN, '1']) : fieldValue(rng) };
    json.added_tokens = rng.chance(0.05) ? randomJson(rng, 1) : added;
  } else if (what === 3) {
    const model: Record<string, unknown> = { ...(json.model as Record<string, unknown>) };
    const k = rng.pick(['type', 'vocab', 'merges', 'unk_token', 'unk_id', 'byte_fallback', 'fuse_unk', 'continuing_subword_prefix', 'end_of_word_suffix', 'max_input_chars_per_word', 'ignore_merges']);
    if (rng.chance(0.2)) delete model[k];
    else if (k === 'type') model.type = rng.pick(['BPE', 'WordPiece', 'Unigram', 'WordLevel', '', 'bpe']);
    else if (k === 'merges' && Array.isArray(model.merges)) model.merges = [...model.merges, rng.pick<unknown>(['a', 'a b c', ' ', ['a'], ['a', 'b'], 'x y', 3, null])];
    else model[k] = fieldValue(rng);
    json.model = model;
  } else if (what === 4) {
    config = mutateJsonMany(rng, seed.config, 2, false, ['clean_up_tokenization_spaces', 'remove_space', 'additional_special_tokens', 'eos_token', 'bos_token', 'do_lowercase_and_remove_accent']);
  } else if (what === 5) {
    // vocabulary entries: the id of one token, or a new token
    const model: Record<string, unknown> = { ...(json.model as Record<string, unknown>) };
    if (Array.isArray(model.vocab)) {
      const v = [...model.vocab];
      v[rng.below(v.length)] = rng.pick<unknown>([['x', NaN], ['x'], 'x', null, [3, 1], ['', -1], [randomString(rng), randomNumber(rng)]]);
      model.vocab = v;
    } else {
      const v = { ...(model.vocab as Record<string, unknown>) };
      v[rng.chance(0.5) ? randomString(rng) : rng.pick(Object.keys(v))] = rng.pick<unknown>([-1, 0.5, 2 ** 24, 2 ** 53, 'x', null, rng.int(0, 700)]);
      model.vocab = v;
    }
    json.model = model;
  } else {
    json[rng.pick(['model', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder'])] = rng.chance(0.5) ? undefined : randomJson(rng, 2);
  }
  return { json, config };
}

type Input = { kind: string; seed: number; json: unknown; config: unknown; texts: string[] };

function randomText(rng: Rng, seed: Seed): string {
  const added = ((seed.json.added_tokens as { content: string }[]) ?? []).map((a) => a.content);
  const parts: string[] = [];
  const n = rng.int(0, 6);
  for (let i = 0; i < n; i++) {
    parts.push(
      rng.pick<() => string>([
        () => rng.pick(['Once', 'upon', 'a', 'time', 'hello', 'world', 'the', 'moon']),
        () => rng.pick(added.length > 0 ? added : ['x']),
        () => randomString(rng),
        () => String.fromCodePoint(rng.int(0, 0x10ffff)),
        () => rng.pick([' ', '  ', '\n', '\t', '\r\n', '\u00a0', '\u3000']),
        () => String(rng.int(0, 99_999)),
      ])(),
    );
  }
  return parts.join(rng.chance(0.5) ? ' ' : '');
}

function generate(rng: Rng): Input {
  const seedIndex = rng.below(SEEDS.length);
  const seed = SEEDS[seedIndex];
  const kind = ['valid', 'structured', 'targeted', 'text', 'random'][rng.weighted([1, 4, 6, 1, 0.5])];
  let json: unknown = seed.json;
  let config: unknown = seed.config;
  if (kind === 'structured') json = mutateJsonMany(rng, seed.json, 3, false, FIELD_KEYS);
  else if (kind === 'targeted') ({ json, config } = targeted(rng, seed));
  else if (kind === 'text') json = mutateTextMany(rng, JSON.stringify(seed.json), 3);
  else if (kind === 'random') json = rng.chance(0.5) ? randomJson(rng, 3) : randomString(rng);
  if (kind !== 'text' && rng.chance(0.15)) json = jsonText(json);
  return { kind, seed: seedIndex, json, config, texts: Array.from({ length: 3 }, () => randomText(rng, seed)) };
}

function check(tokenizer: Tokenizer, input: Input): void {
  const { ids } = checkTokenizerFiles(input.json, input.config);
  for (const text of input.texts) {
    const out = probe(tokenizer, text, ids, 'fuzz');
    expect(out.every((id) => Number.isSafeInteger(id) && id >= 0)).toBe(true);
  }
  if (input.kind === 'valid') {
    // the loader changes nothing about how a good tokenizer encodes
    const ref = SEEDS[input.seed].reference;
    for (const text of input.texts) expect(tokenizer.encode(text).ids).toEqual(ref.encode(text).ids);
  }
}

it('loadTokenizer: mutated tokenizer.json ends in TokenizerLoadError or a tokenizer that encodes any text', async () => {
  const stats = await fuzz<Input, Tokenizer>({
    name: 'loadTokenizer',
    seed: 0x70c,
    cases: 10_000,
    generate,
    run: (x) => loadTokenizer(x.json, x.config, 'fuzz/tokenizer.json'),
    typedError: (e) => e instanceof TokenizerLoadError,
    checkError: (e) => expect((e as Error).message.startsWith('fuzz/tokenizer.json: ')).toBe(true),
    check,
    describe: (x) => {
      const json = typeof x.json === 'string' ? x.json : jsonText(x.json);
      // the vocabulary is long and rarely the point: show the parts around it
      return `${x.kind} of ${SEEDS[x.seed].name}; texts ${JSON.stringify(x.texts)}; config ${jsonText(x.config)}; json ${json.replace(/"vocab":\{[^}]*\}/, '"vocab":{...}').replace(/"merges":\[[^\]]*\]/, '"merges":[...]')}`;
    },
  });
  console.log(summary(stats));
  expect(stats.cases).toBeGreaterThanOrEqual(10_000);
  expect(stats.ok).toBeGreaterThan(stats.cases * 0.15);
  expect(stats.typed).toBeGreaterThan(stats.cases * 0.3);
}, FUZZ_TIMEOUT_MS);
