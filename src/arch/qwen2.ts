// Qwen2 (Qwen2ForCausalLM, also Qwen2.5): the Llama decoder with biases on q/k/v (never on o or
// the MLP); use_sliding_window turns on a window of sliding_window tokens. llama.cpp "qwen2"
// keeps HF's rotate_half layout (no q/k permutation).
import { decoderDescriptor } from './decoder';
import { bool, posInt } from './parse';
import { qwenLayerWindows } from './qwenWindows';

export const QWEN2 = decoderDescriptor({
  id: 'qwen2',
  hfArchitectures: ['Qwen2ForCausalLM'],
  modelTypes: ['qwen2'],
  // Qwen2Config defaults
  defaults: { maxPos: 32768, tie: false, bos: null, eos: null },
  extra: (c, file) => ({
    qkvBias: true,
    slidingWindow: bool(c, file, 'use_sliding_window', false) ? posInt(c, file, 'sliding_window', 4096) : null,
    // HF: only layers >= max_window_layers (or those layer_types names) slide
    layerWindows: qwenLayerWindows(c, file),
  }),
  ggufArchitecture: 'qwen2',
  ggufPermutesQK: false,
});
