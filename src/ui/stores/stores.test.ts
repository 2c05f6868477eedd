// The stores' actions against a stand-in engine (no worker, no DOM): what they ask the engine
// for, and what they make of its answers, progress callbacks and errors.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EngineApi, ModelInfo, RunSummary, TrainEvents } from '../../workers/api';

const fake: Partial<Record<keyof EngineApi, ReturnType<typeof vi.fn>>> = {};
// As comlink behaves: a method the worker lacks rejects with the worker's TypeError.
const remote = new Proxy(fake, {
  get: (t, k) =>
    t[k as keyof EngineApi] ??
    (async () => {
      throw new TypeError("Cannot read properties of undefined (reading 'apply')");
    }),
});
vi.mock('../engineClient', () => ({
  engine: () => remote,
  proxy: <T>(x: T) => x,
  onWorkerError: () => {},
}));

const { useRunStore, startRun, pauseRun } = await import('./runStore');
const { useJobStore, setJobField, adaptJobToModel, ESTIMATE_DEBOUNCE_MS } = await import('./jobStore');
const { useDatasetStore, loadSampleDataset } = await import('./datasetStore');
const { useModelStore, loadDemoModel } = await import('./modelStore');
const { useExportStore } = await import('./exportStore');
const { wireStores } = await import('./wiring');
const { generate, usePlaygroundStore } = await import('./playgroundStore');

const model: ModelInfo = {
  name: 'stories260K', architecture: 'llama', hfArchitecture: 'LlamaForCausalLM', parameterCount: 1, layers: 1, hidden: 1, heads: 1, kvHeads: 1,
  vocab: 1, maxPositions: 512, tiedEmbeddings: true, hasChatTemplate: false, weightBytes: 1, fingerprint: 'f', notes: [],
};
const summary = (over: Partial<RunSummary> = {}): RunSummary => ({
  id: 'r1', name: 'run', status: 'finished', step: 2, totalSteps: 2, checkpointStep: 2, updatedAt: 0, modelName: 'm', datasetName: 'd', history: [], ...over,
});
const progress = (step: number) => ({ runId: 'r1', status: 'running' as const, step, totalSteps: 2, epoch: 0, loss: 3 - step, lr: 1e-3, gradNorm: 1, tokensPerSecond: 10, etaSeconds: 1, gpuBytes: 0 });

beforeEach(() => {
  for (const k of Object.keys(fake)) delete fake[k as keyof EngineApi];
  fake.listRuns = vi.fn(async () => []);
  useRunStore.setState({ phase: 'idle', liveRunId: null, progress: null, history: [], shownRunId: null, runs: [], error: null, message: null });
});
afterEach(() => vi.useRealTimers());

describe('runStore', () => {
  it('sends the edited config, turns progress callbacks into history, and ends with the summary', async () => {
    setJobField('learningRate', 5e-4);
    fake.startTraining = vi.fn(async (config, events: TrainEvents, name?: string) => {
      expect(config.learningRate).toBe(5e-4);
      expect(name).toBe('mine');
      events.onStatus('running');
      events.onProgress(progress(1));
      expect(useRunStore.getState().phase).toBe('running');
      events.onProgress({ ...progress(2), valLoss: 1.5 });
      return summary({ history: [] });
    });
    await startRun('  mine ');
    const s = useRunStore.getState();
    expect(s.phase).toBe('finished');
    expect(s.history.map((p) => [p.step, p.loss, p.valLoss])).toEqual([[1, 2, undefined], [2, 1, 1.5]]);
    expect(s.liveRunId).toBe('r1');
    expect(useExportStore.getState().held).toEqual({ kind: 'run', runId: 'r1' });
    expect(fake.listRuns).toHaveBeenCalled();
  });

  it('keeps a run paused after a NaN rollback and shows the engine’s words', async () => {
    const msg = 'The loss became NaN at step 3. Lower the learning rate and resume.';
    fake.startTraining = vi.fn(async (_c, events: TrainEvents) => {
      events.onStatus('running');
      events.onProgress(progress(1));
      events.onStatus('paused', msg);
      throw new Error(msg);
    });
    await startRun();
    expect(useRunStore.getState().phase).toBe('paused');
    expect(useRunStore.getState().error).toBe(msg);
  });

  it('says it could not start when the engine refuses before any status', async () => {
    fake.startTraining = vi.fn(async () => {
      throw new Error('No dataset is loaded. Load the sample dataset or a file first.');
    });
    await startRun();
    expect(useRunStore.getState().phase).toBe('failed');
    expect(useRunStore.getState().error).toBe('Could not start training: No dataset is loaded. Load the sample dataset or a file first.');
  });

  it('names the missing method of an older engine', async () => {
    fake.startTraining = undefined;
    await startRun();
    expect(useRunStore.getState().error).toBe('Could not start training: this version of the engine has no startTraining() yet. Reload the page after updating Whetstone.');
  });

  it('asks the engine to pause only while training', async () => {
    fake.pause = vi.fn(async () => {});
    await pauseRun();
    expect(fake.pause).not.toHaveBeenCalled();
    useRunStore.setState({ phase: 'running' });
    await pauseRun();
    expect(fake.pause).toHaveBeenCalledOnce();
    expect(useRunStore.getState().phase).toBe('pausing');
  });
});

describe('callbacks that arrive after the call has answered', () => {
  it('a late token does not turn a finished answer back into a streaming one', async () => {
    let late: (() => void) | null = null;
    fake.generate = vi.fn(async (_req, events: { onToken(t: string, n: number): void }) => {
      events.onToken('Bob', 1);
      late = () => events.onToken('Bob looks', 2);
      return 'Bob looks';
    });
    usePlaygroundStore.setState({ compare: false });
    await generate(false);
    late!();
    const base = usePlaygroundStore.getState().base;
    expect(base).toMatchObject({ status: 'done', text: 'Bob looks', tokens: 2 });
  });

  it('late progress or a late "running" after the run ended change nothing', async () => {
    let late: TrainEvents | null = null;
    fake.startTraining = vi.fn(async (_c, events: TrainEvents) => {
      late = events;
      events.onStatus('running');
      events.onProgress(progress(1));
      return summary({ history: [{ step: 1, loss: 2, lr: 1e-3, gradNorm: 1, tokensPerSecond: 10 }] });
    });
    await startRun();
    late!.onProgress(progress(2));
    late!.onStatus('running');
    const s = useRunStore.getState();
    expect(s.phase).toBe('finished');
    expect(s.history.map((p) => p.step)).toEqual([1]);
    expect(s.progress?.step).toBe(1);
  });
});

describe('jobStore', () => {
  it('debounces the estimate while the user types and skips invalid configs', async () => {
    vi.useFakeTimers();
    fake.estimate = vi.fn(async () => ({ totalBytes: 1 }));
    adaptJobToModel(model);
    for (const r of [1, 16, 32]) setJobField('rank', r);
    expect(useJobStore.getState().estimateStatus).toBe('pending');
    await vi.advanceTimersByTimeAsync(ESTIMATE_DEBOUNCE_MS + 10);
    expect(fake.estimate).toHaveBeenCalledOnce();
    expect(fake.estimate.mock.calls[0][0].lora.rank).toBe(32);
    expect(useJobStore.getState().estimateStatus).toBe('ready');
    setJobField('rank', 0);
    await vi.advanceTimersByTimeAsync(ESTIMATE_DEBOUNCE_MS + 10);
    expect(fake.estimate).toHaveBeenCalledOnce();
    expect(useJobStore.getState().issues.map((i) => i.field)).toEqual(['rank']);
    setJobField('rank', 8);
  });

  it('switches target modules to GPT-2 names for a GPT-2 model, keeping attention-only', () => {
    fake.estimate = vi.fn(async () => ({ totalBytes: 1 }));
    setJobField('targetModules', ['q_proj', 'k_proj', 'v_proj', 'o_proj']);
    adaptJobToModel({ ...model, hfArchitecture: 'GPT2LMHeadModel', architecture: 'gpt2', loraTargets: { all: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'], attention: ['c_attn', 'attn.c_proj'] } });
    expect(useJobStore.getState().config.lora.targetModules).toEqual(['c_attn', 'attn.c_proj']);
    adaptJobToModel(model);
    expect(useJobStore.getState().config.lora.targetModules).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj']);
  });
});

describe('datasetStore with the model', () => {
  it('waits for a model, then reads the data with the job’s sequence length', async () => {
    wireStores();
    useModelStore.setState({ status: 'empty', info: null });
    fake.loadDataset = vi.fn(async () => ({ name: 'sample.jsonl' }));
    await loadSampleDataset();
    expect(useDatasetStore.getState().status).toBe('waiting');
    expect(fake.loadDataset).not.toHaveBeenCalled();
    fake.loadModel = vi.fn(async () => model);
    fake.estimate = vi.fn(async () => ({ totalBytes: 1 }));
    setJobField('seqLen', 96);
    await loadDemoModel();
    await vi.waitFor(() => expect(useDatasetStore.getState().status).toBe('ready'));
    expect(fake.loadModel.mock.calls[0][0]).toEqual({ kind: 'demo' });
    expect(fake.loadDataset).toHaveBeenCalledOnce();
    expect(fake.loadDataset.mock.calls[0][0]).toEqual({ kind: 'sample' });
    expect(fake.loadDataset.mock.calls[0][1]).toMatchObject({ maxSeqLen: 96, onBadRow: 'skip', trainOn: 'completions' });
  });
});
