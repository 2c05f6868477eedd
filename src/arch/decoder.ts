// What the Llama-shaped decoders share (Llama, Qwen2, Mistral, Qwen3): RMSNorm, rotary q/k, a
// SwiGLU MLP, model.layers.N.{self_attn,mlp}.* names. Each architecture module calls
// decoderDescriptor with what differs (defaults, biases, q/k norms, GGUF permutation).
import { LlamaBlocks } from '../model/llama';
import { bool, dtypeOf, hiddenAct, posInt, posNumber, tokenId, tokenIds } from './parse';
import { ropeSettings } from './rope';
import type { ArchDescriptor, ExpectedTensor, Json, ModelConfig, ParsedConfig } from './types';

export interface DecoderDefaults {
  maxPos: number;
  tie: boolean;
  bos: number | null;
  eos: number | null;
}

/** The fields every decoder parses the same way; `extra` adds or overrides the architecture's own. */
export function parseDecoderConfig(c: Json, file: string, d: DecoderDefaults, extra: (c: Json) => Partial<ParsedConfig>): { config: ParsedConfig; explicitHeadDim: boolean } {
  const hiddenSize = posInt(c, file, 'hidden_size');
  const numHeads = posInt(c, file, 'num_attention_heads');
  const numKvHeads = posInt(c, file, 'num_key_value_heads', numHeads);
  const explicitHeadDim = c.head_dim !== undefined && c.head_dim !== null;
  const headDim = explicitHeadDim ? posInt(c, file, 'head_dim') : hiddenSize / numHeads;
  const maxPositions = posInt(c, file, 'max_position_embeddings', d.maxPos);
  const rope = ropeSettings(c, file, maxPositions);
  const rmsNormEps = posNumber(c, file, 'rms_norm_eps', 1e-6);
  const eosTokenIds = tokenIds(c, file, 'eos_token_id', d.eos);
  const own = extra(c);
  const config: ParsedConfig = {
    hiddenSize,
    intermediateSize: posInt(c, file, 'intermediate_size'),
    numLayers: posInt(c, file, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: posInt(c, file, 'vocab_size'),
    maxPositions,
    norm: 'rmsnorm',
    normEps: rmsNormEps,
    rmsNormEps,
    positions: 'rope',
    ropeTheta: rope.theta,
    ropeScaling: rope.raw,
    rope: rope.scaling,
    qkNorm: false,
    tieWordEmbeddings: bool(c, file, 'tie_word_embeddings', d.tie),
    hiddenAct: hiddenAct(c, file, 'hidden_act', 'silu'),
    bosTokenId: tokenId(c, file, 'bos_token_id', d.bos),
    eosTokenId: eosTokenIds[0] ?? null,
    eosTokenIds,
    padTokenId: tokenId(c, file, 'pad_token_id', null),
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    slidingWindow: null,
    torchDtype: dtypeOf(c),
    ...own,
  };
  return { config, explicitHeadDim: explicitHeadDim || own.headDim !== undefined };
}

export function decoderTensors(c: ModelConfig): ExpectedTensor[] {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const out: ExpectedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, H] }];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [H] });
    for (const [m, rows] of [['q', q], ['k', kv], ['v', kv]] as const) {
      out.push({ name: `${p}.self_attn.${m}_proj.weight`, shape: [rows, H] });
      if (c.qkvBias) out.push({ name: `${p}.self_attn.${m}_proj.bias`, shape: [rows] });
    }
    out.push({ name: `${p}.self_attn.o_proj.weight`, shape: [H, q] });
    if (c.oBias) out.push({ name: `${p}.self_attn.o_proj.bias`, shape: [H] });
    if (c.qkNorm) {
      out.push({ name: `${p}.self_attn.q_norm.weight`, shape: [c.headDim] });
      out.push({ name: `${p}.self_attn.k_norm.weight`, shape: [c.headDim] });
    }
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [H] });
    for (const [m, shape] of [['gate', [I, H]], ['up', [I, H]], ['down', [H, I]]] as const) {
      out.push({ name: `${p}.mlp.${m}_proj.weight`, shape: [...shape] });
      if (c.mlpBias) out.push({ name: `${p}.mlp.${m}_proj.bias`, shape: [shape[0]] });
    }
  }
  out.push({ name: 'model.norm.weight', shape: [H] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H] });
  return out;
}

// llama.cpp tensor names (llama-arch.cpp LLM_TENSOR_NAMES; convert_hf_to_gguf.py's map)
const LAYER: Record<string, string> = {
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
  post_attention_layernorm: 'ffn_norm',
};
const GLOBAL: Record<string, string> = { 'model.embed_tokens': 'token_embd', 'model.norm': 'output_norm', lm_head: 'output' };

export function decoderGgufName(path: string): string | null {
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(path);
  if (m) return Object.hasOwn(LAYER, m[2]) ? `blk.${m[1]}.${LAYER[m[2]]}` : null;
  return Object.hasOwn(GLOBAL, path) ? GLOBAL[path] : null;
}

export const DECODER_ALL_LINEAR = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export const DECODER_ATTENTION = ['q_proj', 'k_proj', 'v_proj', 'o_proj'] as const;

export interface DecoderOptions {
  id: string;
  hfArchitectures: readonly string[];
  modelTypes: readonly string[];
  defaults: DecoderDefaults;
  /** fields of this architecture beyond the shared ones (biases, sliding window, q/k norms) */
  extra: (c: Json, file: string) => Partial<ParsedConfig>;
  /** llama.cpp general.architecture */
  ggufArchitecture: string;
  /** llama.cpp's converter permutes q/k rows into interleaved RoPE order (its "llama" models) */
  ggufPermutesQK: boolean;
}

export function decoderDescriptor(o: DecoderOptions): ArchDescriptor {
  return {
    id: o.id,
    hfArchitectures: o.hfArchitectures,
    modelTypes: o.modelTypes,
    configKeys: { layers: 'num_hidden_layers', hidden: 'hidden_size', intermediate: 'intermediate_size', heads: 'num_attention_heads', kvHeads: 'num_key_value_heads', positions: 'max_position_embeddings' },
    parseConfig: (c, file) => parseDecoderConfig(c, file, o.defaults, (cc) => o.extra(cc, file)),
    expectedTensors: decoderTensors,
    ignorableTensor: (c, name) => name.endsWith('.rotary_emb.inv_freq') || (c.tieWordEmbeddings && name === 'lm_head.weight'),
    embeddingTensors: () => ['model.embed_tokens.weight'],
    loraTargets: { allLinear: DECODER_ALL_LINEAR, attention: DECODER_ATTENTION },
    peft: { fanInFanOut: false },
    gguf: {
      architecture: o.ggufArchitecture,
      tensorName: decoderGgufName,
      knownNames: 'model.{embed_tokens,norm}, model.layers.N.{self_attn.{q,k,v,o}_proj,self_attn.{q,k}_norm,mlp.{gate,up,down}_proj,input_layernorm,post_attention_layernorm}, lm_head',
      permutedHeads: (c, module) => {
        if (!o.ggufPermutesQK) return null;
        if (/\.self_attn\.q_proj$/.test(module)) return c.numHeads;
        if (/\.self_attn\.k_proj$/.test(module)) return c.numKvHeads;
        return null;
      },
    },
    memory: { layerActivations: decoderActivations, scratch: decoderScratch },
    createBlocks: (ctx, c, w) => new LlamaBlocks(ctx, c, w),
  };
}

/** What LlamaBlocks.acts keeps per layer (per token). */
export function decoderActivations(c: ModelConfig): { name: string; perToken: number }[] {
  const C = c.hiddenSize;
  const Q = c.numHeads * c.headDim;
  const KV = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  const acts = [
    { name: 'h1', perToken: C }, { name: 'x2', perToken: C }, { name: 'h2', perToken: C },
    { name: 'q', perToken: Q }, { name: 'qr', perToken: Q }, { name: 'o', perToken: Q },
    { name: 'k', perToken: KV }, { name: 'v', perToken: KV }, { name: 'kr', perToken: KV },
    { name: 'g', perToken: F }, { name: 'up', perToken: F }, { name: 'm', perToken: F },
    { name: 'rstd1', perToken: 1 }, { name: 'rstd2', perToken: 1 }, { name: 'lse', perToken: c.numHeads },
  ];
  if (c.qkNorm) {
    // normalized q, k and their per-head rstd
    acts.push({ name: 'qn', perToken: Q }, { name: 'kn', perToken: KV }, { name: 'qrstd', perToken: c.numHeads }, { name: 'krstd', perToken: c.numKvHeads });
  }
  return acts;
}

/** Shared scratch of a LlamaBlocks training step (per token), LoRA du excluded (CausalLM's own: train/memory.ts). */
export function decoderScratch(c: ModelConfig): { name: string; perToken: number }[] {
  const C = c.hiddenSize;
  const Q = c.numHeads * c.headDim;
  const KV = c.numKvHeads * c.headDim;
  const F = c.intermediateSize;
  const s = [
    { name: 'grad.final', perToken: C }, { name: 'grad.x', perToken: C },
    { name: 'grad.m, grad.g, grad.up', perToken: 3 * F }, { name: 'grad.h', perToken: C },
    { name: 'grad.o, grad.qr, grad.q', perToken: 3 * Q }, { name: 'grad.kr, grad.k, grad.v', perToken: 3 * KV },
    { name: 'attention (lse, delta)', perToken: 2 * c.numHeads }, { name: 'final.h', perToken: C }, { name: 'final.rstd', perToken: 1 },
    { name: 'token/position/doc/label ids', perToken: 4 },
  ];
  if (c.qkNorm) s.push({ name: 'grad.qn, grad.kn', perToken: Q + KV });
  return s;
}
