// Kernel tuning: looking up (or timing) the matmul kernel variants of a job's shape classes on
// this GPU; the choices persist per adapter in the tune store.
import { defaultVariant } from '../../gpu/ops/matmulVariants';
import { knownWinner, tuneMatmul } from '../../gpu/tune/matmulTuner';
import { problemOf } from '../../gpu/ops/matmulRegistry';
import type { TrainConfig } from '../../train/config';
import { trainingMatmuls } from '../../train/matmulPlan';
import type { KernelTuningReport, KernelTuningShape, TuneEvents } from '../api';
import { requireModel, type EngineCore } from './core';

/** Looks up (measure false) or times the matmul variants of the job's shape classes on this GPU. */
export async function kernelTuning(core: EngineCore, config: TrainConfig, measure: boolean, events?: TuneEvents): Promise<KernelTuningReport> {
  const ctx = await core.gpu.ready();
  const { model } = requireModel(core);
  if (measure && core.training) throw new Error('A run is training: pause it before tuning the kernels (the timings would measure both).');
  const plan = trainingMatmuls(model.config, config);
  const t0 = performance.now();
  const shapes: KernelTuningShape[] = [];
  const opWords = { xwt: 'x·Wᵀ', dyw: 'dy·W', dytx: 'dyᵀ·x' } as const;
  for (const [i, p] of plan.entries()) {
    events?.onProgress(i, plan.length, p.uses[0]);
    let known = await knownWinner(ctx, p.shape, core.tuneStore);
    let source: KernelTuningShape['source'] = 'stored';
    if (known === null && measure) {
      const r = await tuneMatmul(ctx, p.shape, { store: core.tuneStore });
      known = r.record ?? r.winner;
      source = 'measured';
    }
    if (known === null) continue;
    const record = typeof known === 'string' ? null : known;
    const winner = typeof known === 'string' ? known : known.winner;
    const dflt = defaultVariant(ctx, problemOf(p.shape));
    const msOf = (v: string) => record?.timings.find((t) => t.variant === v && !t.probe && t.ms !== null)?.ms ?? null;
    shapes.push({
      key: p.key,
      uses: p.uses,
      problem: `${opWords[p.shape.op]} ${p.shape.m}×${p.shape.n}×${p.shape.k}`,
      winner,
      source,
      defaultVariant: dflt,
      winnerMs: msOf(winner),
      defaultMs: msOf(dflt),
    });
  }
  events?.onProgress(plan.length, plan.length, '');
  return { adapter: ctx.description.name, total: plan.length, shapes, seconds: (performance.now() - t0) / 1000 };
}
