import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { makeByteLevelChatmlTokenizer, makeSentencePieceTokenizer } from '../data/testing/tokenizers';
import { loadTokenizer, MAX_TOKEN_ID, TokenizerLoadError } from './tokenizerLoader';
import { folderFromBuffers } from './folder';
import { readModelAssets } from './load';
import { makeUnigramJson, makeWordPieceJson } from '../fuzz/tokenizerSeeds';


function loadError(json: unknown, config: unknown = {}): TokenizerLoadError {
  try {
    loadTokenizer(json, config);
  } catch (e) {
    expect(e).toBeInstanceOf(TokenizerLoadError);
    return e as TokenizerLoadError;
  }
  throw new Error('expected a TokenizerLoadError');
}

describe('loadTokenizer', () => {
  it('loads the test tokenizers and encodes exactly like the library', () => {
    const sp = makeSentencePieceTokenizer({ chatml: true });
    const bl = makeByteLevelChatmlTokenizer();
    const wp = makeWordPieceJson();
    const ug = makeUnigramJson();
    for (const { json, config } of [
      { json: sp.tokenizerJson, config: sp.tokenizerConfig },
      { json: bl.tokenizerJson, config: bl.tokenizerConfig },
      wp,
      ug,
    ]) {
      const ours = loadTokenizer(json, config);
      const theirs = new Tokenizer(json, config);
      for (const text of ['Once upon a time', 'hello world!', '<|im_start|>user hi<|im_end|>']) {
        expect(ours.encode(text).ids).toEqual(theirs.encode(text).ids);
      }
      // JSON text works as well as parsed objects
      expect(loadTokenizer(JSON.stringify(json), JSON.stringify(config)).encode('hello').ids).toEqual(theirs.encode('hello').ids);
    }
    expect(makeSentencePieceTokenizer().tokenizer.encode('Once upon a time').ids).toEqual(loadTokenizer(sp.tokenizerJson, sp.tokenizerConfig).encode('Once upon a time').ids);
  });

  it('fills missing component slots with null, as the Rust library writes them', () => {
    const { json, config } = makeWordPieceJson();
    const bare = { model: json.model };
    // no pre-tokenizer: the whole text is one word, unknown to the vocabulary
    expect(loadTokenizer(bare, config).encode('hello world').ids).toEqual([1]);
    expect(loadTokenizer(bare).encode('hello').ids).toEqual([4]);
  });

  it('rejects what the library would hang or crash on later, with the path to the problem', () => {
    const { json } = makeWordPieceJson();
    expect(loadError({ ...json, pre_tokenizer: { type: 'FixedLength', length: 0 } }).message).toMatch(/pre_tokenizer\.length must be an integer from 1/);
    expect(loadError({ ...json, normalizer: { type: 'Replace', content: 'x' } }).message).toMatch(/normalizer\.pattern must be an object/);
    expect(loadError({ ...json, decoder: { type: 'Sequence', decoders: [null] } }).message).toMatch(/decoder\.decoders\[0\] must be an object/);
    expect(loadError({ ...json, post_processor: { type: 'TemplateProcessing', single: [null] } }).message).toMatch(/post_processor\.single\[0\]/);
    expect(loadError({ ...json, normalizer: { type: 'Magic' } }).message).toMatch(/normalizer has type "Magic", which is not supported\. Supported: BertNormalizer/);
    expect(loadError({ ...json, added_tokens: [{ id: MAX_TOKEN_ID, content: 'x' }] }).message).toMatch(/added_tokens\[0\]\.id must be an integer/);
    expect(loadError({ ...json, added_tokens: [{ id: 3, content: '' }] }).message).toMatch(/added_tokens\[0\]\.content must not be empty/);
    expect(loadError({ ...json, added_tokens: [{ id: 9, content: '<a>' }, { id: 9, content: '<b>' }] }).message).toMatch(/added_tokens\[1\]\.id 9 is given to both "<a>" and "<b>"/);
    expect(loadError({ ...json, model: { ...(json.model as object), type: 'Magic' } }).message).toMatch(/model\.type is "Magic"/);
    expect(loadError({ ...json, model: { ...(json.model as object), unk_token: 'nope' } }).message).toMatch(/model\.unk_token "nope" is not in the vocabulary/);
    expect(loadError('{"model": ').message).toMatch(/^tokenizer\.json: tokenizer\.json is not valid JSON/);
    expect(loadError(json, 'not json').message).toMatch(/tokenizer_config\.json is not valid JSON/);
    expect(loadError(json, [1]).message).toMatch(/tokenizer_config\.json must be an object/);
    expect(loadError(null).message).toMatch(/^tokenizer\.json: the file is missing/);
    expect(loadError([]).message).toMatch(/must be an object, got/);
  });

  it('rejects a tokenizer that encodes ordinary text to ids outside its vocabulary', () => {
    // a BPE without unk_token whose post-processor adds a token the vocabulary lacks
    const pp = { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }] };
    const bpe = { model: { type: 'BPE', vocab: { a: 0, b: 1 }, merges: [] }, post_processor: pp };
    expect(loadError(bpe).message).toMatch(/encoding "Hello world" gives token "<bos>" the id undefined, which is not in the vocabulary/);
    const { json: wp } = makeWordPieceJson();
    const model = { ...(wp.model as object), unk_token: '[UNK]' };
    // WordPiece maps the unknown special token to [UNK], which is in the vocabulary: accepted
    expect(loadTokenizer({ ...wp, model, post_processor: pp }).encode('hello').ids).toEqual([1, 4]);
  });
});

describe('a model folder without tokenizer.json', () => {
  it('names the missing file and what to do, not "must be an object, got null"', () => {
    expect(loadError(null).message).toMatch(/^tokenizer\.json: the file is missing: .*Add tokenizer\.json \(and tokenizer_config\.json\) from the model's Hub page/);
    expect(loadError(undefined).message).not.toMatch(/must be an object/);
  });

  it('through the loading path the engine uses: the folder is named', async () => {
    const dir = fileURLToPath(new URL('./fixtures/tiny-qwen2/', import.meta.url));
    const files: Record<string, Uint8Array> = {};
    for (const n of readdirSync(dir)) if (n !== 'tokenizer.json') files[n] = readFileSync(join(dir, n));
    const assets = await readModelAssets(folderFromBuffers('model', files));
    expect(assets.tokenizerJson).toBeNull();
    expect(() => loadTokenizer(assets.tokenizerJson, assets.tokenizerConfig, assets.name)).toThrow(
      /^The model folder "model" has no tokenizer\.json: .*Add tokenizer\.json .*AutoTokenizer\.from_pretrained\(dir\)\.save_pretrained\(dir\)/,
    );
  });
});
