// Phi-3 / Phi-3.5 / Phi-4-mini (Phi3ForCausalLM, model_type phi3): the Llama decoder with fused
// projections, self_attn.qkv_proj ([q | k | v] rows) and mlp.gate_up_proj ([gate | up] rows),
// which LoRA targets as HF and PEFT name them; partial rotary (partial_rotary_factor: RoPE on the
// first int(head_dim * factor) dims of each head); config.sliding_window on every layer
// (Phi-3-mini-4k ships 2047). rope_scaling "longrope" (Phi-3-mini-128k, Phi-3.5-mini,
// Phi-4-mini; "su" is its old name) as HF computes it (modeling_rope_utils
// _compute_longrope_parameters + the per-forward long/short switch): inv_freq =
// 1/(ext_i · theta^(2i/R)), ext = short_factor while max(position) + 1 <=
// original_max_position_embeddings, else long_factor; cos and sin times attention_factor
// (default sqrt(1 + ln(max/original) / ln(original))). Other rope_types as the decoders do.
// llama.cpp "phi3": attn_qkv, ffn_up holding gate and up, no q/k permutation. The blocks:
// src/model/phi3.ts.
import { describeJson } from '../io/describeJson';
import { Phi3Blocks } from '../model/phi3';
import { parseDecoderConfig } from './decoder';
import { CHECK, fail, posInt } from './parse';
import type { ArchDescriptor, ExpectedTensor, Json, ModelConfig, ParsedConfig } from './types';

/** Rotated dims per head: int(head_dim * partial_rotary_factor), as HF's rope init computes `dim`. */
function rotaryDim(c: Json, file: string, headDim: number): number | undefined {
  const f = c.partial_rotary_factor ?? 1.0;
  if (typeof f !== 'number' || !(f > 0 && f <= 1)) fail(file, `"partial_rotary_factor" must be a number in (0, 1], got ${describeJson(f)}`, CHECK);
  const R = Math.floor(headDim * f);
  if (R < 2 || R % 2 !== 0) fail(file, `"partial_rotary_factor" ${f} gives ${R} rotary dims of the ${headDim}-dim heads; RoPE needs an even number of at least 2`, CHECK);
  return R === headDim ? undefined : R;
}

function factors(raw: Json, file: string, key: string, n: number): number[] {
  const v = raw[key];
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
    fail(file, `rope_scaling "${key}" must be a list of ${n} positive numbers (rotary dims / 2) for longrope, got ${describeJson(v)}`, CHECK);
  }
  return v as number[];
}

/** rope_scaling of type longrope (or its old name su): the LongRoPE parameters HF derives. */
function longRope(c: Json, file: string, headDim: number, maxPositions: number): ModelConfig['longRope'] {
  const raw = c.rope_scaling as Json;
  const R = rotaryDim(c, file, headDim) ?? headDim;
  const original = posInt({ o: c.original_max_position_embeddings ?? raw.original_max_position_embeddings ?? maxPositions }, file, 'o');
  const factor = maxPositions / original;
  const given = raw.attention_factor;
  if (given !== undefined && given !== null && !(typeof given === 'number' && given > 0)) {
    fail(file, `rope_scaling "attention_factor" must be a positive number, got ${describeJson(given)}`, CHECK);
  }
  const attentionFactor = typeof given === 'number' ? given : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  return { shortFactor: factors(raw, file, 'short_factor', R / 2), longFactor: factors(raw, file, 'long_factor', R / 2), originalMaxPositions: original, attentionFactor };
}

function isLongRope(c: Json): boolean {
  const raw = c.rope_scaling;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return false;
  const type = (raw as Json).rope_type ?? (raw as Json).type;
  return type === 'longrope' || type === 'su';
}

function parse(c: Json, file: string): { config: ParsedConfig; explicitHeadDim: boolean } {
  const long = isLongRope(c);
  // longrope is this module's own; the shared RoPE settings see plain RoPE
  const parsed = parseDecoderConfig(long ? { ...c, rope_scaling: null } : c, file, { maxPos: 4096, tie: false, bos: 1, eos: 32000 }, () => ({}));
  const config = parsed.config;
  if (long) {
    config.longRope = longRope(c, file, config.headDim, config.maxPositions);
    config.ropeScaling = { ...(c.rope_scaling as Json) };
  }
  if (config.hiddenAct !== 'silu') {
    fail(file, `"hidden_act" is ${describeJson(config.hiddenAct)}; Whetstone implements Phi-3's MLP with "silu" (SwiGLU) only`, CHECK);
  }
  config.slidingWindow = c.sliding_window === undefined || c.sliding_window === null ? null : posInt(c, file, 'sliding_window');
  config.rotaryDim = rotaryDim(c, file, config.headDim);
  return parsed;
}

function tensors(c: ModelConfig): ExpectedTensor[] {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const out: ExpectedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, H] }];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [H] },
      { name: `${p}.self_attn.qkv_proj.weight`, shape: [q + 2 * kv, H] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [H, q] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [H] },
      { name: `${p}.mlp.gate_up_proj.weight`, shape: [2 * I, H] },
      { name: `${p}.mlp.down_proj.weight`, shape: [H, I] },
    );
  }
  out.push({ name: 'model.norm.weight', shape: [H] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H] });
  return out;
}

// llama.cpp's phi3 names (gguf-py tensor_mapping: qkv_proj -> attn_qkv, gate_up_proj -> ffn_up)
const GGUF_LAYER: Record<string, string> = {
  'self_attn.qkv_proj': 'attn_qkv',
  'self_attn.o_proj': 'attn_output',
  'mlp.gate_up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
  input_layernorm: 'attn_norm',
  post_attention_layernorm: 'ffn_norm',
};
const GGUF_GLOBAL: Record<string, string> = { 'model.embed_tokens': 'token_embd', 'model.norm': 'output_norm', lm_head: 'output' };

function ggufName(path: string): string | null {
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(path);
  if (m) return Object.hasOwn(GGUF_LAYER, m[2]) ? `blk.${m[1]}.${GGUF_LAYER[m[2]]}` : null;
  return Object.hasOwn(GGUF_GLOBAL, path) ? GGUF_GLOBAL[path] : null;
}

export const PHI3: ArchDescriptor = {
  id: 'phi3',
  hfArchitectures: ['Phi3ForCausalLM'],
  modelTypes: ['phi3'],
  configKeys: { layers: 'num_hidden_layers', hidden: 'hidden_size', intermediate: 'intermediate_size', heads: 'num_attention_heads', kvHeads: 'num_key_value_heads', positions: 'max_position_embeddings' },
  parseConfig: parse,
  expectedTensors: tensors,
  ignorableTensor: (c, name) => name.endsWith('.rotary_emb.inv_freq') || (c.tieWordEmbeddings && name === 'lm_head.weight'),
  embeddingTensors: () => ['model.embed_tokens.weight'],
  loraTargets: { allLinear: ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'], attention: ['qkv_proj', 'o_proj'] },
  peft: { fanInFanOut: false },
  gguf: {
    architecture: 'phi3',
    tensorName: ggufName,
    knownNames: 'model.{embed_tokens,norm}, model.layers.N.{self_attn.{qkv,o}_proj,mlp.{gate_up,down}_proj,input_layernorm,post_attention_layernorm}, lm_head',
    permutedHeads: () => null,
  },
  memory: {
    // what Phi3Blocks.acts keeps per layer
    layerActivations: (c) => {
      const C = c.hiddenSize;
      const Q = c.numHeads * c.headDim;
      const KV = c.numKvHeads * c.headDim;
      const F = c.intermediateSize;
      return [
        { name: 'h1, x2, h2', perToken: 3 * C }, { name: 'q, qr, o', perToken: 3 * Q }, { name: 'k, v, kr', perToken: 3 * KV },
        { name: 'gu', perToken: 2 * F }, { name: 'm', perToken: F }, { name: 'rstd1, rstd2', perToken: 2 }, { name: 'lse', perToken: c.numHeads },
      ];
    },
    scratch: (c) => {
      const C = c.hiddenSize;
      const Q = c.numHeads * c.headDim;
      const KV = c.numKvHeads * c.headDim;
      const F = c.intermediateSize;
      return [
        { name: 'residual in/out', perToken: 2 * C }, { name: 'grad.x', perToken: C }, { name: 'scratch.qkv, grad.qkv', perToken: 2 * (Q + 2 * KV) },
        { name: 'grad.m, grad.gu', perToken: 3 * F }, { name: 'grad.h', perToken: C },
        { name: 'grad.o, grad.qr, grad.q', perToken: 3 * Q }, { name: 'grad.kr, grad.k, grad.v', perToken: 3 * KV },
        { name: 'attention (lse, delta)', perToken: 2 * c.numHeads }, { name: 'final.h', perToken: C }, { name: 'final.rstd', perToken: 1 },
        { name: 'token/position/doc/label ids', perToken: 4 },
      ];
    },
  },
  createBlocks: (ctx, c, w) => new Phi3Blocks(ctx, c, w),
};
