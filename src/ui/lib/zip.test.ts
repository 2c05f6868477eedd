import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { zipFiles } from './zip';

describe('zipFiles', () => {
  it('round-trips bytes under sanitized, unique names', () => {
    const a = new Uint8Array([1, 2, 3, 255]);
    const b = new TextEncoder().encode('{"r":8}');
    const zip = zipFiles([
      { name: 'adapter_model.safetensors', bytes: a },
      { name: '../adapter_config.json', bytes: b },
      { name: 'adapter_model.safetensors', bytes: b },
    ]);
    const out = unzipSync(zip);
    expect(Object.keys(out).sort()).toEqual(['_adapter_config.json', 'adapter_model (2).safetensors', 'adapter_model.safetensors']);
    expect(Array.from(out['adapter_model.safetensors'])).toEqual([1, 2, 3, 255]);
    expect(new TextDecoder().decode(out['_adapter_config.json'])).toBe('{"r":8}');
  });
});
