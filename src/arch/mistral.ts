// Mistral (MistralForCausalLM): the Llama decoder without biases, with a sliding attention window
// (sliding_window, default 4096; null = full attention). llama.cpp converts it as "llama" (q/k
// rows permuted).
import { decoderDescriptor } from './decoder';
import { posInt } from './parse';

export const MISTRAL = decoderDescriptor({
  id: 'mistral',
  hfArchitectures: ['MistralForCausalLM'],
  modelTypes: ['mistral'],
  // MistralConfig defaults
  defaults: { maxPos: 4096 * 32, tie: false, bos: 1, eos: 2 },
  extra: (c, file) => ({ slidingWindow: c.sliding_window === null ? null : posInt(c, file, 'sliding_window', 4096) }),
  ggufArchitecture: 'llama',
  ggufPermutesQK: true,
});
