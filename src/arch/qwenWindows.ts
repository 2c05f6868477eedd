// Which layers of a Qwen2 / Qwen3 model slide (HF Qwen2Config / Qwen3Config): none unless
// use_sliding_window; then layer_types when the config lists them, else the layers
// i >= max_window_layers (default 28), with a window of sliding_window tokens.
import { describeJson } from '../io/describeJson';
import { bool, CHECK, fail, posInt } from './parse';
import type { Json } from './types';

/** Per-layer windows (null: full attention), or undefined when no layer slides. */
export function qwenLayerWindows(c: Json, file: string): (number | null)[] | undefined {
  if (!bool(c, file, 'use_sliding_window', false)) return undefined;
  const window = posInt(c, file, 'sliding_window', 4096);
  const layers = posInt(c, file, 'num_hidden_layers');
  const types = c.layer_types;
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== layers || !types.every((t) => t === 'sliding_attention' || t === 'full_attention')) {
      fail(file, `"layer_types" must list "sliding_attention" or "full_attention" for each of the ${layers} layers, got ${describeJson(types)}`, CHECK);
    }
    return types.map((t) => (t === 'sliding_attention' ? window : null));
  }
  const first = posInt(c, file, 'max_window_layers', 28);
  return Array.from({ length: layers }, (_, i) => (i >= first ? window : null));
}
