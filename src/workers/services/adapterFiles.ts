// Adapter files: the exports (PEFT, GGUF, a merged or fully fine-tuned model folder) from a run's
// checkpoint or from what is in memory, and the import of a PEFT adapter (LoRA, DoRA, prompt
// tuning, (IA)³ or prefix tuning).
import { createAdapter, downloadAdapter } from '../../model/adapter';
import { f32ArrayToF16Bits, unpackHalves } from '../../util/f16';
import { downloadF32, downloadU32 } from '../../gpu/tensor';
import { blobSource } from '../../io/byteSource';
import type { LoraWeights } from '../../io/loraTargets';
import { parseDoraMagnitudeKey, parseLoraCheckpointKey } from '../../io/loraKeys';
import { initDoraMagnitudes } from '../../model/doraLinear';
import { parsePeftConfig, parsePromptTuningConfig, peftTypeOf, readPeftAdapter, readPeftPromptTuning } from '../../io/peft';
import {
  exportGgufFile,
  exportPeftFiles,
  exportPrefixTuningFiles,
  exportPromptTuningFiles,
  PREFIX_NO_MERGE,
  ggufRefusal,
  mergeAdapter,
  writeFullModel,
  type AdapterExportInput,
  type FullExportDtype,
} from '../../train/export';
import { downloadFullWeights } from '../../model/fullFinetune';
import { createPromptTuning, downloadPromptEmbeddings, PROMPT_EMBEDDINGS_KEY } from '../../model/promptTuning';
import type { TrainConfig, TrainMethod } from '../../train/config';
import type { ExportedFile, ExportProgressEvent, ImportedAdapter } from '../api';
import { requireModel, type EngineCore } from './core';
import { releaseTrained, restoreBaseWeights, trainedMethod } from './trained';
import { dequantizeOnCpu, isQuantized } from '../../gpu/ops/matmulQuant';
import { createIa3, downloadIa3, IA3_LLAMA_FEEDFORWARD, IA3_LLAMA_TARGETS, ia3Modules } from '../../model/ia3';
import { parseIa3Config, parseIa3Key, readPeftIa3 } from '../../io/peftIa3';
import { exportIa3PeftFiles, mergeIa3, type Ia3ExportInput } from '../../train/exportIa3';
import { exportBottleneckFiles } from '../../train/exportBottleneck';
import { downloadBottleneck } from '../../model/bottleneck';
import { BOTTLENECK_NO_MERGE } from '../../train/export';
import { bottleneckOf, prefixTuningOf } from '../../train/config';
import { createPrefixTuning, downloadPrefixTable, PREFIX_PROJECTION_NAMES, prefixParamName, projectPrefix, releasePrefixTuning, toPeftTable } from '../../model/prefixTuning';
import { parsePrefixTuningConfig, readPeftPrefixTuning } from '../../io/peftPrefix';

/** The run's record and checkpoint, checked against the loaded model. */
async function runCheckpoint(core: EngineCore, runId: string) {
  const { info } = requireModel(core);
  const run = await core.store.getRun(runId);
  if (!run) throw new Error('That run no longer exists.');
  if (run.model.fingerprint !== info.fingerprint) throw new Error(`This run belongs to ${run.model.name}; load that model to export it.`);
  const ckpt = await core.store.loadCheckpoint(run);
  if (!ckpt) throw new Error('This run has no saved checkpoint yet.');
  return { run, ckpt, config: run.config as TrainConfig };
}

/** What an export exports: the run's method, or (no run id) the method trained or imported last. */
async function methodOf(core: EngineCore, runId?: string): Promise<TrainMethod> {
  if (!runId) {
    const m = trainedMethod(core.trained);
    if (!m) throw new Error('There is no adapter to export yet: train one first.');
    return m;
  }
  const run = await core.store.getRun(runId);
  if (!run) throw new Error('That run no longer exists.');
  return (run.config as Partial<TrainConfig>).method ?? 'lora';
}

/** The adapter to export: the run's checkpoint, or the adapter in memory. */
async function exportInput(core: EngineCore, runId?: string): Promise<AdapterExportInput> {
  const { model, info } = requireModel(core);
  let adapters: LoraWeights[];
  let spec: { rank: number; alpha: number; dropout: number; useRslora: boolean; useDora: boolean };
  if (runId) {
    const { ckpt, config: cfg } = await runCheckpoint(core, runId);
    spec = { rank: cfg.lora.rank, alpha: cfg.lora.alpha, dropout: cfg.lora.dropout, useRslora: cfg.lora.useRslora, useDora: !!cfg.lora.useDora };
    const byModule = new Map<string, LoraWeights>();
    for (const [key, value] of Object.entries(ckpt.params)) {
      const doraModule = parseDoraMagnitudeKey(key);
      if (doraModule !== null) {
        const w = byModule.get(doraModule) ?? { module: doraModule, a: new Float32Array(0), b: new Float32Array(0) };
        w.magnitude = Float32Array.from(value);
        byModule.set(doraModule, w);
        continue;
      }
      const k = parseLoraCheckpointKey(key);
      if (!k) continue;
      const w = byModule.get(k.module) ?? { module: k.module, a: new Float32Array(0), b: new Float32Array(0) };
      if (k.factor === 'A') w.a = Float32Array.from(value);
      else w.b = Float32Array.from(value);
      byModule.set(k.module, w);
    }
    adapters = [...byModule.values()];
  } else {
    const t = core.trained;
    if (t.kind !== 'lora') throw new Error('There is no adapter to export yet: train one first.');
    const s = t.adapter.spec;
    spec = { rank: s.rank, alpha: s.alpha, dropout: s.dropout, useRslora: s.useRslora, useDora: !!s.useDora };
    adapters = [...(await downloadAdapter(core.gpu.require(), t.adapter))].map(([module, w]) => ({ module, a: w.A, b: w.B, ...(w.magnitude ? { magnitude: w.magnitude } : {}) }));
  }
  return { config: model.config, modelName: info.name, ...spec, adapters };
}

/** (IA)³ vectors to export: the run's checkpoint, or the vectors in memory (PEFT's default targets either way). */
async function ia3Export(core: EngineCore, runId?: string): Promise<Ia3ExportInput> {
  const { model, info } = requireModel(core);
  let vectors: Map<string, Float32Array>;
  let targets: { targetModules: string[]; feedforwardModules: string[] } | undefined;
  if (runId) {
    const { ckpt } = await runCheckpoint(core, runId);
    vectors = new Map();
    for (const [key, value] of Object.entries(ckpt.params)) {
      const m = parseIa3Key(key);
      if (m !== null) vectors.set(m, Float32Array.from(value));
    }
  } else {
    const t = core.trained;
    if (t.kind !== 'ia3') throw new Error('There are no (IA)³ vectors to export yet: train or import an (IA)³ adapter first.');
    vectors = await downloadIa3(core.gpu.require(), t.ia3);
    targets = { targetModules: t.ia3.targetModules, feedforwardModules: t.ia3.feedforwardModules };
  }
  const mods = ia3Modules(model.config, targets?.targetModules, targets?.feedforwardModules);
  const modules = mods.map((m) => {
    const values = vectors.get(m.path);
    if (!values) throw new Error(`This run's checkpoint holds no (IA)³ vector for ${m.path}.`);
    return { path: m.path, feedforward: m.feedforward, inFeatures: m.inFeatures, outFeatures: m.outFeatures, values };
  });
  // a run trains PEFT's default targets (createTrainable)
  return { config: model.config, modelName: info.name, targetModules: targets?.targetModules ?? IA3_LLAMA_TARGETS, feedforwardModules: targets?.feedforwardModules ?? IA3_LLAMA_FEEDFORWARD, modules };
}

/** Prompt-tuning embeddings to export: the run's checkpoint, or the virtual tokens in memory. */
async function promptExport(core: EngineCore, runId?: string): Promise<ExportedFile[]> {
  const { model, info } = requireModel(core);
  let embeddings: Float32Array;
  if (runId) {
    const { ckpt } = await runCheckpoint(core, runId);
    const e = ckpt.params[PROMPT_EMBEDDINGS_KEY];
    if (!e) throw new Error('This run\'s checkpoint holds no prompt embeddings.');
    embeddings = Float32Array.from(e);
  } else {
    const t = core.trained;
    if (t.kind !== 'prompt') throw new Error('There are no virtual tokens to export yet: train or import a prompt-tuning adapter first.');
    embeddings = await downloadPromptEmbeddings(core.gpu.require(), t.tuning);
  }
  const C = model.config.hiddenSize;
  return exportPromptTuningFiles({ config: model.config, modelName: info.name, numVirtualTokens: embeddings.length / C, embeddings });
}

/** The key/value prefix to export as PEFT PREFIX_TUNING: the run's checkpoint, or the prefix in memory. */
async function prefixExport(core: EngineCore, runId?: string): Promise<ExportedFile[]> {
  const { model, info } = requireModel(core);
  const TD = model.config.numKvHeads * model.config.headDim;
  let n: number;
  let table: Float32Array;
  if (runId) {
    const { ckpt, config } = await runCheckpoint(core, runId);
    const pt = prefixTuningOf(config);
    n = pt.numVirtualTokens;
    if (pt.projection) {
      // the run trained the MLP: its output is the prefix (what PEFT saves too)
      const N = PREFIX_PROJECTION_NAMES;
      const get = (k: keyof typeof N) => {
        const v = ckpt.params[N[k]];
        if (!v) throw new Error(`This run's checkpoint has no ${N[k]}: it was not saved by a prefix-tuning run with the MLP.`);
        return Float32Array.from(v);
      };
      const ctx = core.gpu.require();
      const p = createPrefixTuning(ctx, model.config, { n, seed: 0, projection: { hidden: pt.encoderHiddenSize ?? TD, initial: { emb: get('emb'), w1: get('w1'), b1: get('b1'), w2: get('w2'), b2: get('b2') } } });
      try {
        await projectPrefix(ctx, p);
        table = await downloadPrefixTable(ctx, p);
      } finally {
        releasePrefixTuning(ctx, p);
      }
      return exportPrefixTuningFiles({ config: model.config, modelName: info.name, numVirtualTokens: n, table });
    }
    const blocks = Array.from({ length: model.config.numLayers }, (_, l) => {
      const v = ckpt.params[prefixParamName(l)];
      if (!v || v.length !== 2 * n * TD) throw new Error(`This run's checkpoint holds no prefix for layer ${l} (${prefixParamName(l)}): it was not saved by a prefix-tuning run of this model.`);
      return v;
    });
    table = toPeftTable(blocks, n, TD);
  } else {
    const t = core.trained;
    if (t.kind !== 'prefix') throw new Error('There is no prefix to export yet: train or import a prefix-tuning adapter first.');
    n = t.prefix.n;
    table = await downloadPrefixTable(core.gpu.require(), t.prefix);
  }
  return exportPrefixTuningFiles({ config: model.config, modelName: info.name, numVirtualTokens: n, table });
}

/** Bottleneck adapters in the AdapterHub adapters layout: the run's checkpoint, or the adapter in memory. */
async function bottleneckExport(core: EngineCore, runId?: string): Promise<ExportedFile[]> {
  const { model, info } = requireModel(core);
  const modelType = typeof model.assets.rawConfig.model_type === 'string' ? model.assets.rawConfig.model_type : undefined;
  if (runId) {
    const { ckpt, config } = await runCheckpoint(core, runId);
    const b = bottleneckOf(config);
    const params = new Map(Object.entries(ckpt.params));
    const name = [...params.keys()][0]?.match(/\.adapters\.([^.]+)\.adapter_/)?.[1] ?? 'bottleneck';
    return exportBottleneckFiles({ config: model.config, modelType, modelName: info.name, variant: b.variant, reductionFactor: b.reductionFactor, name, params });
  }
  const t = core.trained;
  if (t.kind !== 'bottleneck') throw new Error('There is no bottleneck adapter to export yet: train one first.');
  const params = await downloadBottleneck(core.gpu.require(), t.bottleneck);
  return exportBottleneckFiles({ config: model.config, modelType, modelName: info.name, variant: t.bottleneck.variant, reductionFactor: t.bottleneck.reductionFactor, name: t.bottleneck.name, params });
}

export async function exportPeft(core: EngineCore, runId?: string): Promise<ExportedFile[]> {
  await core.gpu.ready();
  const method = await methodOf(core, runId);
  if (method === 'full') throw new Error('A fully fine-tuned model is a whole model, not an adapter: export the full model (exportMerged) instead.');
  if (method === 'prompt') return promptExport(core, runId);
  if (method === 'ia3') return exportIa3PeftFiles(await ia3Export(core, runId));
  if (method === 'bottleneck') return bottleneckExport(core, runId);
  if (method === 'prefix') return prefixExport(core, runId);
  return exportPeftFiles(await exportInput(core, runId));
}

export async function exportGguf(core: EngineCore, runId?: string): Promise<ExportedFile> {
  await core.gpu.ready();
  const method = await methodOf(core, runId);
  if (method !== 'lora') throw new Error(ggufRefusal(method));
  return exportGgufFile(await exportInput(core, runId));
}

/** config.json, tokenizer and generation files beside an exported model. */
function modelFolderFiles(core: EngineCore, dtype: string): ExportedFile[] {
  const { model } = requireModel(core);
  const enc = new TextEncoder();
  const files: ExportedFile[] = [
    { name: 'config.json', bytes: enc.encode(JSON.stringify({ ...model.assets.rawConfig, torch_dtype: dtype }, null, 2)), mime: 'application/json' },
  ];
  if (model.assets.tokenizerJson) files.push({ name: 'tokenizer.json', bytes: enc.encode(JSON.stringify(model.assets.tokenizerJson)), mime: 'application/json' });
  if (model.assets.tokenizerConfig) files.push({ name: 'tokenizer_config.json', bytes: enc.encode(JSON.stringify(model.assets.tokenizerConfig, null, 2)), mime: 'application/json' });
  if (model.assets.generationConfig) files.push({ name: 'generation_config.json', bytes: enc.encode(JSON.stringify(model.assets.generationConfig, null, 2)), mime: 'application/json' });
  return files;
}

/**
 * LoRA: the base weights with the adapter merged in (fp16). Full fine-tuning: the fine-tuned
 * weights, fp16 by default or the f32 masters with { dtype: 'float32' }. Either way with
 * config.json and the tokenizer files, loadable by transformers.
 */
export async function exportMerged(core: EngineCore, runId?: string, options?: { dtype?: 'float16' | 'float32' }, onProgress?: (e: ExportProgressEvent) => void): Promise<ExportedFile[]> {
  await core.gpu.ready();
  const method = await methodOf(core, runId);
  if (method === 'bottleneck') throw new Error(BOTTLENECK_NO_MERGE);
  if (method === 'prefix') throw new Error(PREFIX_NO_MERGE);
  if (method === 'prompt') {
    throw new Error('Virtual tokens cannot be merged into the weights: export the PEFT prompt-tuning adapter, which PEFT loads on top of the base model.');
  }
  const { model, info } = requireModel(core);
  const ctx = core.gpu.require();
  if (method === 'full') {
    const dtype: FullExportDtype = options?.dtype === 'float32' ? 'F32' : 'F16';
    let weights: Map<string, { shape: number[]; data: Float32Array }>;
    if (runId) {
      const { ckpt } = await runCheckpoint(core, runId);
      weights = new Map();
      for (const [name, t] of model.weights) {
        const v = ckpt.params[name];
        if (!v) throw new Error(`This run's checkpoint has no ${name}: it was not saved by a full fine-tuning run of this model.`);
        weights.set(name, { shape: [...t.shape], data: Float32Array.from(v) });
      }
    } else {
      onProgress?.({ phase: 'reading', bytesDone: 0, bytesTotal: null });
      const t = core.trained;
      if (t.kind !== 'full') throw new Error('There is no fully fine-tuned model to export yet: train one first.');
      weights = await downloadFullWeights(ctx, t.finetune);
    }
    onProgress?.({ phase: 'writing', bytesDone: 0, bytesTotal: null });
    const bytes = writeFullModel(model.config, weights, { dtype, modelName: info.name });
    return [{ name: 'model.safetensors', bytes, mime: 'application/octet-stream' }, ...modelFolderFiles(core, dtype === 'F32' ? 'float32' : 'float16')];
  }
  const input = method === 'ia3' ? null : await exportInput(core, runId);
  const ia3Input = method === 'ia3' ? await ia3Export(core, runId) : null;
  // merge into the base weights, not into fine-tuned ones
  await restoreBaseWeights(core);
  const base = new Map<string, { shape: number[]; halves?: Uint16Array; f32?: Float32Array }>();
  const bytesTotal = [...model.weights.values()].reduce((s, t) => s + t.buffer.size, 0);
  let bytesDone = 0;
  onProgress?.({ phase: 'reading', bytesDone, bytesTotal });
  for (const [name, t] of model.weights) {
    // a base quantized at load is merged as the values it trained against, dequantized to fp16
    if (isQuantized(t)) base.set(name, { shape: [...t.shape], halves: f32ArrayToF16Bits(await dequantizeOnCpu(ctx, t)) });
    else if (t.dtype === 'f16') base.set(name, { shape: [...t.shape], halves: unpackHalves(await downloadU32(ctx, t), t.shape.reduce((a, b) => a * b, 1)) });
    else base.set(name, { shape: [...t.shape], f32: await downloadF32(ctx, t) });
    bytesDone += t.buffer.size;
    onProgress?.({ phase: 'reading', bytesDone, bytesTotal });
  }
  onProgress?.({ phase: 'writing', bytesDone: 0, bytesTotal: null });
  const merged = ia3Input ? mergeIa3(ia3Input, base) : mergeAdapter(input!, base);
  return [{ name: 'model.safetensors', bytes: merged, mime: 'application/octet-stream' }, ...modelFolderFiles(core, 'float16')];
}

export async function importAdapter(core: EngineCore, files: File[]): Promise<ImportedAdapter> {
  await core.gpu.ready();
  const { model } = requireModel(core);
  const cfgFile = files.find((f) => f.name === 'adapter_config.json');
  const weightsFile = files.find((f) => f.name === 'adapter_model.safetensors');
  if (!cfgFile || !weightsFile) throw new Error('Select both adapter_config.json and adapter_model.safetensors of a PEFT adapter (LoRA, prompt tuning, (IA)³ or prefix tuning).');
  if (core.training) throw new Error('A run is training. Pause or stop it before importing an adapter.');
  const cfgText = await cfgFile.text();
  const ctx = core.gpu.require();
  if (peftTypeOf(cfgText) === 'PROMPT_TUNING') {
    const pc = parsePromptTuningConfig(cfgText);
    const { embeddings } = await readPeftPromptTuning(pc, blobSource(weightsFile, weightsFile.name), model.config);
    releaseTrained(core);
    await restoreBaseWeights(core);
    core.trained = { kind: 'prompt', tuning: await createPromptTuning(ctx, model, { n: pc.numVirtualTokens, init: 'random', seed: 0, initial: embeddings }) };
    return { method: 'prompt', numVirtualTokens: pc.numVirtualTokens, rank: 0, alpha: 0, targetModules: [] };
  }
  if (peftTypeOf(cfgText) === 'PREFIX_TUNING') {
    const pc = parsePrefixTuningConfig(cfgText);
    if (!model.blocks.supportsPrefix) throw new Error(`Prefix-tuning adapters are not available for ${model.config.hfArchitecture} yet (they run on the Llama family).`);
    const table = await readPeftPrefixTuning(pc, blobSource(weightsFile, weightsFile.name), model.config);
    releaseTrained(core);
    await restoreBaseWeights(core);
    core.trained = { kind: 'prefix', prefix: createPrefixTuning(ctx, model.config, { n: pc.numVirtualTokens, seed: 0, initialTable: table }) };
    return { method: 'prefix', numVirtualTokens: pc.numVirtualTokens, rank: 0, alpha: 0, targetModules: [] };
  }
  if (peftTypeOf(cfgText) === 'IA3') {
    const ic = parseIa3Config(cfgText);
    if (!model.blocks.supportsIa3) throw new Error(`(IA)³ adapters are not available for ${model.config.hfArchitecture} yet (they run on the Llama family).`);
    const mods = ia3Modules(model.config, ic.targetModules, ic.feedforwardModules);
    const initial = await readPeftIa3(mods, blobSource(weightsFile, weightsFile.name));
    releaseTrained(core);
    await restoreBaseWeights(core);
    core.trained = { kind: 'ia3', ia3: createIa3(ctx, model.config, { targets: ic.targetModules, feedforward: ic.feedforwardModules, initial }) };
    return { method: 'ia3', rank: 0, alpha: 0, targetModules: ic.targetModules };
  }
  const peftConfig = parsePeftConfig(cfgText);
  const { adapters } = await readPeftAdapter(peftConfig, blobSource(weightsFile, weightsFile.name), model.config);
  const initial = new Map(adapters.map((a) => [a.module, { A: a.a, B: a.b, ...(a.magnitude ? { magnitude: a.magnitude } : {}) }]));
  const names = [...new Set(adapters.map((a) => a.module.split('.').pop()!))];
  releaseTrained(core);
  await restoreBaseWeights(core);
  const adapter = createAdapter(
    ctx,
    model.config,
    { rank: peftConfig.r, alpha: peftConfig.loraAlpha, dropout: 0, useRslora: peftConfig.useRslora, useDora: peftConfig.useDora, targetModules: names },
    0,
    initial,
  );
  // a module the targets reach but the file lacks: B = 0 and m = ‖W‖, so it changes nothing
  if (peftConfig.useDora) await initDoraMagnitudes(ctx, adapter, (name) => model.weights.get(name), new Set(adapters.map((a) => a.module)));
  core.trained = { kind: 'lora', adapter };
  return { method: 'lora', rank: peftConfig.r, alpha: peftConfig.loraAlpha, targetModules: names, ...(peftConfig.useDora ? { dora: true } : {}) };
}
