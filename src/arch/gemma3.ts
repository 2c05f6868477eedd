// Gemma 3 text (Gemma3ForCausalLM, model_type gemma3_text: Gemma 3 270M and 1B, and the text
// models people fine-tune from them). What differs from Llama (transformers' modeling_gemma3):
// embeddings times sqrt(hidden) (the normalizer in the checkpoint's dtype), every RMSNorm as
// x·rstd·(1 + w), q_norm/k_norm over the head dim, four norms per layer (input, post-attention,
// pre- and post-feedforward), a GeGLU MLP with the tanh GELU, scores scaled by
// query_pre_attn_scalar^-0.5, sliding-window layers (sliding_window, RoPE base
// rope_local_base_freq) and global layers (rope_theta with rope_scaling) as layer_types or
// sliding_window_pattern say, a 262k vocabulary and a tied LM head. The blocks: src/model/gemma3.ts.
// Gemma3ForConditionalGeneration (4B and up, with the vision tower) is refused by name.
// llama.cpp converts it as "gemma3" (no q/k permutation).
import { describeJson } from '../io/describeJson';
import { Gemma3Blocks } from '../model/gemma3';
import { DECODER_ALL_LINEAR, DECODER_ATTENTION } from './decoder';
import { bool, CHECK, dtypeOf, fail, posInt, posNumber, tokenId, tokenIds } from './parse';
import { ropeSettings } from './rope';
import type { ArchDescriptor, ExpectedTensor, Json, ModelConfig, ParsedConfig } from './types';

/** x rounded to the checkpoint's dtype, as HF's embed_scale.to(self.weight.dtype) does. */
export function roundToDtype(x: number, dtype: string | null): number {
  const f = Math.fround(x);
  if (dtype === 'bfloat16') {
    // round to nearest even on the 16 low bits of the f32
    const u = new Uint32Array(Float32Array.of(f).buffer)[0];
    const rounded = (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
    return new Float32Array(Uint32Array.of(rounded >>> 0).buffer)[0];
  }
  if (dtype === 'float16') {
    // fp16 keeps 10 of the f32's 23 mantissa bits (sqrt(hidden) is a normal fp16 number)
    const u = new Uint32Array(Float32Array.of(f).buffer)[0];
    const rounded = (u + 0xfff + ((u >>> 13) & 1)) & 0xffffe000;
    return new Float32Array(Uint32Array.of(rounded >>> 0).buffer)[0];
  }
  return f;
}

/** layer_types, or the pattern HF derives from sliding_window_pattern: layer i slides iff (i + 1) % pattern != 0. */
function slidingLayers(c: Json, file: string, layers: number): boolean[] {
  const types = c.layer_types;
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== layers) {
      fail(file, `"layer_types" must list one of "sliding_attention" / "full_attention" for each of the ${layers} layers, got ${describeJson(types)}`, CHECK);
    }
    return types.map((t, i) => {
      if (t !== 'sliding_attention' && t !== 'full_attention') fail(file, `"layer_types"[${i}] is ${describeJson(t)}; Gemma 3 layers are "sliding_attention" or "full_attention"`, CHECK);
      return t === 'sliding_attention';
    });
  }
  const pattern = posInt(c, file, 'sliding_window_pattern', 6);
  return Array.from({ length: layers }, (_, i) => (i + 1) % pattern !== 0);
}

function parse(c: Json, file: string): { config: ParsedConfig; explicitHeadDim: boolean } {
  for (const key of ['attn_logit_softcapping', 'final_logit_softcapping'] as const) {
    if (c[key] !== undefined && c[key] !== null) {
      fail(file, `"${key}" is ${describeJson(c[key])}; Whetstone implements Gemma 3 without logit soft-capping (Gemma 3 checkpoints set it to null; Gemma 2 uses it)`, 'Use a Gemma 3 checkpoint (Gemma 2 is not supported).');
    }
  }
  if (bool(c, file, 'use_bidirectional_attention', false)) {
    fail(file, '"use_bidirectional_attention" is true (an embedding model such as EmbeddingGemma); Whetstone fine-tunes causal language models', 'Use a Gemma 3 causal LM checkpoint.');
  }
  const act = c.hidden_activation ?? c.hidden_act ?? 'gelu_pytorch_tanh';
  if (act !== 'gelu_pytorch_tanh') {
    fail(file, `"hidden_activation" is ${describeJson(act)}; Whetstone implements Gemma 3's GeGLU with "gelu_pytorch_tanh" only`, CHECK);
  }
  const hiddenSize = posInt(c, file, 'hidden_size');
  const numHeads = posInt(c, file, 'num_attention_heads');
  const numLayers = posInt(c, file, 'num_hidden_layers');
  const maxPositions = posInt(c, file, 'max_position_embeddings', 131072);
  const rope = ropeSettings(c, file, maxPositions);
  const rmsNormEps = posNumber(c, file, 'rms_norm_eps', 1e-6);
  const window = posInt(c, file, 'sliding_window', 4096);
  const sliding = slidingLayers(c, file, numLayers);
  const eosTokenIds = tokenIds(c, file, 'eos_token_id', 1);
  const torchDtype = dtypeOf(c);
  const config: ParsedConfig = {
    hiddenSize,
    intermediateSize: posInt(c, file, 'intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads: posInt(c, file, 'num_key_value_heads', numHeads),
    headDim: posInt(c, file, 'head_dim', 256),
    vocabSize: posInt(c, file, 'vocab_size', 262208),
    maxPositions,
    norm: 'rmsnorm',
    normEps: rmsNormEps,
    rmsNormEps,
    positions: 'rope',
    ropeTheta: rope.theta,
    ropeScaling: rope.raw,
    rope: rope.scaling,
    qkNorm: true,
    tieWordEmbeddings: bool(c, file, 'tie_word_embeddings', true),
    hiddenAct: 'gelu_pytorch_tanh',
    bosTokenId: tokenId(c, file, 'bos_token_id', 2),
    eosTokenId: eosTokenIds[0] ?? null,
    eosTokenIds,
    padTokenId: tokenId(c, file, 'pad_token_id', 0),
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    slidingWindow: null,
    torchDtype,
    layerWindows: sliding.map((s) => (s ? window : null)),
    attentionScale: posNumber(c, file, 'query_pre_attn_scalar', 256) ** -0.5,
    localRopeTheta: posNumber(c, file, 'rope_local_base_freq', 10000),
    embeddingScale: roundToDtype(Math.sqrt(hiddenSize), torchDtype),
  };
  if (bool(c, file, 'attention_bias', false)) fail(file, '"attention_bias" is true; Gemma 3 has no attention biases', CHECK);
  return { config, explicitHeadDim: true };
}

function tensors(c: ModelConfig): ExpectedTensor[] {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const out: ExpectedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, H] }];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    const add = (name: string, shape: number[]) => out.push({ name: `${p}.${name}`, shape });
    add('input_layernorm.weight', [H]);
    add('self_attn.q_proj.weight', [q, H]);
    add('self_attn.k_proj.weight', [kv, H]);
    add('self_attn.v_proj.weight', [kv, H]);
    add('self_attn.o_proj.weight', [H, q]);
    add('self_attn.q_norm.weight', [c.headDim]);
    add('self_attn.k_norm.weight', [c.headDim]);
    add('post_attention_layernorm.weight', [H]);
    add('pre_feedforward_layernorm.weight', [H]);
    add('mlp.gate_proj.weight', [I, H]);
    add('mlp.up_proj.weight', [I, H]);
    add('mlp.down_proj.weight', [H, I]);
    add('post_feedforward_layernorm.weight', [H]);
  }
  out.push({ name: 'model.norm.weight', shape: [H] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H] });
  return out;
}

// llama.cpp's gemma3 names (gguf-py tensor_mapping: post_attention_layernorm -> post_attention_norm,
// pre_feedforward_layernorm -> ffn_norm, post_feedforward_layernorm -> post_ffw_norm)
const GGUF_LAYER: Record<string, string> = {
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  'self_attn.q_norm': 'attn_q_norm',
  'self_attn.k_norm': 'attn_k_norm',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
  input_layernorm: 'attn_norm',
  post_attention_layernorm: 'post_attention_norm',
  pre_feedforward_layernorm: 'ffn_norm',
  post_feedforward_layernorm: 'post_ffw_norm',
};
const GGUF_GLOBAL: Record<string, string> = { 'model.embed_tokens': 'token_embd', 'model.norm': 'output_norm', lm_head: 'output' };

function ggufName(path: string): string | null {
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(path);
  if (m) return Object.hasOwn(GGUF_LAYER, m[2]) ? `blk.${m[1]}.${GGUF_LAYER[m[2]]}` : null;
  return Object.hasOwn(GGUF_GLOBAL, path) ? GGUF_GLOBAL[path] : null;
}

export const GEMMA3: ArchDescriptor = {
  id: 'gemma3',
  hfArchitectures: ['Gemma3ForCausalLM'],
  modelTypes: ['gemma3_text'],
  configKeys: { layers: 'num_hidden_layers', hidden: 'hidden_size', intermediate: 'intermediate_size', heads: 'num_attention_heads', kvHeads: 'num_key_value_heads', positions: 'max_position_embeddings' },
  parseConfig: parse,
  expectedTensors: tensors,
  ignorableTensor: (c, name) => name.endsWith('.rotary_emb.inv_freq') || (c.tieWordEmbeddings && name === 'lm_head.weight'),
  embeddingTensors: () => ['model.embed_tokens.weight'],
  loraTargets: { allLinear: DECODER_ALL_LINEAR, attention: DECODER_ATTENTION },
  peft: { fanInFanOut: false },
  gguf: {
    architecture: 'gemma3',
    tensorName: ggufName,
    knownNames:
      'model.{embed_tokens,norm}, model.layers.N.{self_attn.{q,k,v,o}_proj,self_attn.{q,k}_norm,mlp.{gate,up,down}_proj,input_layernorm,post_attention_layernorm,pre_feedforward_layernorm,post_feedforward_layernorm}, lm_head',
    permutedHeads: () => null,
  },
  memory: {
    // what Gemma3Blocks.acts keeps per layer
    layerActivations: (c) => {
      const C = c.hiddenSize;
      const Q = c.numHeads * c.headDim;
      const KV = c.numKvHeads * c.headDim;
      const F = c.intermediateSize;
      return [
        { name: 'h1, ao, x2, h2, dn', perToken: 5 * C },
        { name: 'q, qn, qr, o', perToken: 4 * Q },
        { name: 'k, v, kn, kr', perToken: 4 * KV },
        { name: 'g, up, m', perToken: 3 * F },
        { name: 'rstd1..4', perToken: 4 },
        { name: 'qrstd, lse', perToken: 2 * c.numHeads },
        { name: 'krstd', perToken: c.numKvHeads },
      ];
    },
    scratch: (c) => {
      const C = c.hiddenSize;
      const Q = c.numHeads * c.headDim;
      const KV = c.numKvHeads * c.headDim;
      const F = c.intermediateSize;
      return [
        { name: 'residual in/out', perToken: 2 * C }, { name: 'grad.x', perToken: C }, { name: 'layer 0 scaled input', perToken: C },
        { name: 'grad.c, grad.h', perToken: 2 * C }, { name: 'grad.m, grad.g, grad.up', perToken: 3 * F },
        { name: 'grad.o, grad.qr, grad.qn, grad.q', perToken: 4 * Q }, { name: 'grad.kr, grad.kn, grad.k, grad.v', perToken: 4 * KV },
        { name: 'attention (lse, delta)', perToken: 2 * c.numHeads }, { name: 'final.h', perToken: C }, { name: 'final.rstd', perToken: 1 },
        { name: 'token/position/doc/label ids', perToken: 4 },
      ];
    },
  },
  createBlocks: (ctx, c, w) => new Gemma3Blocks(ctx, c, w),
};
