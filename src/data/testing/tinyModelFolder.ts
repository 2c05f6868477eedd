// A tiny random-weight model folder around a real tokenizer, for tests that drive the finetune CLI
// with a real chat template: config.json (LlamaForCausalLM, vocabulary = the tokenizer's), an fp16
// model.safetensors, and the tokenizer's own tokenizer.json and tokenizer_config.json. Written into
// a folder the caller owns (a temporary one), never into the repository: with Gemma 3's 262k
// vocabulary the folder holds ~45 MB, mostly its tokenizer.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../../io/safetensorsWriter.js';
import { f32ToF16Bits } from '../../util/f16';
import { mulberry32 } from '../../util/prng';
import type { RealTokenizer } from './realTokenizers';

// Written out here rather than taken from src/model or src/arch, so that Playwright specs can
// import this module without the GPU code (WGSL imports) those pull in; the loader checks the
// names and shapes when the folder is loaded.

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

/** The tensors of a LlamaForCausalLM with tied embeddings: [name, shape]. */
function llamaTensors(shape: TinyModelShape, vocabSize: number): [string, number[]][] {
  const { hiddenSize: h, intermediateSize: f, numHeads, numKvHeads } = shape;
  const headDim = h / numHeads;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [vocabSize, h]], ['model.norm.weight', [h]]];
  for (let l = 0; l < shape.numLayers; l++) {
    const p = `model.layers.${l}.`;
    out.push(
      [`${p}input_layernorm.weight`, [h]], [`${p}post_attention_layernorm.weight`, [h]],
      [`${p}self_attn.q_proj.weight`, [numHeads * headDim, h]], [`${p}self_attn.k_proj.weight`, [numKvHeads * headDim, h]],
      [`${p}self_attn.v_proj.weight`, [numKvHeads * headDim, h]], [`${p}self_attn.o_proj.weight`, [h, numHeads * headDim]],
      [`${p}mlp.gate_proj.weight`, [f, h]], [`${p}mlp.up_proj.weight`, [f, h]], [`${p}mlp.down_proj.weight`, [h, f]],
    );
  }
  return out;
}

/** Writes the folder; returns the model's vocabulary size. */
export function writeTinyModelFolder(dir: string, t: RealTokenizer, shape: TinyModelShape = TINY_SHAPE, seed = 0): { vocabSize: number } {
  mkdirSync(dir, { recursive: true });
  const vocabSize = tokenizerVocabSize(t);
  const id = (v: unknown) => (typeof v === 'string' ? (t.tokenizer.token_to_id(v) ?? null) : null);
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama',
    hidden_size: shape.hiddenSize, intermediate_size: shape.intermediateSize, num_hidden_layers: shape.numLayers,
    num_attention_heads: shape.numHeads, num_key_value_heads: shape.numKvHeads, head_dim: shape.hiddenSize / shape.numHeads,
    vocab_size: vocabSize, max_position_embeddings: 4096, rms_norm_eps: 1e-5, rope_theta: 10000, hidden_act: 'silu',
    tie_word_embeddings: true, attention_bias: false, mlp_bias: false, torch_dtype: 'float16',
    bos_token_id: id(t.tokenizerConfig.bos_token), eos_token_id: id(t.tokenizerConfig.eos_token),
  };
  const next = mulberry32(seed >>> 0);
  const tensors = llamaTensors(shape, vocabSize).map(([name, dims]) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Uint16Array(n);
    if (dims.length === 1) data.fill(0x3c00); // norm weights 1
    else {
      // uniform with std 0.02 for the embedding, 1/sqrt(fan-in) for projections
      const half = (name.includes('embed_tokens') ? 0.02 : 1 / Math.sqrt(dims[1])) * Math.sqrt(3);
      for (let i = 0; i < n; i++) data[i] = f32ToF16Bits(((next() / 4294967296) * 2 - 1) * half);
    }
    return { name, dtype: 'F16' as const, shape: dims, data };
  });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
  writeFileSync(join(dir, 'tokenizer.json'), t.files['tokenizer.json']);
  writeFileSync(join(dir, 'tokenizer_config.json'), t.files['tokenizer_config.json']);
  return { vocabSize };
}
