// GPT-2 (GPT2LMHeadModel): LayerNorm, learned positions (wpe), fused c_attn, GELU (gelu_new) MLP,
// Conv1D weights stored [in, out] (transposed to [out, in] at load and back on export; PEFT writes
// fan_in_fan_out). Checkpoints saved from GPT2Model lack the "transformer." prefix: accepted.
import { Gpt2Blocks } from '../model/gpt2';
import { bool, dtypeOf, hiddenAct, posInt, posNumber, tokenId, tokenIds } from './parse';
import type { ArchDescriptor, ExpectedTensor, Json, ModelConfig, ParsedConfig } from './types';

const PREFIX = 'transformer.';
const CONV1D = /(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/;

function parse(c: Json, file: string): { config: ParsedConfig; explicitHeadDim: boolean } {
  const hiddenSize = posInt(c, file, 'n_embd');
  const numHeads = posInt(c, file, 'n_head');
  const layerNormEps = posNumber(c, file, 'layer_norm_epsilon', 1e-5);
  const eosTokenIds = tokenIds(c, file, 'eos_token_id', 50256);
  const config: ParsedConfig = {
    hiddenSize,
    // (4 * n_embd is bounded by the size checks)
    intermediateSize: c.n_inner === null || c.n_inner === undefined ? 4 * hiddenSize : posInt(c, file, 'n_inner'),
    numLayers: posInt(c, file, 'n_layer'),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    vocabSize: posInt(c, file, 'vocab_size'),
    maxPositions: posInt(c, file, 'n_positions', 1024),
    norm: 'layernorm',
    normEps: layerNormEps,
    layerNormEps,
    positions: 'learned',
    ropeTheta: null,
    ropeScaling: null,
    rope: null,
    qkNorm: false,
    tieWordEmbeddings: bool(c, file, 'tie_word_embeddings', true),
    hiddenAct: hiddenAct(c, file, 'activation_function', 'gelu_new'),
    bosTokenId: tokenId(c, file, 'bos_token_id', 50256),
    eosTokenId: eosTokenIds[0] ?? null,
    eosTokenIds,
    padTokenId: tokenId(c, file, 'pad_token_id', null),
    qkvBias: true,
    oBias: true,
    mlpBias: true,
    slidingWindow: null,
    torchDtype: dtypeOf(c),
  };
  // GPT-2 has no head_dim: its head size is always n_embd / n_head
  return { config, explicitHeadDim: false };
}

function tensors(c: ModelConfig): ExpectedTensor[] {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const out: ExpectedTensor[] = [
    { name: 'transformer.wte.weight', shape: [c.vocabSize, H] },
    { name: 'transformer.wpe.weight', shape: [c.maxPositions, H] },
  ];
  // GPT-2 uses Conv1D: weights are stored [in, out], the transpose of nn.Linear
  for (let i = 0; i < c.numLayers; i++) {
    const p = `transformer.h.${i}`;
    const add = (name: string, shape: number[]) => out.push({ name: `${p}.${name}`, shape });
    add('ln_1.weight', [H]);
    add('ln_1.bias', [H]);
    add('attn.c_attn.weight', [H, 3 * H]);
    add('attn.c_attn.bias', [3 * H]);
    add('attn.c_proj.weight', [H, H]);
    add('attn.c_proj.bias', [H]);
    add('ln_2.weight', [H]);
    add('ln_2.bias', [H]);
    add('mlp.c_fc.weight', [H, I]);
    add('mlp.c_fc.bias', [I]);
    add('mlp.c_proj.weight', [I, H]);
    add('mlp.c_proj.bias', [H]);
  }
  out.push({ name: 'transformer.ln_f.weight', shape: [H] }, { name: 'transformer.ln_f.bias', shape: [H] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H] });
  return out;
}

const GGUF_LAYER: Record<string, string> = {
  'attn.c_attn': 'attn_qkv',
  'attn.c_proj': 'attn_output',
  'mlp.c_fc': 'ffn_up',
  'mlp.c_proj': 'ffn_down',
  ln_1: 'attn_norm',
  ln_2: 'ffn_norm',
};
const GGUF_GLOBAL: Record<string, string> = { wte: 'token_embd', wpe: 'position_embd', ln_f: 'output_norm', lm_head: 'output' };

function ggufName(path: string): string | null {
  const name = path.startsWith(PREFIX) ? path.slice(PREFIX.length) : path;
  const m = /^h\.(\d+)\.(.+)$/.exec(name);
  if (m) return Object.hasOwn(GGUF_LAYER, m[2]) ? `blk.${m[1]}.${GGUF_LAYER[m[2]]}` : null;
  return Object.hasOwn(GGUF_GLOBAL, name) ? GGUF_GLOBAL[name] : null;
}

export const GPT2: ArchDescriptor = {
  id: 'gpt2',
  hfArchitectures: ['GPT2LMHeadModel'],
  modelTypes: ['gpt2'],
  configKeys: { layers: 'n_layer', hidden: 'n_embd', intermediate: 'n_inner', heads: 'n_head', kvHeads: 'n_head', positions: 'n_positions' },
  parseConfig: parse,
  expectedTensors: tensors,
  checkpointAliases: (name) => (name.startsWith(PREFIX) ? [name.slice(PREFIX.length)] : []),
  ignorableTensor: (c, name) => /(^|\.)h\.\d+\.attn\.(masked_)?bias$/.test(name) || (c.tieWordEmbeddings && name === 'lm_head.weight'),
  canonicalTensorName: (name) => (!name.startsWith(PREFIX) && name !== 'lm_head.weight' ? `${PREFIX}${name}` : name),
  storedTransposed: (name) => CONV1D.test(name),
  canonicalModule: (m) => (!m.startsWith(PREFIX) && m !== 'lm_head' ? `${PREFIX}${m}` : m),
  embeddingTensors: () => ['transformer.wte.weight', 'transformer.wpe.weight'],
  loraTargets: { allLinear: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'], attention: ['c_attn', 'attn.c_proj'] },
  peft: { fanInFanOut: true },
  gguf: {
    architecture: 'gpt2',
    tensorName: ggufName,
    knownNames: 'transformer.{wte,wpe,ln_f}, h.N.{ln_1,ln_2,attn.c_attn,attn.c_proj,mlp.c_fc,mlp.c_proj}, lm_head',
    permutedHeads: () => null,
  },
  memory: {
    // what Gpt2Blocks.acts keeps per layer
    layerActivations: (c) => {
      const C = c.hiddenSize;
      const F = c.intermediateSize;
      return [
        { name: 'h1', perToken: C }, { name: 'q', perToken: C }, { name: 'k', perToken: C }, { name: 'v', perToken: C },
        { name: 'o', perToken: C }, { name: 'x2', perToken: C }, { name: 'h2', perToken: C },
        { name: 'f', perToken: F }, { name: 'm', perToken: F },
        { name: 'mean1, rstd1, mean2, rstd2', perToken: 4 }, { name: 'lse', perToken: c.numHeads },
      ];
    },
    scratch: (c) => {
      const C = c.hiddenSize;
      const F = c.intermediateSize;
      return [
        { name: 'grad.final', perToken: C }, { name: 'grad.x', perToken: C }, { name: 'scratch.qkv, grad.qkv', perToken: 6 * C },
        { name: 'grad.m, grad.f', perToken: 2 * F }, { name: 'grad.h', perToken: C }, { name: 'grad.o, grad.q, grad.k, grad.v', perToken: 4 * C },
        { name: 'attention (lse, delta)', perToken: 2 * c.numHeads }, { name: 'final.h', perToken: C }, { name: 'final.mean, final.rstd', perToken: 2 },
        { name: 'token/position/doc/label ids', perToken: 4 },
      ];
    },
  },
  createBlocks: (ctx, c, w) => new Gpt2Blocks(ctx, c, w),
};
