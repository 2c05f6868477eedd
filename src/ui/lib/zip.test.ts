import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { zipBlob, zipFiles } from './zip';

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

describe('zipBlob', () => {
  it('streams the same entries, unique names and exact bytes, as one archive unzip reads', async () => {
    const big = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => (i * 31) & 255);
    const cfg = new TextEncoder().encode('{"r":8}');
    const blob = zipBlob([
      { name: 'model.safetensors', bytes: big },
      { name: 'config.json', bytes: cfg },
      { name: 'config.json', bytes: cfg },
    ]);
    expect(blob.type).toBe('application/zip');
    const out = unzipSync(new Uint8Array(await blob.arrayBuffer()));
    expect(Object.keys(out).sort()).toEqual(['config (2).json', 'config.json', 'model.safetensors']);
    expect(Buffer.from(out['model.safetensors']).equals(Buffer.from(big))).toBe(true);
    expect(new TextDecoder().decode(out['config.json'])).toBe('{"r":8}');
  });
});
