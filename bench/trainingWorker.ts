// The training benchmark's dedicated worker (bench/training.html starts one per case, so every
// case gets a fresh device and its own peak-memory count). It runs the model code the engine
// worker runs (CausalLM + Trainer) on navigator.gpu; the engine's own API has no benchmark method.
import { acquireGpu, type GpuContext } from '../src/gpu/device';
import { CausalLM } from '../src/model/causalLM';
import { loadWeights, readModelAssets } from '../src/model/load';
import { createRandomModel, SMOLLM2_135M_SHAPE } from '../src/model/randomModel';
import { folderFromUrl } from '../src/model/remote';
import { createArchShapeModel } from './archShapes';
import { runTrainingCase, type LoadedForBench } from './trainingCase';
import type { TrainingCase, WorkerMessage } from './trainingTypes';

const post = (m: WorkerMessage) => (self as unknown as Worker).postMessage(m);

async function loadModel(ctx: GpuContext, kase: TrainingCase, layers: number | null): Promise<LoadedForBench> {
  if (kase.model === 'stories260K') {
    if (layers !== null) throw new Error('stories260K is loaded from its files: it cannot be cut to fewer layers');
    // the demo model the studio bundles (npm run demo-model), served by the bench's dev server
    const folder = await folderFromUrl('stories260K', (f) => new URL(`/models/stories260K/${f}`, self.location.origin).toString());
    const assets = await readModelAssets(folder);
    // a quantized row: the linear layers quantized at load, as the studio's Base weights int8 / int4
    if (kase.quantize) assets.quantize = kase.quantize;
    const weights = await loadWeights(ctx, folder, assets);
    return { model: new CausalLM(ctx, assets, weights), name: 'stories260K', fullLayers: assets.config.numLayers };
  }
  if (kase.quantize && kase.quantize !== 'none') throw new Error(`${kase.model}: quantized rows are for stories260K (random-weight models are built in fp16)`);
  // Qwen3-0.6B, Gemma-3-270M: the published config.json, cut to `layers`
  const arch = createArchShapeModel(ctx, kase.model, layers, kase.seed);
  if (arch) return arch;
  const shape = { ...SMOLLM2_135M_SHAPE, numLayers: layers ?? SMOLLM2_135M_SHAPE.numLayers };
  return {
    model: createRandomModel(ctx, shape, { seed: kase.seed, name: 'SmolLM2-135M shape' }),
    name: 'SmolLM2-135M shape (random weights)',
    fullLayers: SMOLLM2_135M_SHAPE.numLayers,
  };
}

self.onmessage = async (e: MessageEvent<TrainingCase>) => {
  const kase = e.data;
  let ctx: GpuContext | null = null;
  try {
    ctx = await acquireGpu({ timeoutMs: 30_000, onUncapturedError: (m) => post({ type: 'progress', line: `  (uncaptured WebGPU error) ${m}` }) });
    const result = await runTrainingCase(ctx, kase, {
      loadModel: (c, layers) => loadModel(c, kase, layers),
      log: (line) => post({ type: 'progress', line }),
    });
    post({ type: 'result', result });
  } catch (err) {
    post({ type: 'error', message: (err as Error).stack ?? String(err) });
  } finally {
    ctx?.destroy();
  }
};
