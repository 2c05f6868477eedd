// @ts-check
// llama2.c checkpoints (legacy "version 0" layout) -> Hugging Face Llama tensors + config.json.
// Plain JavaScript so scripts/demo-model.mjs runs under plain Node; its JSDoc types are what
// TypeScript callers see, checked by `npm run typecheck`.
//
// Layout: 7 little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len; vocab_size < 0 means the classifier is stored separately), then fp32 arrays:
// token_embedding [V, D], rms_att [L, D], wq [L, D, D], wk [L, KV, D], wv [L, KV, D],
// wo [L, D, D], rms_ffn [L, D], w1 [L, F, D], w2 [L, D, F], w3 [L, F, D], rms_final [D],
// freq_cis_real and freq_cis_imag [seq_len, head_dim/2] each, then wcls [V, D] if not shared.

export class Llama2cError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'Llama2cError';
  }
}

/**
 * The header. `vocabSize` is always positive here (the sign in the file became
 * `sharedClassifier`: true when the classifier is the token embedding, tie_word_embeddings).
 * @typedef {{ dim: number, hiddenDim: number, nLayers: number, nHeads: number, nKvHeads: number,
 *   vocabSize: number, seqLen: number, sharedClassifier: boolean, headDim: number }} Llama2cHeader
 */

/**
 * Views into one fp32 buffer, in llama2.c's layout (per-layer arrays stacked on dim 0); `wcls` is
 * the token embedding itself when the classifier is shared.
 * @typedef {{ tokenEmbedding: Float32Array, rmsAtt: Float32Array, wq: Float32Array, wk: Float32Array,
 *   wv: Float32Array, wo: Float32Array, rmsFfn: Float32Array, w1: Float32Array, w2: Float32Array,
 *   w3: Float32Array, rmsFinal: Float32Array, freqCisReal: Float32Array, freqCisImag: Float32Array,
 *   wcls: Float32Array }} Llama2cWeights
 */

/** @typedef {{ header: Llama2cHeader, weights: Llama2cWeights }} Llama2cCheckpoint */

/** @typedef {{ name: string, shape: number[], data: Float32Array }} HfTensor */

/** The magic that starts llama2.c's newer (version 1 and 2) export formats: "ak42". */
const NEW_FORMAT_MAGIC = 0x616b3432;

/**
 * @param {ArrayBuffer | Uint8Array} file
 * @returns {Uint8Array}
 */
function asBytes(file) {
  return file instanceof Uint8Array ? file : new Uint8Array(file);
}

/**
 * Reads and validates the 28-byte header.
 * @param {ArrayBuffer | Uint8Array} file
 * @param {string} [name]
 * @returns {Llama2cHeader}
 */
export function parseLlama2cHeader(file, name = 'checkpoint.bin') {
  const bytes = asBytes(file);
  if (bytes.length < 28) {
    throw new Llama2cError(`${name}: only ${bytes.length} bytes, too short for the 28-byte llama2.c header. The file is truncated; download it again.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, 28);
  if (view.getUint32(0, true) === NEW_FORMAT_MAGIC) {
    throw new Llama2cError(
      `${name}: this is a llama2.c version 1/2 checkpoint (magic "ak42"); only the legacy version 0 layout is supported. ` +
        'Re-export it with llama2.c\'s export.py --version 0 (legacy_export).',
    );
  }
  const fields = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  const v = fields.map((_, i) => view.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = v;
  fields.forEach((f, i) => {
    if (f === 'vocab_size' ? v[i] === 0 : v[i] <= 0) {
      throw new Llama2cError(`${name}: header field ${f} is ${v[i]}; this is not a llama2.c checkpoint (or it is corrupt).`);
    }
  });
  const vocabSize = Math.abs(rawVocab);
  if (dim % nHeads !== 0 || nHeads % nKvHeads !== 0 || (dim / nHeads) % 2 !== 0) {
    throw new Llama2cError(
      `${name}: inconsistent header (dim ${dim}, n_heads ${nHeads}, n_kv_heads ${nKvHeads}): dim must split into heads of even size ` +
        'and n_heads must be a multiple of n_kv_heads. This is not a llama2.c checkpoint (or it is corrupt).',
    );
  }
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier: rawVocab > 0, headDim: dim / nHeads };
}

/**
 * Float counts of each array in file order (after the header).
 * @param {Llama2cHeader} h
 */
function arrayLayout(h) {
  const D = h.dim, F = h.hiddenDim, L = h.nLayers, V = h.vocabSize;
  const KV = h.nKvHeads * h.headDim;
  /** @type {[string, number][]} */
  const parts = [
    ['tokenEmbedding', V * D],
    ['rmsAtt', L * D],
    ['wq', L * D * D],
    ['wk', L * KV * D],
    ['wv', L * KV * D],
    ['wo', L * D * D],
    ['rmsFfn', L * D],
    ['w1', L * F * D],
    ['w2', L * D * F],
    ['w3', L * F * D],
    ['rmsFinal', D],
    ['freqCisReal', (h.seqLen * h.headDim) / 2],
    ['freqCisImag', (h.seqLen * h.headDim) / 2],
  ];
  if (!h.sharedClassifier) parts.push(['wcls', V * D]);
  return parts;
}

/**
 * Parses a whole checkpoint into its fp32 arrays (copies, so the input may be dropped).
 * @param {ArrayBuffer | Uint8Array} file
 * @param {string} [name]
 * @returns {Llama2cCheckpoint}
 */
export function parseLlama2c(file, name = 'checkpoint.bin') {
  const bytes = asBytes(file);
  const header = parseLlama2cHeader(bytes, name);
  const layout = arrayLayout(header);
  const floats = layout.reduce((s, [, n]) => s + n, 0);
  const expected = 28 + 4 * floats;
  if (bytes.length !== expected) {
    const other = arrayLayout({ ...header, sharedClassifier: !header.sharedClassifier }).reduce((s, [, n]) => s + n, 0);
    const hint = bytes.length === 28 + 4 * other
      ? ` Its size would fit a checkpoint with ${header.sharedClassifier ? 'an unshared' : 'a shared'} classifier, but the sign of vocab_size says otherwise; the header is corrupt.`
      : bytes.length < expected ? ' The file is truncated; download it again.' : ' The header does not describe this file.';
    throw new Llama2cError(`${name}: the header (dim ${header.dim}, hidden ${header.hiddenDim}, layers ${header.nLayers}, vocab ${header.vocabSize}, seq_len ${header.seqLen}) implies ${expected} bytes, but the file has ${bytes.length}.${hint}`);
  }
  // copy the float section once into an aligned buffer (the input may sit at any offset, and a
  // Node Buffer's slice() is a view, not a copy)
  const all = new Float32Array(new Uint8Array(bytes.subarray(28)).buffer);
  /** @type {Record<string, Float32Array>} */
  const arrays = {};
  let at = 0;
  for (const [key, n] of layout) {
    arrays[key] = all.subarray(at, at + n);
    at += n;
  }
  const weights = /** @type {Llama2cWeights} */ (/** @type {unknown} */ ({
    ...arrays,
    wcls: header.sharedClassifier ? arrays.tokenEmbedding : arrays.wcls,
  }));
  return { header, weights };
}

/**
 * Reorders the rows of a [nHeads * headDim, cols] projection, within each head, from llama2.c's
 * interleaved rotary pairs (2i, 2i+1) to Hugging Face's rotate_half pairs (i, i + headDim/2):
 * new row i = old row 2i, new row headDim/2 + i = old row 2i + 1. The inverse of permute() in
 * llama2.c's export script.
 * @param {Float32Array} w
 * @param {number} nHeads
 * @param {number} headDim
 * @param {number} cols
 * @returns {Float32Array}
 */
export function interleavedToHalves(w, nHeads, headDim, cols) {
  checkPermuteArgs(w, nHeads, headDim, cols);
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      const base = h * headDim;
      out.set(w.subarray((base + 2 * i) * cols, (base + 2 * i + 1) * cols), (base + i) * cols);
      out.set(w.subarray((base + 2 * i + 1) * cols, (base + 2 * i + 2) * cols), (base + half + i) * cols);
    }
  }
  return out;
}

/**
 * Inverse of interleavedToHalves (Hugging Face rotate_half rows -> llama2.c interleaved rows).
 * @param {Float32Array} w
 * @param {number} nHeads
 * @param {number} headDim
 * @param {number} cols
 * @returns {Float32Array}
 */
export function halvesToInterleaved(w, nHeads, headDim, cols) {
  checkPermuteArgs(w, nHeads, headDim, cols);
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      const base = h * headDim;
      out.set(w.subarray((base + i) * cols, (base + i + 1) * cols), (base + 2 * i) * cols);
      out.set(w.subarray((base + half + i) * cols, (base + half + i + 1) * cols), (base + 2 * i + 1) * cols);
    }
  }
  return out;
}

/**
 * @param {Float32Array} w
 * @param {number} nHeads
 * @param {number} headDim
 * @param {number} cols
 */
function checkPermuteArgs(w, nHeads, headDim, cols) {
  if (headDim % 2 !== 0 || w.length !== nHeads * headDim * cols) {
    throw new Llama2cError(`rotary row permutation: expected ${nHeads} heads x ${headDim} rows x ${cols} columns (even head size), got ${w.length} values.`);
  }
}

/**
 * The config.json of the Hugging Face LlamaForCausalLM equivalent to a llama2.c checkpoint.
 * @param {Llama2cHeader} h
 * @returns {Record<string, unknown>}
 */
export function llama2cHfConfig(h) {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: h.dim,
    intermediate_size: h.hiddenDim,
    num_hidden_layers: h.nLayers,
    num_attention_heads: h.nHeads,
    num_key_value_heads: h.nKvHeads,
    head_dim: h.headDim,
    vocab_size: h.vocabSize,
    max_position_embeddings: h.seqLen,
    // llama2.c's run.c hard-codes these
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    hidden_act: 'silu',
    tie_word_embeddings: h.sharedClassifier,
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
}

/**
 * Hugging Face Llama tensors (name, [out, in] shape, fp32 data) and config.json for a parsed
 * llama2.c checkpoint. q/k rows are permuted to the rotate_half layout; lm_head.weight is
 * present only when the classifier is not shared.
 * @param {Llama2cCheckpoint} ckpt
 * @returns {{ config: Record<string, unknown>, tensors: HfTensor[] }}
 */
export function llama2cToHf(ckpt) {
  const { header: h, weights: w } = ckpt;
  const D = h.dim, F = h.hiddenDim, KV = h.nKvHeads * h.headDim;
  /** @type {HfTensor[]} */
  const tensors = [];
  /**
   * @param {string} name
   * @param {number[]} shape
   * @param {Float32Array} data
   */
  const add = (name, shape, data) => tensors.push({ name, shape, data: data.slice() });
  /**
   * @param {Float32Array} a
   * @param {number} l
   * @param {number} n
   */
  const layer = (a, l, n) => a.subarray(l * n, (l + 1) * n);
  add('model.embed_tokens.weight', [h.vocabSize, D], w.tokenEmbedding);
  for (let l = 0; l < h.nLayers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [D], layer(w.rmsAtt, l, D));
    add(`${p}.self_attn.q_proj.weight`, [D, D], interleavedToHalves(layer(w.wq, l, D * D), h.nHeads, h.headDim, D));
    add(`${p}.self_attn.k_proj.weight`, [KV, D], interleavedToHalves(layer(w.wk, l, KV * D), h.nKvHeads, h.headDim, D));
    add(`${p}.self_attn.v_proj.weight`, [KV, D], layer(w.wv, l, KV * D));
    add(`${p}.self_attn.o_proj.weight`, [D, D], layer(w.wo, l, D * D));
    add(`${p}.post_attention_layernorm.weight`, [D], layer(w.rmsFfn, l, D));
    add(`${p}.mlp.gate_proj.weight`, [F, D], layer(w.w1, l, F * D));
    add(`${p}.mlp.up_proj.weight`, [F, D], layer(w.w3, l, F * D));
    add(`${p}.mlp.down_proj.weight`, [D, F], layer(w.w2, l, D * F));
  }
  add('model.norm.weight', [D], w.rmsFinal);
  if (!h.sharedClassifier) add('lm_head.weight', [h.vocabSize, D], w.wcls);
  return { config: llama2cHfConfig(h), tensors };
}
