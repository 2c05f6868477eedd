import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  halvesToInterleaved,
  interleavedToHalves,
  Llama2cError,
  llama2cToHf,
  parseLlama2c,
  parseLlama2cHeader,
  type Llama2cCheckpoint,
} from './llama2c.js';
import { checkTensors } from './hfConfig';
import { parseHfConfig } from '../arch/config';

// ../shared sits beside the repository, in CI too (see shared/README.md)
const shared = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/models/stories260K');

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** A llama2.c file with random weights (small shapes), shared or unshared classifier. */
function makeCheckpoint(h: { dim: number; hidden: number; layers: number; heads: number; kv: number; vocab: number; seq: number }, shared: boolean) {
  const hd = h.dim / h.heads;
  const kvd = h.kv * hd;
  const floats =
    h.vocab * h.dim + h.layers * (2 * h.dim + 2 * h.dim * h.dim + 2 * kvd * h.dim + 3 * h.hidden * h.dim) + h.dim + h.seq * hd + (shared ? 0 : h.vocab * h.dim);
  const buf = new ArrayBuffer(28 + 4 * floats);
  new Int32Array(buf, 0, 7).set([h.dim, h.hidden, h.layers, h.heads, h.kv, shared ? h.vocab : -h.vocab, h.seq]);
  const r = rng(42);
  const f = new Float32Array(buf, 28);
  for (let i = 0; i < f.length; i++) f[i] = r();
  return new Uint8Array(buf);
}

// ---- two independent forward passes: llama2.c's run.c, and Hugging Face Llama ----

function rmsnorm(x: Float32Array, w: Float32Array, eps = 1e-5): Float32Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const s = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * s * w[i]);
}

/** y = W x for W [rows, cols] row-major. */
function matvec(w: Float32Array, x: Float32Array, rows: number): Float32Array {
  const cols = x.length;
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c] * x[c];
    y[r] = s;
  }
  return y;
}

type Rope = (v: Float32Array, pos: number, nHeads: number, hd: number) => void;

/** run.c: pairs (2i, 2i+1) within each head, frequency 10000^(-2i/hd). */
const ropeInterleaved: Rope = (v, pos, nHeads, hd) => {
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < hd; i += 2) {
      const a = pos * 10000 ** (-i / hd);
      const [x0, x1] = [v[h * hd + i], v[h * hd + i + 1]];
      v[h * hd + i] = x0 * Math.cos(a) - x1 * Math.sin(a);
      v[h * hd + i + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
    }
  }
};

/** HF rotate_half: pairs (i, i + hd/2), frequency 10000^(-2i/hd). */
const ropeHalves: Rope = (v, pos, nHeads, hd) => {
  const half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      const a = pos * 10000 ** (-(2 * i) / hd);
      const [x0, x1] = [v[h * hd + i], v[h * hd + half + i]];
      v[h * hd + i] = x0 * Math.cos(a) - x1 * Math.sin(a);
      v[h * hd + half + i] = x1 * Math.cos(a) + x0 * Math.sin(a);
    }
  }
};

interface Weights {
  dim: number; hidden: number; layers: number; heads: number; kv: number; vocab: number;
  emb: Float32Array; cls: Float32Array; norm: Float32Array;
  layer: (l: number) => { att: Float32Array; ffn: Float32Array; q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array; gate: Float32Array; up: Float32Array; down: Float32Array };
}

function fromLlama2c(c: Llama2cCheckpoint): Weights {
  const h = c.header, w = c.weights;
  const D = h.dim, F = h.hiddenDim, KV = h.nKvHeads * h.headDim;
  const s = (a: Float32Array, l: number, n: number) => a.subarray(l * n, (l + 1) * n);
  return {
    dim: D, hidden: F, layers: h.nLayers, heads: h.nHeads, kv: h.nKvHeads, vocab: h.vocabSize, emb: w.tokenEmbedding, cls: w.wcls, norm: w.rmsFinal,
    layer: (l) => ({ att: s(w.rmsAtt, l, D), ffn: s(w.rmsFfn, l, D), q: s(w.wq, l, D * D), k: s(w.wk, l, KV * D), v: s(w.wv, l, KV * D), o: s(w.wo, l, D * D), gate: s(w.w1, l, F * D), up: s(w.w3, l, F * D), down: s(w.w2, l, D * F) }),
  };
}

function fromHf(config: Record<string, unknown>, tensors: { name: string; data: Float32Array }[]): Weights {
  const c = parseHfConfig(config);
  const t = new Map(tensors.map((x) => [x.name, x.data]));
  const g = (n: string) => t.get(n)!;
  return {
    dim: c.hiddenSize, hidden: c.intermediateSize, layers: c.numLayers, heads: c.numHeads, kv: c.numKvHeads, vocab: c.vocabSize,
    emb: g('model.embed_tokens.weight'), cls: c.tieWordEmbeddings ? g('model.embed_tokens.weight') : g('lm_head.weight'), norm: g('model.norm.weight'),
    layer: (l) => {
      const p = `model.layers.${l}.`;
      return { att: g(p + 'input_layernorm.weight'), ffn: g(p + 'post_attention_layernorm.weight'), q: g(p + 'self_attn.q_proj.weight'), k: g(p + 'self_attn.k_proj.weight'), v: g(p + 'self_attn.v_proj.weight'), o: g(p + 'self_attn.o_proj.weight'), gate: g(p + 'mlp.gate_proj.weight'), up: g(p + 'mlp.up_proj.weight'), down: g(p + 'mlp.down_proj.weight') };
    },
  };
}

/** Logits for every position of `ids` (causal, from scratch). */
function forward(w: Weights, ids: number[], rope: Rope): Float32Array[] {
  const hd = w.dim / w.heads;
  const xs = ids.map((id) => w.emb.slice(id * w.dim, (id + 1) * w.dim));
  for (let l = 0; l < w.layers; l++) {
    const L = w.layer(l);
    const qs: Float32Array[] = [], ks: Float32Array[] = [], vs: Float32Array[] = [];
    xs.forEach((x, pos) => {
      const n = rmsnorm(x, L.att);
      const q = matvec(L.q, n, w.dim), k = matvec(L.k, n, w.kv * hd);
      rope(q, pos, w.heads, hd);
      rope(k, pos, w.kv, hd);
      qs.push(q); ks.push(k); vs.push(matvec(L.v, n, w.kv * hd));
    });
    xs.forEach((x, pos) => {
      const att = new Float32Array(w.dim);
      for (let h = 0; h < w.heads; h++) {
        const kh = Math.floor(h / (w.heads / w.kv));
        const sc = [];
        for (let j = 0; j <= pos; j++) {
          let s = 0;
          for (let i = 0; i < hd; i++) s += qs[pos][h * hd + i] * ks[j][kh * hd + i];
          sc.push(s / Math.sqrt(hd));
        }
        const m = Math.max(...sc);
        const e = sc.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b);
        for (let j = 0; j <= pos; j++) for (let i = 0; i < hd; i++) att[h * hd + i] += (e[j] / z) * vs[j][kh * hd + i];
      }
      const o = matvec(L.o, att, w.dim);
      for (let i = 0; i < w.dim; i++) x[i] += o[i];
      const n = rmsnorm(x, L.ffn);
      const g = matvec(L.gate, n, w.hidden), u = matvec(L.up, n, w.hidden);
      const hmid = g.map((v, i) => (v / (1 + Math.exp(-v))) * u[i]);
      const d = matvec(L.down, hmid, w.dim);
      for (let i = 0; i < w.dim; i++) x[i] += d[i];
    });
  }
  return xs.map((x) => matvec(w.cls, rmsnorm(x, w.norm), w.vocab));
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

describe('RoPE row permutation', () => {
  it('interleaved rotary on the original rows equals rotate_half rotary on the permuted rows', () => {
    const r = rng(7);
    const heads = 3, hd = 8, cols = 5;
    const w = Float32Array.from({ length: heads * hd * cols }, r);
    const x = Float32Array.from({ length: cols }, r);
    const wp = interleavedToHalves(w, heads, hd, cols);
    for (const pos of [0, 1, 5, 37]) {
      const a = matvec(w, x, heads * hd);
      ropeInterleaved(a, pos, heads, hd);
      const b = matvec(wp, x, heads * hd);
      ropeHalves(b, pos, heads, hd);
      // b is a permuted the same way: head h, b[i] = a[2i], b[hd/2 + i] = a[2i + 1]
      const aPermuted = interleavedToHalves(a, heads, hd, 1);
      for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(aPermuted[i], 5);
      if (pos > 0) expect(Math.abs(b[1] - a[1])).toBeGreaterThan(1e-4); // not trivially equal
    }
  });

  it('moves rows 2i to i and 2i+1 to hd/2+i within each head, and halvesToInterleaved undoes it', () => {
    const rows = Float32Array.from({ length: 16 }, (_, i) => i); // 2 heads x 8 rows, 1 column
    expect(Array.from(interleavedToHalves(rows, 2, 8, 1))).toEqual([0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15]);
    const r = rng(3);
    const w = Float32Array.from({ length: 4 * 6 * 3 }, r);
    expect(halvesToInterleaved(interleavedToHalves(w, 4, 6, 3), 4, 6, 3)).toEqual(w);
    expect(() => interleavedToHalves(w, 4, 5, 3)).toThrow(Llama2cError);
  });
});

describe('llama2.c checkpoint parsing', () => {
  const dims = { dim: 16, hidden: 24, layers: 2, heads: 4, kv: 2, vocab: 10, seq: 8 };

  it('parses a shared-classifier checkpoint and converts it to HF tensors', () => {
    const file = makeCheckpoint(dims, true);
    const ck = parseLlama2c(file);
    // the same bytes at an unaligned offset, and as a Node Buffer (whose slice() is a view)
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    expect(parseLlama2c(shifted.subarray(3)).weights.wq).toEqual(ck.weights.wq);
    expect(parseLlama2c(Buffer.from(file)).weights.w2).toEqual(ck.weights.w2);
    expect(ck.header).toEqual({ dim: 16, hiddenDim: 24, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 10, seqLen: 8, sharedClassifier: true, headDim: 4 });
    expect(ck.weights.wcls).toBe(ck.weights.tokenEmbedding);
    const { config, tensors } = llama2cToHf(ck);
    const cfg = parseHfConfig(config);
    expect(cfg).toMatchObject({ architecture: 'llama', hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, vocabSize: 10, maxPositions: 8, tieWordEmbeddings: true, rmsNormEps: 1e-5, ropeTheta: 10000, bosTokenId: 1, eosTokenId: 2 });
    const m = checkTensors(cfg, tensors);
    expect(m.unexpected).toEqual([]);
    expect(tensors.some((t) => t.name === 'lm_head.weight')).toBe(false);
    for (const t of tensors) expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
    const byName = new Map(tensors.map((t) => [t.name, t.data]));
    // w1 -> gate, w3 -> up, w2 -> down; v/o unpermuted; layer 1 slices
    const w = ck.weights;
    expect(byName.get('model.layers.1.mlp.gate_proj.weight')).toEqual(w.w1.subarray(24 * 16, 2 * 24 * 16));
    expect(byName.get('model.layers.1.mlp.up_proj.weight')).toEqual(w.w3.subarray(24 * 16, 2 * 24 * 16));
    expect(byName.get('model.layers.1.mlp.down_proj.weight')).toEqual(w.w2.subarray(16 * 24, 2 * 16 * 24));
    expect(byName.get('model.layers.1.self_attn.v_proj.weight')).toEqual(w.wv.subarray(8 * 16, 2 * 8 * 16));
    expect(byName.get('model.layers.1.self_attn.k_proj.weight')).toEqual(interleavedToHalves(w.wk.subarray(8 * 16, 2 * 8 * 16), 2, 4, 16));
    expect(byName.get('model.layers.0.self_attn.q_proj.weight')).not.toEqual(w.wq.subarray(0, 256));
    expect(byName.get('model.norm.weight')).toEqual(w.rmsFinal);
  });

  it('parses an unshared classifier (negative vocab_size) into lm_head.weight', () => {
    const bytes = makeCheckpoint(dims, false);
    const ck = parseLlama2c(bytes);
    expect(ck.header.sharedClassifier).toBe(false);
    expect(ck.weights.wcls).not.toBe(ck.weights.tokenEmbedding);
    // wcls is the last array, after the skipped freq_cis tables
    expect(ck.weights.wcls).toEqual(new Float32Array(bytes.slice(bytes.length - 10 * 16 * 4).buffer));
    const { config, tensors } = llama2cToHf(ck);
    expect(config.tie_word_embeddings).toBe(false);
    const lm = tensors.find((t) => t.name === 'lm_head.weight')!;
    expect(lm.shape).toEqual([10, 16]);
    expect(lm.data).toEqual(ck.weights.wcls);
    checkTensors(parseHfConfig(config), tensors);
    // the converted model computes what the llama2.c model computes
    const a = forward(fromLlama2c(ck), [1, 5, 9, 3], ropeInterleaved);
    const b = forward(fromHf(config, tensors), [1, 5, 9, 3], ropeHalves);
    for (let p = 0; p < 4; p++) for (let i = 0; i < 10; i++) expect(b[p][i]).toBeCloseTo(a[p][i], 4);
  });

  it('rejects malformed files with clear errors', () => {
    const ok = makeCheckpoint(dims, true);
    expect(() => parseLlama2c(ok.subarray(0, 20), 'x.bin')).toThrow(/x.bin: only 20 bytes/);
    expect(() => parseLlama2c(ok.subarray(0, ok.length - 4), 'x.bin')).toThrow(/implies \d+ bytes, but the file has \d+\. The file is truncated/);
    const longer = new Uint8Array(ok.length + 8);
    longer.set(ok);
    expect(() => parseLlama2c(longer)).toThrow(/does not describe this file/);
    const flipped = ok.slice();
    new DataView(flipped.buffer).setInt32(20, -10, true); // claims unshared, but no wcls stored
    expect(() => parseLlama2c(flipped)).toThrow(/fit a checkpoint with a shared classifier/);
    const v1 = ok.slice();
    new DataView(v1.buffer).setUint32(0, 0x616b3432, true);
    expect(() => parseLlama2cHeader(v1)).toThrow(/version 1\/2 checkpoint \(magic "ak42"\).*--version 0/);
    const zero = ok.slice();
    new DataView(zero.buffer).setInt32(8, 0, true);
    expect(() => parseLlama2cHeader(zero)).toThrow(/n_layers is 0/);
    const odd = ok.slice();
    new DataView(odd.buffer).setInt32(12, 3, true);
    expect(() => parseLlama2cHeader(odd)).toThrow(Llama2cError);
    expect(() => parseLlama2cHeader(odd)).toThrow(/inconsistent header/);
  });
});

describe('stories260K', () => {
  const file = readFileSync(join(shared, 'stories260K.bin'));

  it('has the header SOURCE.md documents, and converts to a model that computes the same logits', () => {
    const ck = parseLlama2c(file, 'stories260K.bin');
    expect(ck.header).toEqual({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, sharedClassifier: true, headDim: 8 });
    const { config, tensors } = llama2cToHf(ck);
    expect(tensors.reduce((s, t) => s + t.data.length, 0)).toBe(260032);
    const ref = fromLlama2c(ck), hf = fromHf(config, tensors);
    // greedy decoding from BOS agrees token for token, with the logits
    const ids = [1];
    for (let step = 0; step < 12; step++) {
      const a = forward(ref, ids, ropeInterleaved).at(-1)!;
      const b = forward(hf, ids, ropeHalves).at(-1)!;
      for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 3);
      expect(argmax(b)).toBe(argmax(a));
      ids.push(argmax(b));
    }
    // tokens of "Once upon a time" (tok512): the model tells the story it was trained on
    expect(ids.slice(1, 5)).toEqual([403, 407, 261, 378]);
    // and skipping the permutation breaks it, as SOURCE.md warns
    const unpermuted = tensors.map((t) =>
      /q_proj|k_proj/.test(t.name) ? { ...t, data: halvesToInterleaved(t.data, t.shape[0] / 8, 8, 64) } : t,
    );
    const bad = forward(fromHf(config, unpermuted), ids.slice(0, 8), ropeHalves);
    const good = forward(hf, ids.slice(0, 8), ropeHalves);
    expect(Math.max(...bad[7].map((v, i) => Math.abs(v - good[7][i])))).toBeGreaterThan(0.1);
  });
});
