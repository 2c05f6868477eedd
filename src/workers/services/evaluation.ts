// Evaluation: the mean loss of the loaded dataset's validation split (the training split when it
// has none) for the base model or a run's trained weights, through the trainer's own evaluation
// (Trainer.evaluate: same batches, same loss kernels), so it equals the validation loss a run reports.
import { createAdapter, releaseAdapter, type LoraAdapter } from '../../model/adapter';
import type { CheckpointRecord, RunRecord } from '../../train/checkpointStore';
import { validateConfig, type TrainConfig } from '../../train/config';
import { evaluationBatches, Trainer } from '../../train/trainer';
import type { Trainable } from '../../train/trainable';
import type { TokenizedDataset } from '../../data';
import { datasetToResume, type RunDataset } from '../runStorage';
import type { EvaluateRequest, EvaluationResult } from '../api';
import { requireModel, type EngineCore } from './core';
import { createTrainable } from './runs';
import { releaseTrained, restoreBaseWeights } from './trained';

/** how many batches the mean is over: the trainer's validation default */
const EVAL_BATCHES = 8;

function hasRows(d: TokenizedDataset | null | undefined): d is TokenizedDataset {
  return !!d && d.offsets.length >= 2;
}

export async function evaluate(core: EngineCore, req: EvaluateRequest): Promise<EvaluationResult> {
  const ctx = await core.gpu.ready();
  const { model, info } = requireModel(core);
  if (core.training) throw new Error('A run is training. Pause or stop it before evaluating.');
  let config: TrainConfig;
  let ds: RunDataset;
  let run: RunRecord;
  let ckpt: CheckpointRecord | undefined;
  let trainable: Trainable;
  let own: LoraAdapter | null = null;
  if (req.runId) {
    const saved = await core.store.getRun(req.runId);
    if (!saved) throw new Error(`There is no run ${req.runId}. List the runs to see their ids.`);
    if (saved.model.fingerprint !== info.fingerprint) throw new Error(`Run ${req.runId} was trained on ${saved.model.name}; load that model to evaluate it.`);
    const c = await core.store.loadCheckpoint(saved);
    if (!c) throw new Error(`Run ${req.runId} has no saved checkpoint yet: train or resume it until it saves one, then evaluate it.`);
    run = saved;
    ckpt = c;
    config = saved.config as TrainConfig;
    // the loaded dataset, or the one the run kept
    ds = core.dataset ?? (await datasetToResume(core.runFiles, saved, null));
    // the run's weights go in place as what was trained (as after a resume); full fine-tuning copies its masters from the base weights
    releaseTrained(core);
    await restoreBaseWeights(core);
    trainable = await createTrainable(core, config);
  } else {
    if (!req.config) throw new Error('Evaluating the base model needs the job settings (batch size, sequence length, packing) to batch the data with.');
    const issues = validateConfig(req.config);
    if (issues.length > 0) throw new Error(`The job settings need fixing: ${issues.map((i) => i.message).join(' ')}`);
    config = req.config;
    if (!core.dataset) throw new Error('No dataset is loaded. Load the sample dataset or a file first.');
    ds = core.dataset;
    await restoreBaseWeights(core);
    // the base model: a fresh LoRA adapter, whose B is zero, adds exactly zero to every projection;
    // it is the evaluation's own (what was trained before stays as it was)
    const l = config.lora;
    trainable = own = createAdapter(ctx, model.config, { rank: l.rank, alpha: l.alpha, dropout: l.dropout, useRslora: l.useRslora, targetModules: l.targetModules }, config.seed);
    run = { id: 'evaluation', name: 'evaluation', createdAt: 0, updatedAt: 0, status: 'running', model: { name: info.name, architecture: info.hfArchitecture, fingerprint: info.fingerprint }, dataset: { name: ds.info.name, fingerprint: ds.info.fingerprint }, config, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0, modelSource: requireModel(core).source };
  }
  const split = hasRows(ds.validation) ? 'validation' : 'train';
  const data = split === 'validation' ? ds.validation : ds.train;
  if (!hasRows(data)) throw new Error('The loaded dataset has no rows to evaluate.');
  // maxSteps 1: the trainer need not count the epoch's steps; nothing is trained or saved (no store)
  const trainer = new Trainer(ctx, model, trainable, ds.train, data, { ...config, maxSteps: 1 }, null, run, () => {}, ckpt);
  try {
    const loss = await trainer.evaluate(EVAL_BATCHES);
    if (loss === null) throw new Error('The loaded dataset has no rows to evaluate.');
    const batches = evaluationBatches(data, config, EVAL_BATCHES);
    return {
      loss,
      split,
      tokens: batches.reduce((s, b) => s + b.trainedTokens, 0),
      examples: batches.reduce((s, b) => s + b.B, 0),
      runId: req.runId ?? null,
    };
  } finally {
    trainer.release();
    if (own) releaseAdapter(ctx, own);
  }
}
