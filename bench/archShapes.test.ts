// The training benchmark's Qwen3-0.6B and Gemma-3-270M shapes: their published configs parse
// through the architectures' own parsers with the real widths and vocabularies, cutting layers
// keeps the config valid, and each model trains one tiny step through the case runner (real
// widths, 1 layer, the vocabulary cut to 512 here only: the bench itself uses the real one).
import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../src/arch/config';
import { getTestGpu } from '../src/gpu/testing/nodeGpu';
import { ARCH_SHAPES, createArchShapeModel, cutConfig, GEMMA3_270M_CONFIG, QWEN3_0_6B_CONFIG } from './archShapes';
import { runTrainingCase } from './trainingCase';
import type { TrainingCase, TrainingModel } from './trainingTypes';

describe('published configs', () => {
  it('Qwen3-0.6B: 28 layers of 1024, 16/8 heads of 128, q/k norms, tied, 151936 tokens, rope 1e6', () => {
    const c = parseHfConfig(QWEN3_0_6B_CONFIG, 'qwen3/config.json');
    expect(c.architecture).toBe('qwen3');
    expect([c.hiddenSize, c.intermediateSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.vocabSize]).toEqual([1024, 3072, 28, 16, 8, 128, 151936]);
    expect(c.qkNorm).toBe(true);
    expect(c.tieWordEmbeddings).toBe(true);
    expect(c.ropeTheta).toBe(1e6);
  });

  it('Gemma-3-270M: 18 layers of 640, 4/1 heads of 256, 5 sliding (512) : 1 full, 262144 tokens, tied', () => {
    const c = parseHfConfig(GEMMA3_270M_CONFIG, 'gemma3/config.json');
    expect(c.architecture).toBe('gemma3');
    expect([c.hiddenSize, c.intermediateSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.vocabSize]).toEqual([640, 2048, 18, 4, 1, 256, 262144]);
    expect(c.layerWindows).toEqual(Array.from({ length: 18 }, (_, i) => ((i + 1) % 6 === 0 ? null : 512)));
    expect(c.attentionScale).toBeCloseTo(1 / 16, 12);
    expect(c.localRopeTheta).toBe(10000);
    expect(c.ropeTheta).toBe(1e6);
    expect(c.tieWordEmbeddings).toBe(true);
  });

  it('cutConfig: fewer layers (layer_types cut with them), the rest unchanged; bad counts refused', () => {
    const g = parseHfConfig(cutConfig(GEMMA3_270M_CONFIG, 6), 'g/config.json');
    expect(g.numLayers).toBe(6);
    expect(g.layerWindows).toEqual([512, 512, 512, 512, 512, null]);
    expect(g.vocabSize).toBe(262144);
    const q = parseHfConfig(cutConfig(QWEN3_0_6B_CONFIG, 2, 512), 'q/config.json');
    expect([q.numLayers, q.vocabSize, q.hiddenSize]).toEqual([2, 512, 1024]);
    expect(cutConfig(QWEN3_0_6B_CONFIG, 2, 512)).toMatchObject({ bos_token_id: 511, eos_token_id: 511 });
    expect(cutConfig(QWEN3_0_6B_CONFIG, null)).toEqual(QWEN3_0_6B_CONFIG);
    expect(() => cutConfig(QWEN3_0_6B_CONFIG, 29)).toThrow(/layers must be an integer from 1 to 28, got 29/);
    expect(() => cutConfig(GEMMA3_270M_CONFIG, 0)).toThrow(/from 1 to 18/);
  });
});

const kase = (model: TrainingModel): TrainingCase => ({
  model,
  layers: 1,
  layersOnSoftware: 1,
  batchSize: 2,
  seqLen: 16,
  batchOnSoftware: { batchSize: 1, seqLen: 8 },
  rank: 4,
  warmup: 1,
  steps: 1,
  deadline: null,
  activationCheckpointing: false,
  timing: 'auto',
  peakGflops: 10,
  peakAdapter: null,
  seed: 3,
  decode: null,
});

describe('training one step at the real widths', () => {
  for (const model of ['qwen3-0.6b-shape', 'gemma3-270m-shape'] as const) {
    it(`${model}: 1 layer, the software batch, finite losses, memory at least the analytic minimum`, async () => {
      const ctx = await getTestGpu();
      const lines: string[] = [];
      const full = parseHfConfig(ARCH_SHAPES[model]!.config, 'c.json');
      const r = await runTrainingCase(ctx, kase(model), {
        loadModel: async (c, layers) => createArchShapeModel(c, model, layers, 3, 512)!,
        log: (l) => lines.push(l),
      });
      expect(r.name).toBe(ARCH_SHAPES[model]!.name);
      expect(r.layers).toBe(1);
      expect(r.fullLayers).toBe(full.numLayers);
      // the software adapter gets batchOnSoftware
      const [B, T] = ctx.description.isSoftware ? [1, 8] : [2, 16];
      expect([r.batchSize, r.seqLen, r.tokensPerStep]).toEqual([B, T, B * T]);
      expect(r.stepsMeasured).toBe(1);
      expect(r.losses.length).toBe(2);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      // LoRA on every linear module of the architecture (7 per layer)
      expect(r.targetModules).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
      expect(r.commandsPerStep!.submits).toBe(1);
      expect(r.memoryRatio).toBeGreaterThanOrEqual(1);
      const groups = Object.fromEntries(r.liveByGroup.map((g) => [g.group, g.bytes]));
      expect(groups['base weights']).toBe(r.memory.weightsBytes);
      expect(groups['AdamW state']).toBe(r.memory.optimizerBytes);
      // the analytic activations come from the architecture module's list (src/train/memory.ts):
      // what the blocks keep is that, plus at most the last layer's output (N x C f32)
      expect(groups['kept activations']).toBeGreaterThanOrEqual(r.memory.activationsBytes);
      expect(groups['kept activations']).toBeLessThanOrEqual(r.memory.activationsBytes + B * T * full.hiddenSize * 4);
      expect(lines[0]).toContain(`1 of ${full.numLayers} layers, hidden ${full.hiddenSize}, vocab 512, batch ${B} x ${T}`);
    }, 120_000);
  }
});
