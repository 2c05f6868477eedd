// What a user sees when a model folder is broken: each case names the problem and the fix.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getTestGpu } from '../gpu/testing/nodeGpu';
import { folderFromBuffers } from './folder';
import { loadWeights, ModelOutOfMemoryError, readModelAssets } from './load';
import { DEMO_MODEL_DIR, FIXTURES_DIR } from './testing/loadForTest';

function demoFiles(): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const f of readdirSync(DEMO_MODEL_DIR)) out[f] = new Uint8Array(readFileSync(join(DEMO_MODEL_DIR, f)));
  return out;
}

describe('loading a broken model folder', () => {
  it('a truncated model.safetensors says the file is truncated and to download it again', async () => {
    const files = demoFiles();
    const full = files['model.safetensors'];
    files['model.safetensors'] = full.slice(0, Math.floor(full.length * 0.6));
    const err = await readModelAssets(folderFromBuffers('stories260K', files)).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/model\.safetensors/);
    expect(err.message).toMatch(/truncated|past the end|beyond/i);
  });

  it('a file cut inside the tensor data fails while streaming, and frees what was uploaded', async () => {
    const ctx = await getTestGpu();
    const files = demoFiles();
    const good = folderFromBuffers('stories260K', files);
    const assets = await readModelAssets(good);
    const before = ctx.allocator.liveBytes;
    const cut = { ...files, 'model.safetensors': files['model.safetensors'].slice(0, files['model.safetensors'].length - 1000) };
    await expect(loadWeights(ctx, folderFromBuffers('stories260K', cut), assets)).rejects.toThrow(/truncated|past the end/i);
    expect(ctx.allocator.liveBytes).toBe(before);
  });

  it('a model the GPU has no memory for stops the upload with the buffer, the size and the way out, and frees what was uploaded', async () => {
    const ctx = await getTestGpu();
    const folder = folderFromBuffers('stories260K', demoFiles());
    const assets = await readModelAssets(folder);
    const before = ctx.allocator.liveBytes;
    // room for about half of the weights (stories260K: ~0.5 MiB in fp16)
    ctx.allocator.simulatedLimitBytes = before + assets.parameterCount;
    ctx.device.pushErrorScope('validation');
    let err: unknown;
    try {
      err = await loadWeights(ctx, folder, assets).catch((e) => e);
    } finally {
      ctx.allocator.simulatedLimitBytes = null;
      // writes into the buffers that did not fit are invalid; they must not reach the test's device
      await ctx.device.popErrorScope();
    }
    expect(err).toBeInstanceOf(ModelOutOfMemoryError);
    expect((err as Error).message).toMatch(/GPU ran out of memory loading the model: “[^”]+” \([\d.]+ MiB\) could not be allocated with [\d.]+ MiB already in use, and the weights need about [\d.]+ MiB in fp16\. Choose a smaller model/);
    expect(ctx.allocator.liveBytes).toBe(before);
    // with the memory back the same model loads
    const weights = await loadWeights(ctx, folder, assets);
    expect(await ctx.allocator.checkOutOfMemory()).toBeNull();
    for (const t of weights.values()) ctx.allocator.release(t.buffer);
    expect(ctx.allocator.liveBytes).toBe(before);
  });

  it('an unsupported architecture is named and the supported ones are listed', async () => {
    const files = demoFiles();
    const cfg = JSON.parse(new TextDecoder().decode(files['config.json']));
    cfg.architectures = ['FalconForCausalLM'];
    files['config.json'] = new TextEncoder().encode(JSON.stringify(cfg));
    const err = await readModelAssets(folderFromBuffers('falcon', files)).catch((e) => e);
    expect(err.message).toMatch(/FalconForCausalLM/);
    expect(err.message).toMatch(/LlamaForCausalLM/);
    expect(err.message).toMatch(/Qwen2ForCausalLM/);
    expect(err.message).toMatch(/GPT2LMHeadModel/);
  });

  it('a folder without config.json says which files a model folder needs', async () => {
    const files = demoFiles();
    delete files['config.json'];
    await expect(readModelAssets(folderFromBuffers('weights-only', files))).rejects.toThrow(/no config\.json.*config\.json, model\.safetensors/s);
  });

  it('weights that do not match config.json are reported by name', async () => {
    const files = demoFiles();
    const cfg = JSON.parse(new TextDecoder().decode(files['config.json']));
    cfg.intermediate_size = 200;
    files['config.json'] = new TextEncoder().encode(JSON.stringify(cfg));
    await expect(readModelAssets(folderFromBuffers('mismatch', files))).rejects.toThrow(/mlp\.gate_proj\.weight.*\[172,64\].*\[200,64\]/);
  });

  it('a sharded folder with a missing shard names the shard', async () => {
    const dir = join(FIXTURES_DIR, 'tiny-llama-sharded');
    const files: Record<string, Uint8Array> = {};
    for (const f of readdirSync(dir)) files[f] = new Uint8Array(readFileSync(join(dir, f)));
    const shard = Object.keys(files).find((f) => f.endsWith('.safetensors'))!;
    delete files[shard];
    await expect(readModelAssets(folderFromBuffers('tiny', files))).rejects.toThrow(new RegExp(shard.replace(/\./g, '\\.')));
  });
});
