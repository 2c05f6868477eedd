// GGUF base models: the demo model written as GGUF files with our writer (F16, Q8_0, Q4_0; llama.cpp
// names, q/k rows permuted as convert_hf_to_gguf.py does, the SentencePiece vocabulary as
// tokenizer.ggml.*) loads back to the same model: config, tokenizer (same ids as tokenizer.json),
// logits (F16: equal to the safetensors model), quantized weights un-permuted (dequantized within
// the format's step of the original), and through the engine: generate, fine-tune, export.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getTestGpu, nodeGpu } from '../gpu/testing/nodeGpu';
import { dequantizeOnCpu, isQuantized } from '../gpu/ops/matmulQuant';
import { readBuffer } from '../gpu/tensor';
import { fileSource } from '../io/byteSourceNode';
import { decodeQ4_K, encodeQ4_0, encodeQ4_K, encodeQ8_0 } from '../io/ggmlBlocks';
import { permuteRows, unpermuteRowIndex } from '../io/ggufModel';
import { randn } from '../util/random';
import { GgmlType, GgufType, hfToGgufName, writeGguf, type GgufKv, type GgufTensorIn } from '../io/gguf';
import { halvesToInterleaved } from '../io/llama2c.js';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { expectClose } from '../util/check';
import { f32ArrayToF16Bits } from '../util/f16';
import { MemoryKeyValueStore } from '../train/checkpointStore';
import { DEFAULT_CONFIG } from '../train/config';
import { Engine } from '../workers/engine';
import type { CausalLM } from './causalLM';
import { CausalLM as Model } from './causalLM';
import { folderFromBuffers } from './folder';
import { loadWeights, readModelAssets } from './load';
import { DEMO_MODEL_DIR, loadModelDir, REPO_ROOT } from './testing/loadForTest';
import { loadTokenizer } from './tokenizer';

type Kind = 'F16' | 'Q8_0' | 'Q4_0';

const demoConfig = JSON.parse(readFileSync(join(DEMO_MODEL_DIR, 'config.json'), 'utf8'));
const demoTokenizer = JSON.parse(readFileSync(join(DEMO_MODEL_DIR, 'tokenizer.json'), 'utf8'));
const TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";

/** The demo model as a GGUF file, the linear layers in `kind` where their rows are whole 32-blocks (else F16, as llama.cpp falls back). */
async function demoGguf(kind: Kind): Promise<Uint8Array<ArrayBuffer>> {
  const src = await fileSource(join(DEMO_MODEL_DIR, 'model.safetensors'));
  const header = await readSafetensorsHeader(src);
  const assets = await readModelAssets(folderFromBuffers('stories260K', { 'config.json': JSON.stringify(demoConfig), 'model.safetensors': readFileSync(join(DEMO_MODEL_DIR, 'model.safetensors')) }));
  const c = assets.config;
  const tensors: GgufTensorIn[] = [];
  for (const t of header.tensors) {
    let w = await readTensorF32(src, header, t.name);
    const dims = [...t.shape].reverse();
    const heads = c.format.gguf.permutedHeads(c, t.name.replace(/\.weight$/, ''));
    if (heads !== null) w = halvesToInterleaved(w, heads, t.shape[0] / heads, t.shape[1]);
    const name = hfToGgufName(t.name, c);
    const linear = /_proj\.weight$/.test(t.name);
    if (t.shape.length === 1) tensors.push({ name, dims, type: GgmlType.F32, data: w });
    else if (linear && kind !== 'F16' && t.shape[1] % 32 === 0) tensors.push({ name, dims, type: kind === 'Q8_0' ? GgmlType.Q8_0 : GgmlType.Q4_0, data: kind === 'Q8_0' ? encodeQ8_0(w) : encodeQ4_0(w) });
    else tensors.push({ name, dims, type: GgmlType.F16, data: f32ArrayToF16Bits(w) });
  }
  const vocab = Object.entries(demoTokenizer.model.vocab as Record<string, number>).sort((a, b) => a[1] - b[1]).map(([t]) => t);
  const special = new Set((demoTokenizer.added_tokens as { content: string }[]).map((t) => t.content));
  const type = (t: string) => (t === '<unk>' ? 2 : special.has(t) ? 3 : /^<0x[0-9A-F]{2}>$/.test(t) ? 6 : 1);
  const u32 = (key: string, value: number): GgufKv => ({ key, type: GgufType.UINT32, value });
  const kv: GgufKv[] = [
    { key: 'general.architecture', type: GgufType.STRING, value: 'llama' },
    { key: 'general.name', type: GgufType.STRING, value: 'stories260K' },
    u32('llama.block_count', c.numLayers),
    u32('llama.context_length', c.maxPositions),
    u32('llama.embedding_length', c.hiddenSize),
    u32('llama.feed_forward_length', c.intermediateSize),
    u32('llama.attention.head_count', c.numHeads),
    u32('llama.attention.head_count_kv', c.numKvHeads),
    u32('llama.attention.key_length', c.headDim),
    { key: 'llama.attention.layer_norm_rms_epsilon', type: GgufType.FLOAT32, value: demoConfig.rms_norm_eps },
    { key: 'llama.rope.freq_base', type: GgufType.FLOAT32, value: demoConfig.rope_theta },
    { key: 'tokenizer.ggml.model', type: GgufType.STRING, value: 'llama' },
    { key: 'tokenizer.ggml.tokens', type: GgufType.ARRAY, value: { itemType: GgufType.STRING, items: vocab } },
    { key: 'tokenizer.ggml.scores', type: GgufType.ARRAY, value: { itemType: GgufType.FLOAT32, items: vocab.map((_, i) => -i) } },
    { key: 'tokenizer.ggml.token_type', type: GgufType.ARRAY, value: { itemType: GgufType.INT32, items: vocab.map(type) } },
    u32('tokenizer.ggml.bos_token_id', 1),
    u32('tokenizer.ggml.eos_token_id', 2),
    u32('tokenizer.ggml.unknown_token_id', 0),
    { key: 'tokenizer.ggml.add_bos_token', type: GgufType.BOOL, value: true },
    { key: 'tokenizer.chat_template', type: GgufType.STRING, value: TEMPLATE },
  ];
  return writeGguf(kv, tensors);
}

async function loadGgufModel(kind: Kind): Promise<CausalLM> {
  const ctx = await getTestGpu();
  const folder = folderFromBuffers(`stories260K-${kind}`, { [`stories260K-${kind}.gguf`]: await demoGguf(kind) });
  const assets = await readModelAssets(folder);
  return new Model(ctx, assets, await loadWeights(ctx, folder, assets));
}

async function logits(model: CausalLM, ids: number[]): Promise<Float32Array> {
  const V = model.config.vocabSize;
  const inp = model.upload({ B: 1, T: ids.length, tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), docIds: null }, 'test');
  const l = await model.lastLogits(inp, null);
  return new Float32Array(await readBuffer(model.ctx, l.buffer, V * 4));
}

const TEXTS = ['Once upon a time, there was a little girl named Lily.', 'She said: "I can\'t!" 42 times… Ünïcode ☃', '  two  spaces\nand a newline'];

describe('GGUF base models (the demo model written with our GGUF writer)', () => {
  it('F16: config, tokenizer and chat template from the metadata; logits equal the safetensors model', async () => {
    const ctx = await getTestGpu();
    const model = await loadGgufModel('F16');
    const a = model.assets;
    expect(a.config.hfArchitecture).toBe('LlamaForCausalLM');
    expect([a.config.numLayers, a.config.hiddenSize, a.config.intermediateSize, a.config.numHeads, a.config.numKvHeads, a.config.headDim, a.config.vocabSize]).toEqual([5, 64, 172, 8, 4, 8, 512]);
    expect(a.config.tieWordEmbeddings).toBe(true);
    expect(a.chatTemplate).toBe(TEMPLATE);
    const ours = loadTokenizer(a.tokenizerJson, a.tokenizerConfig, a.name);
    const ref = loadTokenizer(demoTokenizer, JSON.parse(readFileSync(join(DEMO_MODEL_DIR, 'tokenizer_config.json'), 'utf8')), 'demo');
    for (const t of TEXTS) {
      const ids = ref.encode(t).ids;
      expect(ours.encode(t).ids).toEqual(ids);
      expect(ours.decode(ids)).toBe(ref.decode(ids));
    }
    const st = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const ids = ref.encode(TEXTS[0]).ids;
    expectClose('GGUF F16 vs safetensors logits', await logits(model, ids), await logits(st, ids), { atol: 1e-5, rtol: 1e-5 });
    st.release();
    model.release();
  }, 120_000);

  it.each(['Q8_0', 'Q4_0'] as const)('%s: linear layers stay quantized, un-permuted q/k within a step of the original; logits close', async (kind) => {
    const ctx = await getTestGpu();
    const model = await loadGgufModel(kind);
    const src = await fileSource(join(DEMO_MODEL_DIR, 'model.safetensors'));
    const header = await readSafetensorsHeader(src);
    for (const name of ['model.layers.2.self_attn.q_proj.weight', 'model.layers.2.self_attn.k_proj.weight', 'model.layers.2.mlp.up_proj.weight']) {
      const t = model.weights.get(name)!;
      if (!isQuantized(t)) throw new Error(`${name} was not kept quantized`);
      const w = await readTensorF32(src, header, name);
      const amax = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      // per 32-block: Q8_0 within amax/254 (+ fp16 scale rounding), Q4_0 within amax/8
      expectClose(`${kind} ${name}`, await dequantizeOnCpu(ctx, t), w, { atol: kind === 'Q8_0' ? amax / 200 : amax / 7, rtol: 0 });
    }
    expect(isQuantized(model.weights.get('model.layers.0.mlp.down_proj.weight')!)).toBe(false); // K = 172: F16 in the file
    const st = await loadModelDir(ctx, DEMO_MODEL_DIR);
    const ids = [1, 403, 407, 261, 378, 395, 261, 263, 292, 434];
    const [got, want] = [await logits(model, ids), await logits(st, ids)];
    const err = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
    const scale = Math.max(...want.map(Math.abs));
    console.log(`${kind} GGUF: max |logit - fp16 logit| ${err.toFixed(4)} (logits up to ${scale.toFixed(2)})`);
    expect(err).toBeLessThan(kind === 'Q8_0' ? 0.05 * scale : 0.3 * scale);
    expect(err).toBeGreaterThan(0);
    st.release();
    model.release();
  }, 120_000);

  it('Q4_K (rows of 256): every linear layer is, bit for bit, the decoder\'s values with llama.cpp\'s q/k permutation undone', async () => {
    const ctx = await getTestGpu();
    const [C, F, H, KV, D] = [256, 512, 4, 2, 64];
    const vocab = Object.entries(demoTokenizer.model.vocab as Record<string, number>).sort((a, b) => a[1] - b[1]).map(([t]) => t);
    const u32 = (key: string, value: number): GgufKv => ({ key, type: GgufType.UINT32, value });
    const shapes: [string, number, number][] = [['attn_q', H * D, C], ['attn_k', KV * D, C], ['attn_v', KV * D, C], ['attn_output', C, H * D], ['ffn_gate', F, C], ['ffn_up', F, C], ['ffn_down', C, F]];
    const blocks = new Map(shapes.map(([n, r, c], i) => [n, encodeQ4_K(randn(r * c, 100 + i, 0.05))]));
    const tensors: GgufTensorIn[] = [
      { name: 'token_embd.weight', dims: [C, 512], type: GgmlType.F16, data: f32ArrayToF16Bits(randn(512 * C, 1, 0.02)) },
      { name: 'output_norm.weight', dims: [C], type: GgmlType.F32, data: new Float32Array(C).fill(1) },
      { name: 'blk.0.attn_norm.weight', dims: [C], type: GgmlType.F32, data: new Float32Array(C).fill(1) },
      { name: 'blk.0.ffn_norm.weight', dims: [C], type: GgmlType.F32, data: new Float32Array(C).fill(1) },
      ...shapes.map(([n, r, c]) => ({ name: `blk.0.${n}.weight`, dims: [c, r], type: GgmlType.Q4_K, data: blocks.get(n)! })),
    ];
    const kv: GgufKv[] = [
      { key: 'general.architecture', type: GgufType.STRING, value: 'llama' },
      u32('llama.block_count', 1), u32('llama.context_length', 128), u32('llama.embedding_length', C), u32('llama.feed_forward_length', F),
      u32('llama.attention.head_count', H), u32('llama.attention.head_count_kv', KV),
      { key: 'llama.attention.layer_norm_rms_epsilon', type: GgufType.FLOAT32, value: 1e-5 },
      { key: 'tokenizer.ggml.model', type: GgufType.STRING, value: 'llama' },
      { key: 'tokenizer.ggml.tokens', type: GgufType.ARRAY, value: { itemType: GgufType.STRING, items: vocab } },
      u32('tokenizer.ggml.bos_token_id', 1), u32('tokenizer.ggml.eos_token_id', 2), u32('tokenizer.ggml.unknown_token_id', 0),
    ];
    const folder = folderFromBuffers('q4k', { 'q4k.gguf': writeGguf(kv, tensors) });
    const assets = await readModelAssets(folder);
    const model = new Model(ctx, assets, await loadWeights(ctx, folder, assets));
    const hf: Record<string, string> = { attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj', attn_v: 'self_attn.v_proj', attn_output: 'self_attn.o_proj', ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj' };
    for (const [n, r, c] of shapes) {
      const t = model.weights.get(`model.layers.0.${hf[n]}.weight`)!;
      if (!isQuantized(t)) throw new Error(`${n} was not kept quantized`);
      let want = decodeQ4_K(blocks.get(n)!, r * c);
      if (n === 'attn_q' || n === 'attn_k') want = permuteRows(want, c, unpermuteRowIndex(n === 'attn_q' ? H : KV, r));
      const got = await dequantizeOnCpu(ctx, t);
      const bad = got.findIndex((v, i) => v !== want[i]);
      expect(bad, `${n}: element ${bad} is ${got[bad]}, expected ${want[bad]}`).toBe(-1);
    }
    const out = await logits(model, [1, 20, 30]);
    expect(out.every(Number.isFinite)).toBe(true);
    model.release();
  }, 120_000);

  // llama.cpp itself on the same files: greedy text equal to the engine's (the F16 file checks names,
  // permutation, metadata and tokenizer; Q8_0 the block layout llama.cpp reads)
  const LLAMA = '/work/shared/tools/llama.cpp/llama-completion';
  it.skipIf(!existsSync(LLAMA)).each(['F16', 'Q8_0'] as const)('llama.cpp generates the engine’s greedy text from our %s file', async (kind) => {
    const dir = mkdtempSync(join(tmpdir(), 'whetstone-gguf-'));
    const file = join(dir, `stories260K-${kind}.gguf`);
    const bytes = await demoGguf(kind);
    writeFileSync(file, bytes);
    const prompt = 'Once upon a time';
    let llamaText = '';
    let log = '';
    // llama-completion's log thread is not flushed at exit: a run is complete when its last line is there (see cli.test.ts)
    for (let attempt = 1; attempt <= 20; attempt++) {
      const r = spawnSync(LLAMA, ['-m', file, '-p', prompt, '-n', '24', '--temp', '0', '--top-k', '1', '-no-cnv', '--no-warmup', '-t', '1', '--seed', '1'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      log = r.stderr;
      if (/common_perf_print:\s+graphs reused/.test(r.stderr)) {
        llamaText = r.stdout.trim();
        break;
      }
    }
    expect(llamaText, log.slice(-2000)).not.toBe('');
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    expect((await engine.init()).state).toBe('ready');
    await engine.loadModel({ kind: 'files', files: [new File([bytes], `stories260K-${kind}.gguf`)] });
    const ours = await engine.generate({ chat: false, prompt, useAdapter: false, sampling: { maxTokens: 24, temperature: 0, topK: 0, topP: 1, seed: 0, greedy: true } });
    console.log(`${kind}: llama.cpp "${llamaText}" / engine "${prompt}${ours}"`);
    expect(llamaText).toBe(`${prompt}${ours}`.trim());
  }, 180_000);

  const SHARED = '/work/shared/models/stories260K';
  it.skipIf(!existsSync(LLAMA) || !existsSync(join(SHARED, 'stories260K.bin')))('a GGUF written by llama.cpp’s own converter loads and generates llama.cpp’s greedy text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'whetstone-gguf-'));
    const file = join(dir, 'base.gguf');
    const conv = spawnSync(join(LLAMA, '../llama-convert-llama2c-to-ggml'), ['--copy-vocab-from-model', join(SHARED, 'tok512.bin'), '--llama2c-model', join(SHARED, 'stories260K.bin'), '--llama2c-output-model', file], { encoding: 'utf8' });
    expect(conv.status, conv.stderr).toBe(0);
    const prompt = 'Once upon a time';
    let llamaText = '';
    for (let attempt = 1; attempt <= 20 && !llamaText; attempt++) {
      const r = spawnSync(LLAMA, ['-m', file, '-p', prompt, '-n', '24', '--temp', '0', '--top-k', '1', '-no-cnv', '--no-warmup', '-t', '1', '--seed', '1'], { encoding: 'utf8' });
      if (/common_perf_print:\s+graphs reused/.test(r.stderr)) llamaText = r.stdout.trim();
    }
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    expect((await engine.init()).state).toBe('ready');
    const info = await engine.loadModel({ kind: 'files', files: [new File([readFileSync(file)], 'base.gguf')] });
    expect(info.tiedEmbeddings).toBe(false); // llama.cpp writes output.weight
    const ours = await engine.generate({ chat: false, prompt, useAdapter: false, sampling: { maxTokens: 24, temperature: 0, topK: 0, topP: 1, seed: 0, greedy: true } });
    expect(llamaText).toBe(`${prompt}${ours}`.trim());
  }, 180_000);

  it.each(['Q8_0', 'Q4_0'] as const)('through the engine, a %s file: loads, generates, fine-tunes with LoRA and exports PEFT, GGUF LoRA and merged', async (kind) => {
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    expect((await engine.init()).state).toBe('ready');
    const info = await engine.loadModel({ kind: 'files', files: [new File([await demoGguf(kind)], `stories260K-${kind}.gguf`)] });
    expect(info.name).toBe(`stories260K-${kind}`);
    expect(info.hasChatTemplate).toBe(true);
    const greedy = { chat: false, prompt: 'Once upon a time', useAdapter: false, sampling: { maxTokens: 12, temperature: 0, topK: 0, topP: 1, seed: 0, greedy: true } };
    const text = await engine.generate(greedy);
    expect(text.length).toBeGreaterThan(10);
    const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
    await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 48, trainOn: 'all', onBadRow: 'skip', validationFraction: 0.1, seed: 1 });
    expect(info.notes.join(' ')).toContain(kind);
    const job = { ...DEFAULT_CONFIG, batchSize: 2, seqLen: 48, warmupSteps: 0, schedule: 'constant' as const, evalEvery: 0, checkpointEvery: 0, maxSteps: 8, learningRate: 5e-3 };
    expect((await engine.estimate(job)).weightsBytes).toBe(info.weightBytes); // the quantized tensors as loaded
    const losses: number[] = [];
    await engine.startTraining(job, { onProgress: (p) => losses.push(p.loss), onStatus: () => {} });
    expect(losses.length).toBe(8);
    expect(losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(losses.slice(0, 3).reduce((a, b) => a + b) / 3);
    const peft = await engine.exportPeft();
    expect(peft.map((f) => f.name).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect((await engine.exportGguf()).bytes.length).toBeGreaterThan(1000);
    const merged = await engine.exportMerged();
    const m = merged.find((f) => f.name === 'model.safetensors')!;
    const { bufferSource } = await import('../io/byteSource');
    const h = await readSafetensorsHeader(bufferSource(m.bytes, 'merged'));
    expect(h.tensors.find((t) => t.name === 'model.layers.0.self_attn.q_proj.weight')?.dtype).toBe('F16');
    expect(await engine.generate({ ...greedy, useAdapter: true })).not.toBe('');
  }, 300_000);
});
