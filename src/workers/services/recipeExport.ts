// "Export for a cluster": a LoRA run (its kept dataset, settings, losses, and optionally its
// checkpoint) or the job form's settings with the loaded dataset, as the recipe folder
// (train/recipe/build.ts). No GPU work: the data is the trainer's batches drawn on the CPU, and
// the first adapter is the seeded init the run starts from.
import type { LossPoint, StoredModelSource } from '../../train/checkpointStore';
import { validateConfig, type TrainConfig } from '../../train/config';
import { buildRecipe, type RecipeStart } from '../../train/recipe/build';
import { plannedSteps } from '../../train/trainer';
import { datasetToResume, type RunDataset } from '../runStorage';
import type { ExportedFile, RecipeExportRequest } from '../api';
import { requireDataset, requireModel, type EngineCore } from './core';

function sourceNote(s: StoredModelSource, name: string): { repoId: string | null; revision?: string; note: string } {
  switch (s.kind) {
    case 'hub':
      return { repoId: s.repo, revision: s.revision, note: `downloaded from the Hub (${s.repo})` };
    case 'demo':
      return { repoId: null, note: 'the studio’s bundled demo model stories260K (public/models/stories260K in the Whetstone repository, made by npm run demo-model)' };
    case 'url':
      return { repoId: null, note: `loaded from ${s.baseUrl}` };
    default:
      return { repoId: null, note: `loaded from a folder named ${name}` };
  }
}

export async function exportRecipe(core: EngineCore, req: RecipeExportRequest): Promise<ExportedFile[]> {
  const { model, info, template, source } = requireModel(core);
  let config: TrainConfig;
  let ds: RunDataset;
  let totalSteps: number;
  let history: LossPoint[] = [];
  let start: RecipeStart = { from: 'initial' };
  let title: string;
  if (req.runId) {
    const run = await core.store.getRun(req.runId);
    if (!run) throw new Error('That run no longer exists.');
    if (run.model.fingerprint !== info.fingerprint) throw new Error(`This run was trained on ${run.model.name}; load that model to export it for a cluster.`);
    config = run.config as TrainConfig;
    ds = await datasetToResume(core.runFiles, run, core.dataset);
    totalSteps = run.totalSteps > 0 ? run.totalSteps : plannedSteps(ds.train, config);
    history = run.history;
    title = run.name;
    if (req.start === 'checkpoint') {
      const ckpt = await core.store.loadCheckpoint(run);
      if (!ckpt) throw new Error('This run has no saved checkpoint yet: export it from the start instead.');
      start = { from: 'checkpoint', step: ckpt.step, params: ckpt.params, adamM: ckpt.adamM, adamV: ckpt.adamV };
    }
  } else {
    if (!req.config) throw new Error('Export for a cluster needs a run or the job’s settings.');
    config = req.config;
    const issues = validateConfig(config);
    if (issues.length > 0) throw new Error(`The job settings need fixing: ${issues.map((i) => i.message).join(' ')}`);
    ds = requireDataset(core);
    totalSteps = plannedSteps(ds.train, config);
    title = `${info.name} on ${ds.info.name}`;
  }
  const src = sourceNote(source, info.name);
  const raw = req.raw ? { name: req.raw.name, bytes: new Uint8Array(await req.raw.arrayBuffer()) } : null;
  const files = buildRecipe({
    title,
    config,
    model: { name: info.name, repoId: req.repoId ?? src.repoId, revision: src.revision, sourceNote: src.note, config: model.config, quantization: info.quantization },
    train: ds.train,
    validation: ds.validation.offsets.length > 1 ? ds.validation : null,
    totalSteps,
    template,
    format: ds.info.format,
    trainOn: req.trainOn ?? 'completions',
    raw,
    start,
    studioHistory: history,
  });
  return files.map((f) => ({ name: f.path, bytes: f.bytes, mime: f.path.endsWith('.json') ? 'application/json' : f.path.endsWith('.safetensors') ? 'application/octet-stream' : 'text/plain' }));
}
