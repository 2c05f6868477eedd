// A tiny random-weight model folder around a real tokenizer, for tests that drive the finetune CLI
// with a real chat template: config.json (LlamaForCausalLM, vocabulary = the tokenizer's), an fp16
// model.safetensors, and the tokenizer's own tokenizer.json and tokenizer_config.json. Written into
// a folder the caller owns (a temporary one), never into the repository: with Gemma 3's 262k
// vocabulary the folder holds ~45 MB, mostly its tokenizer.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectedTensors } from '../../io/hfConfig.ts';
import { parseHfConfig } from '../../arch/config.ts';
import { writeSafetensors } from '../../io/safetensorsWriter.js';
import { initStd, randomHalves, randomModelConfigJson } from '../../model/randomModel.ts';
import type { RealTokenizer } from './realTokenizers.ts';

export interface TinyModelShape {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
}

export const TINY_SHAPE: TinyModelShape = { hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1 };

/** One past the highest id of the tokenizer, added tokens included: the embedding rows it needs. */
export function tokenizerVocabSize(t: RealTokenizer): number {
  let max = -1;
  for (const id of t.tokenizer.get_vocab(true).values()) max = Math.max(max, id);
  return max + 1;
}

/** Writes the folder; returns the model's vocabulary size. */
export function writeTinyModelFolder(dir: string, t: RealTokenizer, shape: TinyModelShape = TINY_SHAPE, seed = 0): { vocabSize: number } {
  mkdirSync(dir, { recursive: true });
  const vocabSize = tokenizerVocabSize(t);
  const config = randomModelConfigJson({ ...shape, vocabSize, tieWordEmbeddings: true, maxPositions: 4096 });
  const id = (v: unknown) => (typeof v === 'string' ? t.tokenizer.token_to_id(v) : undefined);
  config.bos_token_id = id(t.tokenizerConfig.bos_token) ?? null;
  config.eos_token_id = id(t.tokenizerConfig.eos_token) ?? null;
  const parsed = parseHfConfig(config, `${dir}/config.json`);
  const tensors = expectedTensors(parsed).map((e) => {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const data = e.shape.length === 2 ? randomHalves(n, initStd(e.name, e.shape), seed, e.name) : new Uint16Array(n).fill(0x3c00);
    return { name: e.name, dtype: 'F16' as const, shape: [...e.shape], data };
  });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
  writeFileSync(join(dir, 'tokenizer.json'), t.files['tokenizer.json']);
  writeFileSync(join(dir, 'tokenizer_config.json'), t.files['tokenizer_config.json']);
  return { vocabSize };
}
