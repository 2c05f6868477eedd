// The model session: where a model's files come from (the demo, a URL, the Hugging Face Hub, a
// dropped folder), loading it onto the GPU with its tokenizer and chat template, unloading it,
// and uploading it again to a new device after a device loss.
import { chatTemplateInfo } from '../../data';
import { archOf } from '../../arch/registry';
import { CausalLM } from '../../model/causalLM';
import { folderFromFiles, type ModelFolder } from '../../model/folder';
import { loadWeights, ModelOutOfMemoryError, readModelAssets } from '../../model/load';
import { folderFromUrl, hubFileUrl } from '../../model/remote';
import { loadTokenizer } from '../../model/tokenizer';
import { guardGpuWork, unwrapGuarded } from '../../gpu/guard';
import type { Tensor } from '../../gpu/tensor';
import { storedSourceOf } from '../runModel';
import type { EngineStatus, LoadModelOptions, LoadProgressEvent, ModelInfo, ModelSource } from '../api';
import { assetUrl, type EngineCore } from './core';
import { releaseTrained } from './trained';
import { baseWeightsBytes } from '../../train/memory';

async function folderFor(core: EngineCore, source: ModelSource, onProgress?: (e: LoadProgressEvent) => void): Promise<ModelFolder> {
  const progress = (p: { file: string; bytesDone: number; bytesTotal: number | null; fromCache: boolean }) =>
    onProgress?.({ phase: 'download', file: p.file, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, fromCache: p.fromCache });
  const fetchImpl = core.opts.fetch;
  switch (source.kind) {
    case 'demo':
      return folderFromUrl('stories260K', (f) => assetUrl(core, `/models/stories260K/${f}`), { onProgress: progress, fetch: fetchImpl });
    case 'url': {
      const base = source.baseUrl.endsWith('/') ? source.baseUrl : `${source.baseUrl}/`;
      return folderFromUrl(source.name ?? base, (f) => new URL(f, base).toString(), { onProgress: progress, fetch: fetchImpl });
    }
    case 'hub': {
      const cache = typeof caches !== 'undefined' ? await caches.open('whetstone-hub-v1') : null;
      return folderFromUrl(source.repo, hubFileUrl(source.repo, source.revision ?? 'main', source.endpoint), { onProgress: progress, cache, fetch: fetchImpl, timeoutMs: source.timeoutMs });
    }
    case 'files':
      return folderFromFiles(source.files, source.name);
  }
}

export async function loadModel(core: EngineCore, source: ModelSource, onProgress?: (e: LoadProgressEvent) => void, opts: LoadModelOptions = {}): Promise<ModelInfo> {
  const ctx = await core.gpu.ready();
  const folder = await folderFor(core, source, onProgress);
  const quantize = opts.quantize ?? 'none';
  if (!['none', 'int8', 'int4'].includes(quantize)) throw new Error(`quantize must be none, int8 or int4 (got "${String(quantize)}")`);
  const assets = { ...(await readModelAssets(folder)), quantize };
  onProgress?.({ phase: 'tokenizer', bytesDone: 0, bytesTotal: null });
  const tokenizer = loadTokenizer(assets.tokenizerJson, assets.tokenizerConfig, assets.name);
  const template = chatTemplateInfo(assets.tokenizerConfig ?? {}, tokenizer, { chatTemplate: assets.chatTemplate });
  // free the previous model only once the new one's files are known to be good
  unloadModel(core);
  let uploaded: Map<string, Tensor> | null = null;
  const outcome = await guardGpuWork(ctx, async () => {
    uploaded = await loadWeights(ctx, folder, assets, (p) => onProgress?.({ phase: p.phase === 'done' ? 'done' : 'weights', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, file: p.tensor }));
    return uploaded;
  });
  if (!outcome.ok) for (const t of (uploaded as Map<string, Tensor> | null)?.values() ?? []) ctx.allocator.release(t.buffer);
  const weights = unwrapGuarded(outcome, 'while uploading the model weights', (f) => new ModelOutOfMemoryError(f, assets.parameterCount * 2));
  const model = new CausalLM(ctx, assets, weights);
  const c = assets.config;
  const notes: string[] = [];
  if (assets.gguf) notes.push(`Loaded from the GGUF file ${assets.gguf.file} (tensor types ${assets.gguf.types.join(', ')}); Q8_0, Q6_K, Q4_0 and Q4_K linear layers stay quantized on the GPU.`);
  if (assets.gguf?.types.includes('Q5_K')) notes.push('Q5_K tensors are dequantized to fp16 on the GPU (no lossless 5-bit layout: one rounding, relative error at most 2^-11), so they take fp16 memory.');
  if (!assets.chatTemplate) notes.push('No chat template: chat and instruction data use the documented default template.');
  const info: ModelInfo = {
    name: assets.name,
    architecture: c.architecture,
    hfArchitecture: c.hfArchitecture,
    parameterCount: assets.parameterCount,
    layers: c.numLayers,
    hidden: c.hiddenSize,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    vocab: c.vocabSize,
    maxPositions: c.maxPositions,
    tiedEmbeddings: c.tieWordEmbeddings,
    hasChatTemplate: !!assets.chatTemplate,
    loraTargets: { all: [...archOf(c).loraTargets.allLinear], attention: [...archOf(c).loraTargets.attention] },
    weightBytes: [...weights.values()].reduce((s, t) => s + t.buffer.size, 0),
    quantization: quantize,
    weightBytesByQuantization: { none: baseWeightsBytes(c, 'none'), int8: baseWeightsBytes(c, 'int8'), int4: baseWeightsBytes(c, 'int4') },
    fingerprint: assets.fingerprint,
    notes,
  };
  core.loaded = { folder, model, tokenizer, template, info, source: storedSourceOf(source, assets.name) };
  core.dataset = null;
  return info;
}

export function unloadModel(core: EngineCore): void {
  const ctx = core.gpu.context;
  if (!core.loaded || !ctx) return;
  releaseTrained(core);
  core.weightsFineTuned = false;
  core.training?.trainer.release();
  core.training = null;
  core.loaded.model.release();
  for (const t of core.loaded.model.weights.values()) ctx.allocator.release(t.buffer);
  core.loaded = null;
}

/** After a device loss: a new device, and the model's weights uploaded to it again. */
export async function recoverDevice(core: EngineCore): Promise<EngineStatus> {
  const previous = core.loaded;
  core.loaded = null;
  core.gpu.forget();
  const status = await core.gpu.init();
  if (status.state !== 'ready' || !previous) return status;
  const assets = previous.model.assets;
  const ctx = core.gpu.require();
  const weights = await loadWeights(ctx, previous.folder, assets);
  core.loaded = { ...previous, model: new CausalLM(ctx, assets, weights) };
  return status;
}
