import { describe, expect, it } from 'vitest';
import { qwenLayerWindows } from './qwenWindows';

describe('Qwen2/Qwen3 sliding layers (HF Qwen2Config.layer_types)', () => {
  const base = { num_hidden_layers: 4, sliding_window: 64 };
  it('slides no layer without use_sliding_window', () => {
    expect(qwenLayerWindows({ ...base, use_sliding_window: false, max_window_layers: 0 }, 'config.json')).toBeUndefined();
    expect(qwenLayerWindows(base, 'config.json')).toBeUndefined();
  });
  it('slides the layers from max_window_layers on (default 28: none of a small model)', () => {
    expect(qwenLayerWindows({ ...base, use_sliding_window: true, max_window_layers: 2 }, 'config.json')).toEqual([null, null, 64, 64]);
    expect(qwenLayerWindows({ ...base, use_sliding_window: true }, 'config.json')).toEqual([null, null, null, null]);
  });
  it('follows layer_types when the config lists them, and names a bad list', () => {
    const types = ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'];
    expect(qwenLayerWindows({ ...base, use_sliding_window: true, layer_types: types }, 'config.json')).toEqual([64, null, 64, null]);
    expect(() => qwenLayerWindows({ ...base, use_sliding_window: true, layer_types: ['x'] }, 'config.json')).toThrow(/config.json: "layer_types" must list/);
  });
});
