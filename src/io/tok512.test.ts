import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { llama2cTokenizerConfig, llama2cTokenizerJson, parseLlama2cTokenizer, TokenizerError, type Llama2cTokenizer } from './tok512.js';

// ../shared sits beside the repository, in CI too (see shared/README.md)
const shared = join(dirname(fileURLToPath(import.meta.url)), '../../../shared');
const tokBin = readFileSync(join(shared, 'models/stories260K/tok512.bin'));
const tok = parseLlama2cTokenizer(tokBin, 512, 'tok512.bin');
const json = llama2cTokenizerJson(tok);
// through a JSON round trip, as the file on disk will be read
const hf = new Tokenizer(JSON.parse(JSON.stringify(json)), llama2cTokenizerConfig(512));

/** llama2.c's encode() from run.c: dummy prefix, code points or byte fallback, then merge the best-scoring pair until none is left. */
function llama2cEncode(t: Llama2cTokenizer, text: string): number[] {
  const lookup = new Map(t.tokens.map((x, i) => [x.piece, i]));
  const ids = [1];
  if (text.length > 0) ids.push(lookup.get(' ')!);
  for (const ch of text) {
    const id = lookup.get(ch);
    if (id !== undefined) ids.push(id);
    else for (const b of new TextEncoder().encode(ch)) ids.push(b + 3);
  }
  for (;;) {
    let best = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 1; i + 1 < ids.length; i++) {
      const id = lookup.get(t.tokens[ids[i]].piece + t.tokens[ids[i + 1]].piece);
      if (id !== undefined && t.tokens[id].score > best) [best, bestId, bestIdx] = [t.tokens[id].score, id, i];
    }
    if (bestIdx < 0) return ids;
    ids.splice(bestIdx, 2, bestId);
  }
}

describe('tok512.bin parsing', () => {
  it('reads 512 pieces with scores', () => {
    expect(tok.maxTokenLength).toBe(7);
    expect(tok.tokens).toHaveLength(512);
    expect(tok.tokens[1].piece).toBe('\n<s>\n');
    expect(tok.tokens[3].piece).toBe('<0x00>');
    expect(tok.tokens[259]).toEqual({ piece: ' t', score: -0 });
    expect(tok.tokens[260]).toEqual({ piece: 'he', score: -1 });
  });

  it('rejects truncated or foreign files and a vocab size mismatch', () => {
    expect(() => parseLlama2cTokenizer(tokBin, 32000, 'tok512.bin')).toThrow(/holds 512 tokens but the model's vocab_size is 32000/);
    expect(() => parseLlama2cTokenizer(tokBin.subarray(0, 101), undefined, 't.bin')).toThrow(TokenizerError);
    expect(() => parseLlama2cTokenizer(tokBin.subarray(0, 101), undefined, 't.bin')).toThrow(/^t.bin: token 7 is cut off at byte 100/);
    expect(() => parseLlama2cTokenizer(tokBin.subarray(0, 110), undefined, 't.bin')).toThrow(/^t.bin: token 7 has length 6/);
    // cut at a token boundary: only the expected count can tell
    expect(() => parseLlama2cTokenizer(tokBin.subarray(0, 100), 512, 't.bin')).toThrow(/holds 7 tokens but the model's vocab_size is 512/);
    expect(() => parseLlama2cTokenizer(new Uint8Array(2))).toThrow(/shorter than its 4-byte header/);
    expect(() => parseLlama2cTokenizer(new Uint8Array(new Int32Array([-3]).buffer))).toThrow(/max_token_length is -3/);
  });

  it('refuses tokenizers without the SentencePiece byte-fallback layout', () => {
    const noBytes: Llama2cTokenizer = { maxTokenLength: 7, tokens: tok.tokens.map((t, i) => (i === 3 ? { piece: ' t', score: 0 } : t)) };
    expect(() => llama2cTokenizerJson(noBytes, 'x.bin')).toThrow(/id 3 must be the byte token <0x00>, found "▁t"/);
    const dup: Llama2cTokenizer = { maxTokenLength: 7, tokens: [...tok.tokens, { piece: 'he', score: -600 }] };
    expect(() => llama2cTokenizerJson(dup)).toThrow(/"he" appears twice \(ids 260 and 512\)/);
    expect(() => llama2cTokenizerJson({ maxTokenLength: 7, tokens: tok.tokens.slice(1) })).toThrow(/ids 0, 1, 2 must be <unk>, <s>, <\/s>/);
  });
});

describe('tokenizer.json for tok512', () => {
  it('has the layout of the shared note', () => {
    const model = json.model as { type: string; byte_fallback: boolean; vocab: Record<string, number>; merges: string[] };
    expect(model.type).toBe('BPE');
    expect(model.byte_fallback).toBe(true);
    expect(Object.keys(model.vocab)).toHaveLength(512);
    expect(model.vocab['<s>']).toBe(1);
    expect(model.vocab['<0xFF>']).toBe(258);
    expect(model.vocab['▁t']).toBe(259);
    expect(model.merges).toHaveLength(165);
    expect(model.merges.slice(0, 3)).toEqual(['▁ t', 'h e', '▁ a']);
    expect(json.pre_tokenizer).toBeNull();
    expect(llama2cTokenizerConfig(512)).toMatchObject({ bos_token: '<s>', eos_token: '</s>', clean_up_tokenization_spaces: false, model_max_length: 512 });
  });

  it('encodes the ground truth', () => {
    expect(hf.encode('Once upon a time').ids).toEqual([1, 403, 407, 261, 378]);
    expect(llama2cEncode(tok, 'Once upon a time')).toEqual([1, 403, 407, 261, 378]);
  });

  it('agrees with llama2.c\'s encoder and round-trips through decode on Tiny Shakespeare lines', () => {
    const lines = readFileSync(join(shared, 'data/tinyshakespeare.txt'), 'utf8').split('\n').filter((l) => l.length > 0);
    const sample = lines.filter((_, i) => i % 40 === 0);
    expect(sample.length).toBeGreaterThan(800);
    for (const line of sample) {
      const ids = hf.encode(line).ids;
      expect(ids, line).toEqual(llama2cEncode(tok, line));
      expect(hf.decode(ids, { skip_special_tokens: true })).toBe(line);
    }
  });

  it('handles leading spaces, spacing before punctuation, non-ASCII and emoji (byte fallback)', () => {
    for (const text of ['  two leading spaces', 'Stop . Go !', 'naïve café', 'Grüße, 東京 😀!', 'tab\there', 'a  b   c ']) {
      const ids = hf.encode(text).ids;
      expect(ids, text).toEqual(llama2cEncode(tok, text));
      expect(hf.decode(ids, { skip_special_tokens: true })).toBe(text);
    }
    // the emoji is not in the vocabulary: its four UTF-8 bytes become <0xF0> <0x9F> <0x98> <0x80>
    expect(hf.encode('😀', { add_special_tokens: false }).ids.slice(-4)).toEqual([0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3]);
  });
});
