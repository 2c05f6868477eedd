// The training bench's quantized rows (issue 17) on the test GPU: the demo model with an fp16, an
// int8 and an int4 base through runTrainingCase, as bench/trainingWorker.ts loads them. The
// result says its base, the analytic weights are the quantized layouts' bytes, the peak GPU bytes
// fall with the base's precision, and the losses are finite.
import { describe, expect, it } from 'vitest';
import { getTestGpu } from '../src/gpu/testing/nodeGpu';
import { CausalLM } from '../src/model/causalLM';
import { folderFromDirectory } from '../src/model/folderNode';
import { loadWeights, readModelAssets } from '../src/model/load';
import { DEMO_MODEL_DIR } from '../src/model/testing/loadForTest';
import { baseWeightsBytes } from '../src/train/memory';
import type { BaseQuantization } from '../src/util/quant';
import { runTrainingCase } from './trainingCase';
import type { TrainingCase, TrainingCaseResult } from './trainingTypes';

const kase = (quantize: BaseQuantization): TrainingCase => ({
  model: 'stories260K',
  layers: null,
  layersOnSoftware: null,
  batchSize: 2,
  seqLen: 32,
  rank: 4,
  warmup: 1,
  steps: 1,
  deadline: null,
  activationCheckpointing: false,
  timing: 'wall',
  peakGflops: 10,
  peakAdapter: null,
  seed: 1,
  quantize,
});

async function run(quantize: BaseQuantization): Promise<TrainingCaseResult> {
  const ctx = await getTestGpu();
  return runTrainingCase(ctx, kase(quantize), {
    loadModel: async (c) => {
      const folder = await folderFromDirectory(DEMO_MODEL_DIR);
      const assets = await readModelAssets(folder);
      assets.quantize = quantize;
      return { model: new CausalLM(c, assets, await loadWeights(c, folder, assets)), name: 'stories260K', fullLayers: assets.config.numLayers };
    },
    log: () => {},
  });
}

describe('training bench: quantized-base rows of the demo model', () => {
  it('fp16, int8, int4: each result names its base, analytic weights are the layouts\' bytes, peak bytes fall, losses finite', async () => {
    const r = { none: await run('none'), int8: await run('int8'), int4: await run('int4') };
    for (const [q, res] of Object.entries(r) as [BaseQuantization, TrainingCaseResult][]) {
      expect(res.quantization).toBe(q);
      expect(res.losses.every(Number.isFinite)).toBe(true);
      expect(res.tokensPerSecond).toBeGreaterThan(0);
    }
    const folder = await folderFromDirectory(DEMO_MODEL_DIR);
    const config = (await readModelAssets(folder)).config;
    expect(r.int8.memory.weightsBytes).toBe(baseWeightsBytes(config, 'int8'));
    expect(r.int4.memory.weightsBytes).toBe(baseWeightsBytes(config, 'int4'));
    expect(r.int8.memory.weightsBytes).toBeLessThan(r.none.memory.weightsBytes);
    expect(r.int8.peakBytes).toBeLessThan(r.none.peakBytes);
    expect(r.int4.peakBytes).toBeLessThan(r.int8.peakBytes);
    console.log(`peak GPU bytes: fp16 ${r.none.peakBytes}, int8 ${r.int8.peakBytes}, int4 ${r.int4.peakBytes}; weights ${r.none.memory.weightsBytes} / ${r.int8.memory.weightsBytes} / ${r.int4.memory.weightsBytes}`);
  }, 240_000);
});
