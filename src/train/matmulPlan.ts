// The matmul problems a fine-tuning job runs, as shape classes the autotuner can time
// (gpu/tune): per linear layer of the model, the forward x·Wᵀ and the backward dy·W over the
// job's N = batch × sequence rows; the LM head over the logits chunk; full fine-tuning's weight
// gradients dyᵀ·x; and the playground's one-token decode. Classes bucket their dimensions, so
// the list is short (most layers share a class).
import type { ModelConfig } from '../io/hfConfig';
import { linearModules } from '../io/loraTargets';
import { shapeClassKey, type MatmulShapeClass } from '../gpu/ops/matmulRegistry';
import { virtualTokensOf, type TrainConfig } from './config';
import { logitsChunkRows } from './memory';

export interface PlannedMatmul {
  shape: MatmulShapeClass;
  key: string;
  /** where it runs, in words ("q_proj forward", "LM head backward") */
  uses: string[];
}

const OP_WORDS = { xwt: 'forward', dyw: 'input grad', dytx: 'weight grad' } as const;

export function trainingMatmuls(c: ModelConfig, job: Pick<TrainConfig, 'batchSize' | 'seqLen' | 'method' | 'promptTuning'>): PlannedMatmul[] {
  const N = job.batchSize * (job.seqLen + virtualTokensOf(job));
  const full = job.method === 'full';
  const byKey = new Map<string, PlannedMatmul>();
  const add = (shape: MatmulShapeClass, use: string) => {
    const key = shapeClassKey(shape);
    const have = byKey.get(key);
    if (!have) byKey.set(key, { shape, key, uses: [use] });
    else if (!have.uses.includes(use)) have.uses.push(use);
  };
  for (const m of linearModules(c)) {
    const head = m.module === 'lm_head';
    const name = head ? 'LM head' : m.module.split('.').slice(-1)[0];
    const rows = head ? logitsChunkRows(c.vocabSize, N) : N;
    for (const op of ['xwt', 'dyw', ...(full ? ['dytx' as const] : [])] as const) {
      add({ op, m: rows, n: m.out, k: m.in, wDtype: 'f16' }, `${name} ${OP_WORDS[op]}`);
    }
    add({ op: 'xwt', m: 1, n: m.out, k: m.in, wDtype: 'f16' }, `${name} decode`);
  }
  // tied embeddings: the head is the embedding matrix (V, C), which io's list does not name
  if (c.tieWordEmbeddings && !linearModules(c).some((m) => m.module === 'lm_head')) {
    const rows = logitsChunkRows(c.vocabSize, N);
    const C = c.hiddenSize;
    for (const op of ['xwt', 'dyw', ...(full ? ['dytx' as const] : [])] as const) add({ op, m: rows, n: c.vocabSize, k: C, wDtype: 'f16' }, `LM head ${OP_WORDS[op]}`);
    add({ op: 'xwt', m: 1, n: c.vocabSize, k: C, wDtype: 'f16' }, 'LM head decode');
  }
  return [...byKey.values()];
}
