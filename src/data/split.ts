// Train/validation split with a seed, and subsets of a tokenized dataset.
// A validation set from a separate file is simply that file tokenized on its own.

import { permutation, mixSeed } from '../util/prng';
import { computeStats, type TokenizedDataset } from './tokenize';

/**
 * The examples at `indices` (kept in the order given) as a dataset of their own. Token totals and
 * the histogram are recomputed; row counts describe the subset (rows = examples, nothing skipped).
 */
export function subsetDataset(ds: TokenizedDataset, indices: ArrayLike<number>): TokenizedDataset {
  let total = 0;
  for (let k = 0; k < indices.length; k++) total += ds.offsets[indices[k] + 1] - ds.offsets[indices[k]];
  const tokens = new Int32Array(total);
  const trained = new Uint8Array(total);
  const offsets = new Int32Array(indices.length + 1);
  const lines = new Int32Array(indices.length);
  let at = 0;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    const a = ds.offsets[i];
    const b = ds.offsets[i + 1];
    tokens.set(ds.tokens.subarray(a, b), at);
    trained.set(ds.trained.subarray(a, b), at);
    at += b - a;
    offsets[k + 1] = at;
    lines[k] = ds.lines[i];
  }
  const base = computeStats({ offsets, trained }, ds.maxSeqLen, ds.stats.lengthHistogram.counts.length);
  return {
    ...ds, tokens, trained, offsets, lines, badRows: [],
    stats: { ...base, rows: indices.length, truncatedRows: 0, splitRows: 0, skippedRows: 0, rowsWithSpecialTokenText: 0 },
  };
}

export interface SplitOptions {
  /** Share of examples held out, 0 <= f < 1. At least one example goes each way when f > 0 and there are two or more. */
  validationFraction: number;
  seed: number;
}

/** Seeded split; both parts keep file order. */
export function splitDataset(ds: TokenizedDataset, opts: SplitOptions): { train: TokenizedDataset; validation: TokenizedDataset } {
  const f = opts.validationFraction;
  if (!(f >= 0 && f < 1)) throw new RangeError(`validationFraction must be in [0, 1), got ${f}.`);
  const n = ds.offsets.length - 1;
  let nVal = Math.round(n * f);
  if (f > 0 && n >= 2) nVal = Math.min(n - 1, Math.max(1, nVal));
  const perm = permutation(n, mixSeed(opts.seed, 0x5eed));
  const val = Array.from(perm.subarray(0, nVal)).sort((a, b) => a - b);
  const train = Array.from(perm.subarray(nVal)).sort((a, b) => a - b);
  return { train: subsetDataset(ds, train), validation: subsetDataset(ds, val) };
}
