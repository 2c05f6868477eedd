// Qwen3 (Qwen3ForCausalLM): the Llama decoder with an RMSNorm over the head dim on every q and k
// head (self_attn.q_norm / k_norm, [head_dim], applied after the projections and before RoPE), an
// explicit head_dim (default 128, may differ from hidden/heads), biases on q/k/v/o only with
// attention_bias (default false). llama.cpp "qwen3": blk.N.attn_q_norm / attn_k_norm, no q/k
// permutation.
import { decoderDescriptor } from './decoder';
import { bool, posInt } from './parse';
import { qwenLayerWindows } from './qwenWindows';

export const QWEN3 = decoderDescriptor({
  id: 'qwen3',
  hfArchitectures: ['Qwen3ForCausalLM'],
  modelTypes: ['qwen3'],
  // Qwen3Config defaults
  defaults: { maxPos: 32768, tie: false, bos: null, eos: null },
  extra: (c, file) => {
    const attentionBias = bool(c, file, 'attention_bias', false);
    return {
      headDim: posInt(c, file, 'head_dim', 128),
      qkNorm: true,
      qkvBias: attentionBias,
      oBias: attentionBias,
      slidingWindow: bool(c, file, 'use_sliding_window', false) ? posInt(c, file, 'sliding_window', 4096) : null,
      // HF: only layers >= max_window_layers (or those layer_types names) slide
      layerWindows: qwenLayerWindows(c, file),
    };
  },
  ggufArchitecture: 'qwen3',
  ggufPermutesQK: false,
});
