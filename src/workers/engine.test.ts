// The engine the worker exposes, driven directly in Node on the test GPU: load the demo model
// and the sample dataset from File objects, train a few steps, export PEFT and GGUF files, parse
// them back, and import the PEFT adapter again.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/device';
import { nodeGpu } from '../gpu/testing/nodeGpu';
import { bufferSource } from '../io/byteSource';
import { readGguf } from '../io/gguf';
import { parsePeftConfig, readPeftAdapter } from '../io/peft';
import { DEMO_MODEL_DIR, REPO_ROOT } from '../model/testing/loadForTest';
import { MemoryKeyValueStore } from '../train/checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../train/config';
import type { TrainProgress } from '../train/trainer';
import { Engine } from './engine';
import { engineDebug } from './debugHooks';

function filesOf(dir: string): File[] {
  return readdirSync(dir).map((f) => new File([readFileSync(join(dir, f))], f));
}

const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  lora: { ...DEFAULT_CONFIG.lora, rank: 4, alpha: 8 },
  maxSteps: 4,
  batchSize: 2,
  seqLen: 64,
  learningRate: 5e-3,
  warmupSteps: 0,
  evalEvery: 2,
  checkpointEvery: 2,
};

describe('Engine: load, train, export, import', () => {
  it('trains the demo model on the sample dataset and exports adapters that parse back', async () => {
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    expect((await engine.init()).state).toBe('ready');
    const info = await engine.loadModel({ kind: 'files', files: filesOf(DEMO_MODEL_DIR), name: 'stories260K' });
    expect(info.hfArchitecture).toBe('LlamaForCausalLM');
    expect(info.layers).toBe(5);
    const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
    const ds = await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 64, trainOn: 'completions', onBadRow: 'skip', validationFraction: 0.1, seed: 1 });
    expect(ds.badRows).toEqual([]);
    expect(ds.trainExamples).toBeGreaterThan(100);
    expect(ds.preview.length).toBeGreaterThan(0);

    const progress: TrainProgress[] = [];
    const statuses: string[] = [];
    const summary = await engine.startTraining(config, { onProgress: (p) => progress.push(p), onStatus: (s) => statuses.push(s) });
    expect(summary.status).toBe('finished');
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4]);
    expect(progress.every((p) => Number.isFinite(p.loss) && p.loss > 0)).toBe(true);
    expect(progress.filter((p) => p.valLoss !== undefined).length).toBe(2);
    expect(statuses).toEqual(['running', 'finished']);
    const runs = await engine.listRuns();
    expect(runs.length).toBe(1);
    expect(runs[0].checkpointStep).toBe(4);

    const peft = await engine.exportPeft();
    const names = peft.map((f) => f.name).sort();
    expect(names).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const cfgJson = JSON.parse(new TextDecoder().decode(peft.find((f) => f.name === 'adapter_config.json')!.bytes));
    expect(cfgJson).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, bias: 'none', use_rslora: false, fan_in_fan_out: false });
    const weights = peft.find((f) => f.name === 'adapter_model.safetensors')!;
    const back = await readPeftAdapter(parsePeftConfig(cfgJson), bufferSource(weights.bytes, 'adapter_model.safetensors'));
    expect(back.adapters.length).toBe(5 * 7);
    const q0 = back.adapters.find((a) => a.module === 'model.layers.0.self_attn.q_proj')!;
    expect(q0.a.length).toBe(4 * 64);
    expect(q0.b.length).toBe(64 * 4);
    expect(q0.b.some((x) => x !== 0)).toBe(true); // B moved away from its zero init

    const gguf = readGguf((await engine.exportGguf()).bytes);
    const tnames = gguf.tensors.map((t) => t.name);
    expect(tnames).toContain('blk.0.attn_q.weight.lora_a');
    expect(tnames).toContain('blk.4.ffn_down.weight.lora_b');
    expect(gguf.kv.get('general.type')?.value).toBe('adapter');
    expect(gguf.kv.get('adapter.type')?.value).toBe('lora');
    expect(gguf.kv.get('adapter.lora.alpha')?.value).toBe(8);

    // the same adapter from the checkpoint in the store, then imported from the PEFT files
    const fromRun = await engine.exportPeft(runs[0].id);
    expect(Array.from(fromRun[0].bytes)).toEqual(Array.from(peft[0].bytes));
    const prompt = { prompt: 'Once upon a time', chat: false, sampling: { maxTokens: 12, temperature: 0, topK: 0, topP: 1, seed: 0, greedy: true } };
    const trained = await engine.generate({ ...prompt, useAdapter: true });
    const imported = await engine.importAdapter(peft.map((f) => new File([f.bytes as Uint8Array<ArrayBuffer>], f.name)));
    expect(imported).toMatchObject({ rank: 4, alpha: 8 });
    expect(await engine.generate({ ...prompt, useAdapter: true })).toBe(trained);
  });

  it('refuses a folder without config.json with a message that says what to choose', async () => {
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    await engine.init();
    const files = filesOf(DEMO_MODEL_DIR).filter((f) => f.name !== 'config.json');
    await expect(engine.loadModel({ kind: 'files', files, name: 'broken' })).rejects.toThrow(/has no config\.json.*Choose the whole folder/);
  });
});

describe('Engine: faults during training', () => {
  async function readyEngine() {
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    await engine.init();
    await engine.loadModel({ kind: 'files', files: filesOf(DEMO_MODEL_DIR), name: 'stories260K' });
    const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
    await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 64, trainOn: 'completions', onBadRow: 'skip', validationFraction: 0.1, seed: 1 });
    return engine;
  }
  /**
   * Buffers live now that were not before, except the per-device caches that ops keep for the
   * device's lifetime (RoPE tables, the cross-entropy scratch row).
   */
  function leftovers(allocator: GpuContext['allocator'], before: Set<string>): string[] {
    return allocator
      .liveBuffers()
      .map((b) => b.label)
      .filter((l) => !before.has(l) && !/^(rope inv_freq|cross-entropy row losses)/.test(l));
  }
  const faultConfig: TrainConfig = { ...config, maxSteps: 6, evalEvery: 0, checkpointEvery: 2, lora: { ...config.lora, dropout: 0.05 } };

  it('a lost GPU mid-run: a new device is acquired, the run resumes from its checkpoint and ends with the same adapter', async () => {
    const reference = await readyEngine();
    await reference.startTraining(faultConfig, { onProgress: () => {}, onStatus: () => {} });
    const expected = await reference.exportPeft();

    const engine = await readyEngine();
    const notes: string[] = [];
    const steps: number[] = [];
    let lost = false;
    const summary = await engine.startTraining(faultConfig, {
      onProgress: (p) => {
        steps.push(p.step);
        if (p.step === 3 && !lost) {
          lost = true;
          void engineDebug(engine).loseDevice();
        }
      },
      onStatus: (_s, m) => m && notes.push(m),
    });
    expect(summary.status).toBe('finished');
    expect(notes.some((m) => /GPU was lost at step \d; a new GPU device was acquired and training resumed from the checkpoint at step 2/.test(m))).toBe(true);
    expect(steps.at(-1)).toBe(6);
    const got = await engine.exportPeft();
    expect(Array.from(got[0].bytes)).toEqual(Array.from(expected[0].bytes));
  });

  it('a GPU lost again after each recovery: three recoveries, then the run pauses saying the GPU could not be recovered', async () => {
    const engine = await readyEngine();
    const notes: string[] = [];
    // lose the device once per attempt, at its first step
    let armed = true;
    let losses = 0;
    const err = await engine
      .startTraining(faultConfig, {
        onProgress: () => {
          if (!armed) return;
          armed = false;
          losses++;
          void engineDebug(engine).loseDevice();
        },
        onStatus: (_s, m) => {
          if (!m) return;
          notes.push(m);
          if (/a new GPU device was acquired/.test(m)) armed = true;
        },
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^The GPU was lost and could not be recovered/);
    expect(losses).toBe(4);
    expect(notes.filter((m) => /^The GPU was lost at step \d+; a new GPU device was acquired/.test(m)).length).toBe(3);
    const [run] = await engine.listRuns();
    expect(run.status).toBe('paused');
    expect(run.message).toMatch(/could not be recovered/);
    // the page's Reconnect: a new device, and the model is there again
    expect((await engine.recoverDevice()).state).toBe('ready');
    expect((await engine.estimate(faultConfig)).fits).toBe(true);
  });

  it('NaN in the loss: the step is not applied, the run pauses at its last checkpoint with an explanation', async () => {
    const engine = await readyEngine();
    const statuses: string[] = [];
    await engineDebug(engine).injectNaN(5);
    const err = await engine.startTraining(faultConfig, { onProgress: () => {}, onStatus: (s, m) => statuses.push(`${s}: ${m ?? ''}`) }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/NaN\/Inf at step 5.*rolled back to its last checkpoint.*Lower the learning rate/);
    expect(statuses.at(-1)).toMatch(/^paused: /);
    const [run] = await engine.listRuns();
    expect(run.status).toBe('paused');
    expect(run.checkpointStep).toBe(4);
    // resuming continues from step 4 (the fault was one-off) and finishes
    const resumed = await engine.resume(run.id, { onProgress: () => {}, onStatus: () => {} });
    expect(resumed.status).toBe('finished');
    // the saved adapter is finite
    const peft = await engine.exportPeft(run.id);
    const back = await readPeftAdapter(parsePeftConfig(JSON.parse(new TextDecoder().decode(peft[1].bytes))), bufferSource(peft[0].bytes, 'a'));
    expect(back.adapters.every((a) => a.a.every(Number.isFinite) && a.b.every(Number.isFinite))).toBe(true);
  });

  it('a full disk while checkpointing pauses the run with the previous checkpoint intact', async () => {
    const kv = new MemoryKeyValueStore();
    const engine = new Engine({ gpu: nodeGpu(), kv });
    await engine.init();
    await engine.loadModel({ kind: 'files', files: filesOf(DEMO_MODEL_DIR), name: 'stories260K' });
    const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
    await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: 64, trainOn: 'completions', onBadRow: 'skip', validationFraction: 0.1, seed: 1 });
    let saves = 0;
    kv.failNextSet = (k) => k.startsWith('ckpt:') && ++saves === 2;
    const err = await engine.startTraining(faultConfig, { onProgress: () => {}, onStatus: () => {} }).catch((e) => e);
    expect(err.message).toMatch(/storage is full.*step 4.*previous checkpoint is intact.*Delete older runs/);
    const [run] = await engine.listRuns();
    expect(run.status).toBe('paused');
    expect(run.checkpointStep).toBe(2);
  });
  it('out of GPU memory in a step: the run stops with the batch size and sequence length to lower, memory is freed, the next run trains', async () => {
    const engine = await readyEngine();
    const deviceEvents: string[] = [];
    await engine.subscribe({ onDeviceEvent: (k, m) => deviceEvents.push(`${k}: ${m}`) });
    const allocator = engineDebug(engine).gpu().allocator;
    const before = new Set(allocator.liveBuffers().map((b) => b.label));
    const est = await engine.estimate(faultConfig);
    // room for the adapter and its AdamW state, not for the activations of a step
    expect(est.activationsBytes).toBeGreaterThan(1 << 20);
    await engineDebug(engine).simulateGpuMemory(est.loraBytes + est.optimizerBytes + (256 << 10));
    const statuses: string[] = [];
    const err = await engine.startTraining(faultConfig, { onProgress: () => {}, onStatus: (s, m) => statuses.push(`${s}: ${m ?? ''}`) }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/GPU ran out of memory in training step 1: it could not allocate “[^”]+” \([\d.]+ MiB\).*Lower the batch size \(now 2\) or the sequence length \(now 64\), or turn on activation checkpointing/);
    expect(statuses.at(-1)).toMatch(/^failed: The GPU ran out of memory/);
    const [run] = await engine.listRuns();
    expect(run.status).toBe('failed');
    expect(run.message).toBe(err.message);
    // the invalid buffers' validation errors were captured, not thrown at the page
    expect(deviceEvents).toEqual([]);
    // everything the run allocated was given back
    expect(leftovers(allocator, before)).toEqual([]);
    // the engine stays usable: with the memory back, the same job trains to the end
    await engineDebug(engine).simulateGpuMemory(null);
    const ok = await engine.startTraining(faultConfig, { onProgress: () => {}, onStatus: () => {} });
    expect(ok.status).toBe('finished');
    expect(deviceEvents).toEqual([]);
  });

  it('out of GPU memory while allocating the adapter: refused with the LoRA rank to lower, nothing saved, a resumable run stays resumable', async () => {
    const engine = await readyEngine();
    const deviceEvents: string[] = [];
    await engine.subscribe({ onDeviceEvent: (k, m) => deviceEvents.push(`${k}: ${m}`) });
    // a paused run with a checkpoint at step 2
    await engineDebug(engine).injectNaN(3);
    await engine.startTraining(faultConfig, { onProgress: () => {}, onStatus: () => {} }).catch(() => {});
    const [paused] = await engine.listRuns();
    expect(paused).toMatchObject({ status: 'paused', checkpointStep: 2 });
    const allocator = engineDebug(engine).gpu().allocator;
    const before = new Set(allocator.liveBuffers().map((b) => b.label));
    await engineDebug(engine).simulateGpuMemory(1024);
    const fresh = await engine.startTraining(faultConfig, { onProgress: () => {}, onStatus: () => {} }).catch((e) => e);
    expect(fresh.message).toMatch(/GPU ran out of memory while setting up the trained weights.*Lower the LoRA rank \(now 4\) or target fewer modules/);
    const resumed = await engine.resume(paused.id, { onProgress: () => {}, onStatus: () => {} }).catch((e) => e);
    expect(resumed.message).toMatch(/ran out of memory while setting up/);
    expect(leftovers(allocator, before)).toEqual([]);
    // and the paused run's adapter, kept for the playground, was released when the run started
    expect(engineDebug(engine).trained().kind).toBe('none');
    // the refused start left no record; the paused run is untouched and still resumes
    const runs = await engine.listRuns();
    expect(runs.map((r) => [r.id, r.status, r.checkpointStep])).toEqual([[paused.id, 'paused', 2]]);
    await engineDebug(engine).simulateGpuMemory(null);
    expect((await engine.resume(paused.id, { onProgress: () => {}, onStatus: () => {} })).status).toBe('finished');
    expect(deviceEvents).toEqual([]);
  });
  it('out of GPU memory while generating: the answer fails naming Max new tokens, and the next answer is the right one', async () => {
    const engine = await readyEngine();
    const deviceEvents: string[] = [];
    await engine.subscribe({ onDeviceEvent: (k, m) => deviceEvents.push(`${k}: ${m}`) });
    const req = { prompt: 'Once upon a time', chat: false, useAdapter: false, sampling: { maxTokens: 12, temperature: 1, topK: 0, topP: 1, seed: 1, greedy: true } };
    const expected = await (await readyEngine()).generate(req);
    await engineDebug(engine).simulateGpuMemory(0);
    const err = await engine.generate(req).catch((e) => e);
    expect(err.message).toMatch(/GPU ran out of memory while generating: “[^”]+”.*Lower Max new tokens \(now 12\) or shorten the prompt \(\d+ tokens\)/);
    expect(deviceEvents).toEqual([]);
    await engineDebug(engine).simulateGpuMemory(null);
    // no buffer left over from the failure is reused: the answer is the fresh engine's
    expect(await engine.generate(req)).toBe(expected);
    expect(deviceEvents).toEqual([]);
  });
  it('out of GPU memory while loading a model: a clear refusal, no buffer kept, and the model loads once memory is back', async () => {
    const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
    await engine.init();
    const deviceEvents: string[] = [];
    await engine.subscribe({ onDeviceEvent: (k, m) => deviceEvents.push(`${k}: ${m}`) });
    const allocator = engineDebug(engine).gpu().allocator;
    const before = allocator.liveBytes;
    await engineDebug(engine).simulateGpuMemory(64 << 10);
    const err = await engine.loadModel({ kind: 'files', files: filesOf(DEMO_MODEL_DIR), name: 'stories260K' }).catch((e) => e);
    expect(err.message).toMatch(/GPU ran out of memory loading the model: .*Choose a smaller model/);
    expect(allocator.liveBytes).toBe(before);
    expect(deviceEvents).toEqual([]);
    await engineDebug(engine).simulateGpuMemory(null);
    const info = await engine.loadModel({ kind: 'files', files: filesOf(DEMO_MODEL_DIR), name: 'stories260K' });
    expect(info.name).toBe('stories260K');
  });
});
