// The engine with the two other training methods, driven in Node on the test GPU with the demo
// model and the sample dataset: prompt tuning (train, PEFT export and import, generation with the
// virtual tokens, the exports it refuses) and full fine-tuning (the memory refusal before any
// allocation, training, base vs fine-tuned generation, the full-model export loading back to the
// same model, a LoRA run afterwards starting from the base weights, device-loss recovery).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/device';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { bufferSource } from '../io/byteSource';
import { parsePromptTuningConfig, readPeftPromptTuning } from '../io/peft';
import { readSafetensorsHeader, readTensorF32 } from '../io/safetensors';
import { roundToF16 } from '../util/f16';
import { downloadFullWeights } from '../model/fullFinetune';
import { downloadPromptEmbeddings } from '../model/promptTuning';
import { DEMO_MODEL_DIR, REPO_ROOT } from '../model/testing/loadForTest';
import { MemoryKeyValueStore } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import type { TrainProgress } from '../train/trainer';
import type { ExportedFile } from './api';
import { Engine, type EngineOptions } from './engine';
import { engineDebug } from './debugHooks';
import type { Trained } from './services/trained';

function filesOf(dir: string): File[] {
  return readdirSync(dir).map((f) => new File([readFileSync(join(dir, f))], f));
}

function asFiles(files: ExportedFile[]): File[] {
  return files.map((f) => new File([f.bytes as Uint8Array<ArrayBuffer>], f.name));
}

async function readyEngine(opts: Partial<EngineOptions> = {}) {
  const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore(), ...opts });
  expect((await engine.init()).state).toBe('ready');
  await engine.loadModel({ kind: 'files', files: filesOf(DEMO_MODEL_DIR), name: 'stories260K' });
  const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
  await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 48, trainOn: 'all', onBadRow: 'skip', validationFraction: 0.1, seed: 1 });
  return engine;
}

function gpuOf(engine: Engine): GpuContext {
  return engineDebug(engine).gpu();
}

/** What the engine holds as trained, checked to be of `kind`. */
function trainedAs<K extends Trained['kind']>(engine: Engine, kind: K): Extract<Trained, { kind: K }> {
  const t = engineDebug(engine).trained();
  expect(t.kind).toBe(kind);
  return t as Extract<Trained, { kind: K }>;
}

const greedy = { chat: false, sampling: { maxTokens: 10, temperature: 0, topK: 0, topP: 1, seed: 0, greedy: true } };
const quiet = { onProgress: () => {}, onStatus: () => {} };

const base: TrainConfig = { ...DEFAULT_CONFIG, batchSize: 2, seqLen: 48, warmupSteps: 0, schedule: 'constant', evalEvery: 0, checkpointEvery: 3, maxSteps: 3 };

describe('Engine: prompt tuning', () => {
  const config: TrainConfig = { ...base, method: 'prompt', pack: false, learningRate: 3e-2, promptTuning: { numVirtualTokens: 4, init: 'text', initText: 'Once upon a time' }, evalEvery: 3 };

  it('refuses packing, trains, exports PEFT prompt tuning, refuses GGUF and merging, imports it back', async () => {
    const engine = await readyEngine();
    await expect(engine.startTraining({ ...config, pack: true }, quiet)).rejects.toThrow(/Prompt tuning needs packing off/);
    const before = await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: false });
    const progress: TrainProgress[] = [];
    const summary = await engine.startTraining(config, { onProgress: (p) => progress.push(p), onStatus: () => {} });
    expect(summary.status).toBe('finished');
    expect(summary.method).toBe('prompt');
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3]);
    expect(progress.every((p) => Number.isFinite(p.loss))).toBe(true);
    expect(progress[2].valLoss).toBeGreaterThan(0);
    const [run] = await engine.listRuns();
    expect(run.method).toBe('prompt');

    const files = await engine.exportPeft();
    expect(files.map((f) => f.name).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const cfgText = new TextDecoder().decode(files.find((f) => f.name === 'adapter_config.json')!.bytes);
    expect(JSON.parse(cfgText)).toMatchObject({ peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: 4, token_dim: 64, num_layers: 5, num_attention_heads: 8, base_model_name_or_path: 'stories260K' });
    const weights = files.find((f) => f.name === 'adapter_model.safetensors')!.bytes;
    const back = await readPeftPromptTuning(parsePromptTuningConfig(cfgText), bufferSource(weights, 'adapter_model.safetensors'));
    expect(Array.from(back.embeddings)).toEqual(Array.from(await downloadPromptEmbeddings(gpuOf(engine), trainedAs(engine, 'prompt').tuning)));
    // the checkpoint of the last step holds the same embeddings
    expect(Array.from((await engine.exportPeft(run.id))[0].bytes)).toEqual(Array.from(files[0].bytes));

    await expect(engine.exportGguf()).rejects.toThrow(/llama.cpp has no prompt-tuning adapters.*Export the PEFT adapter/);
    await expect(engine.exportMerged(run.id)).rejects.toThrow(/Virtual tokens cannot be merged/);

    const tuned = await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: true });
    expect(await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: false })).toBe(before);
    const fresh = await readyEngine();
    expect(await fresh.importAdapter(asFiles(files))).toMatchObject({ method: 'prompt', numVirtualTokens: 4 });
    expect(await fresh.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: true })).toBe(tuned);
  });
});

describe('Engine: full fine-tuning', () => {
  const config: TrainConfig = { ...base, method: 'full', learningRate: 2e-3 };

  it('is refused before anything is allocated when the estimate exceeds the budget, naming what to change', async () => {
    const engine = await readyEngine({ deviceBudgetBytes: 6 * 2 ** 20 });
    const live = gpuOf(engine).allocator.liveBytes;
    await expect(engine.startTraining(config, quiet)).rejects.toThrow(
      /^Full fine-tuning needs about [\d.]+ MiB of GPU memory .* but the budget is 6.0 MiB\. Switch the method to LoRA, which trains a small adapter and needs far less; or lower the batch size or the sequence length/,
    );
    expect(gpuOf(engine).allocator.liveBytes).toBe(live);
    expect(await engine.listRuns()).toEqual([]);
    // the job's own budget wins over the engine's
    expect((await engine.estimate({ ...config, deviceBudgetBytes: 2 ** 30 })).fits).toBe(true);
    // without any budget set, full fine-tuning is checked against the 4 GiB default and LoRA is not
    const plain = await readyEngine();
    expect((await plain.estimate(config)).limitBytes).toBe(4 * 2 ** 30);
    expect((await plain.estimate({ ...config, method: 'lora' })).limitBytes).toBeNull();
  });

  it('trains every weight; base and fine-tuned generation; the exported model loads back to the same model; LoRA afterwards starts from the base', async () => {
    const engine = await readyEngine();
    const lora: TrainConfig = { ...base, maxSteps: 1, checkpointEvery: 0 };
    const loraLoss: number[] = [];
    await engine.startTraining(lora, { onProgress: (p) => loraLoss.push(p.loss), onStatus: () => {} });
    const before = await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: false });

    const losses: number[] = [];
    const summary = await engine.startTraining(config, { onProgress: (p) => losses.push(p.loss), onStatus: () => {} });
    expect(summary.status).toBe('finished');
    expect(summary.method).toBe('full');
    expect(losses.length).toBe(3);
    const tuned = await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: true });
    expect(tuned).not.toBe(before);
    // the base comes back (reloaded from the model's files), then the fine-tuned weights again
    expect(await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: false })).toBe(before);
    expect(await engine.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: true })).toBe(tuned);

    await expect(engine.exportPeft()).rejects.toThrow(/whole model, not an adapter/);
    await expect(engine.exportGguf()).rejects.toThrow(/convert_hf_to_gguf/);
    const files = await engine.exportMerged();
    expect(files.map((f) => f.name).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const model = files.find((f) => f.name === 'model.safetensors')!.bytes;
    const header = await readSafetensorsHeader(bufferSource(model, 'model.safetensors'));
    const masters = await downloadFullWeights(gpuOf(engine), trainedAs(engine, 'full').finetune);
    expect(header.tensors.map((t) => t.name).sort()).toEqual([...masters.keys()].sort());
    expect(header.tensors.every((t) => t.dtype === 'F16')).toBe(true);
    const q = 'model.layers.3.self_attn.q_proj.weight';
    expect(Array.from(await readTensorF32(bufferSource(model, 'm'), header, q))).toEqual(Array.from(masters.get(q)!.data, roundToF16));
    // the same from the run's checkpoint, and the f32 masters exactly on request
    const [run] = (await engine.listRuns()).filter((r) => r.method === 'full');
    expect(Array.from((await engine.exportMerged(run.id))[0].bytes)).toEqual(Array.from(model));
    const f32 = (await engine.exportMerged(undefined, { dtype: 'float32' }))[0].bytes;
    const h32 = await readSafetensorsHeader(bufferSource(f32, 'm'));
    expect(Array.from(await readTensorF32(bufferSource(f32, 'm'), h32, q))).toEqual(Array.from(masters.get(q)!.data));

    // the exported folder is the fine-tuned model
    const other = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    await other.init();
    const info = await other.loadModel({ kind: 'files', files: asFiles(files), name: 'tuned' });
    expect(info.parameterCount).toBe([...masters.values()].reduce((n, t) => n + t.data.length, 0));
    expect(await other.generate({ ...greedy, prompt: 'Once upon a time', useAdapter: false })).toBe(tuned);

    // a LoRA run after full fine-tuning trains on the base weights again
    const again: number[] = [];
    await engine.startTraining(lora, { onProgress: (p) => again.push(p.loss), onStatus: () => {} });
    expect(again).toEqual(loraLoss);
  });

  it('a lost GPU mid-run: the base model is reloaded, the run resumes from its checkpoint and ends with the same weights', async () => {
    const c: TrainConfig = { ...config, maxSteps: 4, checkpointEvery: 2 };
    const reference = await readyEngine();
    await reference.startTraining(c, quiet);
    const expected = (await reference.exportMerged(undefined, { dtype: 'float32' }))[0].bytes;

    const engine = await readyEngine();
    const notes: string[] = [];
    let lost = false;
    const summary = await engine.startTraining(c, {
      onProgress: (p) => {
        if (p.step === 3 && !lost) {
          lost = true;
          void engineDebug(engine).loseDevice();
        }
      },
      onStatus: (_s, m) => m && notes.push(m),
    });
    expect(summary.status).toBe('finished');
    expect(notes.some((m) => /resumed from the checkpoint at step 2/.test(m))).toBe(true);
    const got = (await engine.exportMerged(undefined, { dtype: 'float32' }))[0].bytes;
    expect(Array.from(got)).toEqual(Array.from(expected));
  });
});
