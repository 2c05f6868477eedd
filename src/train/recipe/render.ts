// The data of a cluster recipe, as the studio's trainer sees it: every micro-batch of every
// optimizer step, in order (BatchIterator with the trainer's options), one JSONL line per row, in
// the Hugging Face label convention; the validation batches (the trainer's evaluationBatches);
// and the tokenized examples one per line (for Axolotl, which packs on its own).
//
// The studio's labels are already shifted (labels[t] is the target of position t: token t + 1),
// Hugging Face's are not (labels[t] is token t; the model's output at t - 1 predicts it). So a
// row's HF labels are [-100, studio[0], ..., studio[T - 2]], and studio[T - 1] (trained only
// where an example was cut at the row's end and its next token is an answer token) goes in
// `label_after_row`, written only when it is not -100.
import { BatchIterator, IGNORE_INDEX, type Batch, type TokenizedDataset } from '../../data';
import type { TrainConfig } from '../config';
import { evaluationBatches } from '../trainer';

export interface RecipeRow {
  /** 1-based optimizer step (training rows only) */
  step?: number;
  /** micro-batch within the step (training rows only) */
  micro?: number;
  input_ids: number[];
  labels: number[];
  position_ids: number[];
  attention_mask: number[];
  label_after_row?: number;
}

/** The rows of one micro-batch. */
export function batchRows(b: Batch, where?: { step: number; micro: number }): RecipeRow[] {
  const rows: RecipeRow[] = [];
  for (let r = 0; r < b.B; r++) {
    const at = r * b.T;
    const studio = b.labels.subarray(at, at + b.T);
    const labels = [IGNORE_INDEX, ...Array.from(studio.subarray(0, b.T - 1))];
    const row: RecipeRow = {
      ...(where ?? {}),
      input_ids: Array.from(b.tokens.subarray(at, at + b.T)),
      labels,
      position_ids: Array.from(b.positions.subarray(at, at + b.T)),
      attention_mask: Array.from(b.docIds.subarray(at, at + b.T), (d) => (d >= 0 ? 1 : 0)),
    };
    if (studio[b.T - 1] !== IGNORE_INDEX) row.label_after_row = studio[b.T - 1];
    rows.push(row);
  }
  return rows;
}

/** The batch a row set came from, back in the studio's layout (tests; train.py's collate does the same). */
export function rowsToBatch(rows: RecipeRow[]): Omit<Batch, 'trainedTokens'> & { trainedTokens: number } {
  const B = rows.length;
  const T = rows[0].input_ids.length;
  const tokens = new Int32Array(B * T);
  const labels = new Int32Array(B * T);
  const positions = new Int32Array(B * T);
  const docIds = new Int32Array(B * T);
  let trainedTokens = 0;
  rows.forEach((row, r) => {
    let doc = -1;
    for (let t = 0; t < T; t++) {
      tokens[r * T + t] = row.input_ids[t];
      positions[r * T + t] = row.position_ids[t];
      if (row.position_ids[t] === 0) doc++;
      docIds[r * T + t] = row.attention_mask[t] ? doc : -1;
      const y = t < T - 1 ? row.labels[t + 1] : (row.label_after_row ?? IGNORE_INDEX);
      labels[r * T + t] = y;
      if (y !== IGNORE_INDEX) trainedTokens++;
    }
  });
  return { B, T, tokens, labels, positions, docIds, trainedTokens };
}

/** The trainer's batch options for a job (Trainer.batchOptions). */
export function trainerBatchOptions(c: TrainConfig) {
  return { batchSize: c.batchSize, seqLen: c.seqLen, pack: c.pack, seed: c.seed };
}

/**
 * Every micro-batch of steps 1..totalSteps, as the trainer draws them (gradAccumulation per step,
 * from the start of the data), each passed to `visit` with its step and index in the step.
 */
export function forEachTrainingBatch(train: TokenizedDataset, c: TrainConfig, totalSteps: number, visit: (b: Batch, step: number, micro: number) => void): void {
  const it = new BatchIterator(train, trainerBatchOptions(c));
  for (let s = 1; s <= totalSteps; s++) for (let i = 0; i < c.gradAccumulation; i++) visit(it.next(), s, i);
}

/** The training rows as JSONL text (one line per row). */
export function trainingJsonl(train: TokenizedDataset, c: TrainConfig, totalSteps: number): string {
  const lines: string[] = [];
  forEachTrainingBatch(train, c, totalSteps, (b, step, micro) => {
    for (const row of batchRows(b, { step, micro })) lines.push(JSON.stringify(row));
  });
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** How many batches the trainer's evaluation uses (Trainer.evaluate's default). */
export const EVAL_MAX_BATCHES = 8;

/** The validation rows the trainer's evaluation is over (empty when there is no validation split). */
export function evaluationJsonl(val: TokenizedDataset | null, c: TrainConfig): string {
  if (!val || val.offsets.length < 2) return '';
  const lines = evaluationBatches(val, c, EVAL_MAX_BATCHES).flatMap((b) => batchRows(b)).map((r) => JSON.stringify(r));
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** The tokenized examples in file order, one per line, unpadded (HF labels, -100 where not trained). */
export function examplesJsonl(ds: TokenizedDataset): string {
  const lines: string[] = [];
  for (let e = 0; e + 1 < ds.offsets.length; e++) {
    const a = ds.offsets[e];
    const z = ds.offsets[e + 1];
    const ids = Array.from(ds.tokens.subarray(a, z));
    // HF: the label at t is token t when it is trained (the studio trains token t as position t - 1's target)
    const labels = ids.map((id, j) => (j > 0 && ds.trained[a + j] === 1 ? id : IGNORE_INDEX));
    lines.push(JSON.stringify({ input_ids: ids, attention_mask: ids.map(() => 1), labels }));
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
