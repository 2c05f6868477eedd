// Llama (LlamaForCausalLM): Llama 2/3.x, SmolLM, TinyLlama. attention_bias puts biases on q/k/v/o,
// mlp_bias on the MLP; rope_scaling (llama3, linear, dynamic) is applied. llama.cpp converts it
// as "llama" and permutes q/k rows into its interleaved RoPE order.
import { decoderDescriptor } from './decoder';
import { bool } from './parse';

export const LLAMA = decoderDescriptor({
  id: 'llama',
  hfArchitectures: ['LlamaForCausalLM'],
  modelTypes: ['llama'],
  // LlamaConfig defaults
  defaults: { maxPos: 2048, tie: false, bos: 1, eos: 2 },
  extra: (c, file) => {
    const attentionBias = bool(c, file, 'attention_bias', false);
    return { qkvBias: attentionBias, oBias: attentionBias, mlpBias: bool(c, file, 'mlp_bias', false) };
  },
  ggufArchitecture: 'llama',
  ggufPermutesQK: true,
});
