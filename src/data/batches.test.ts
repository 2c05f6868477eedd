import { describe, expect, test } from 'vitest';
import { BatchIterator, epochOrder, IGNORE_INDEX, type Batch } from './batches';
import { mixSeed, mulberry32, permutation } from '../util/prng';
import { splitDataset } from './split';
import { computeStats, type TokenizedDataset } from './tokenize';

/**
 * A synthetic dataset: example i has length lens[i]; its tokens are 1000*i + j, and its first
 * `prompt[i]` tokens are prompt (not trained).
 */
function synthetic(lens: number[], prompt: number[] = lens.map(() => 1), maxSeqLen = 64): TokenizedDataset {
  const total = lens.reduce((a, b) => a + b, 0);
  const tokens = new Int32Array(total);
  const trained = new Uint8Array(total);
  const offsets = new Int32Array(lens.length + 1);
  let at = 0;
  lens.forEach((len, i) => {
    for (let j = 0; j < len; j++) {
      tokens[at + j] = 1000 * i + j;
      trained[at + j] = j >= prompt[i] ? 1 : 0;
    }
    at += len;
    offsets[i + 1] = at;
  });
  const base = computeStats({ offsets, trained }, maxSeqLen);
  return {
    fileName: 'syn', format: { name: 'text', kind: 'text', mapping: { kind: 'text', text: 'text' }, confidence: 1, sampled: 0 },
    maxSeqLen, tokens, trained, offsets, lines: Int32Array.from(lens, (_, i) => i + 1), badRows: [],
    stats: { ...base, rows: lens.length, truncatedRows: 0, splitRows: 0, skippedRows: 0, rowsWithSpecialTokenText: 0 },
  };
}

const exampleOf = (tok: number) => Math.floor(tok / 1000);

describe('seeded PRNG and shuffle', () => {
  test('mulberry32 gives the reference sequence (same on every platform)', () => {
    const next = mulberry32(42);
    // Values of the widely copied reference mulberry32 (bryc, "PRNG shootout") for seed 42;
    // the first is the familiar 0.6011037519201636 once divided by 2^32.
    expect([next(), next(), next()]).toEqual([2581720956, 1925393290, 3661312704]);
  });

  test('permutations are permutations, depend on the seed, and repeat for the same seed', () => {
    const p = permutation(1000, 7);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(permutation(1000, 7)).toEqual(p);
    expect(permutation(1000, 8)).not.toEqual(p);
    expect(epochOrder(1000, 7, 0)).not.toEqual(epochOrder(1000, 7, 1));
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1));
  });
});

describe('split', () => {
  test('seeded, disjoint, complete, file order kept', () => {
    const ds = synthetic(Array.from({ length: 100 }, (_, i) => 3 + (i % 5)));
    const a = splitDataset(ds, { validationFraction: 0.1, seed: 1 });
    const b = splitDataset(ds, { validationFraction: 0.1, seed: 1 });
    const c = splitDataset(ds, { validationFraction: 0.1, seed: 2 });
    expect(a.validation.lines).toEqual(b.validation.lines);
    expect(a.validation.lines).not.toEqual(c.validation.lines);
    expect(a.validation.stats.examples).toBe(10);
    expect(a.train.stats.examples).toBe(90);
    const all = [...a.train.lines, ...a.validation.lines].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const vl = Array.from(a.validation.lines);
    expect(vl).toEqual([...vl].sort((x, y) => x - y));
    // tokens travel with their example
    const k = a.validation.lines[0] - 1;
    expect(Array.from(a.validation.tokens.subarray(0, a.validation.offsets[1]))).toEqual(Array.from(ds.tokens.subarray(ds.offsets[k], ds.offsets[k + 1])));
    expect(a.train.stats.tokens + a.validation.stats.tokens).toBe(ds.stats.tokens);
    expect(a.train.stats.trainedTokens + a.validation.stats.trainedTokens).toBe(ds.stats.trainedTokens);
  });

  test('a small fraction still holds out one example; zero holds out none', () => {
    const ds = synthetic([3, 3, 3]);
    expect(splitDataset(ds, { validationFraction: 0.01, seed: 0 }).validation.stats.examples).toBe(1);
    expect(splitDataset(ds, { validationFraction: 0, seed: 0 }).validation.stats.examples).toBe(0);
  });
});

function checkBatchInvariants(ds: TokenizedDataset, b: Batch): void {
  let trained = 0;
  for (let r = 0; r < b.B; r++) {
    for (let t = 0; t < b.T; t++) {
      const k = r * b.T + t;
      if (b.docIds[k] === -1) {
        expect(b.labels[k]).toBe(IGNORE_INDEX);
        continue;
      }
      const ex = exampleOf(b.tokens[k]);
      // positions restart per document and match the token's index inside its example
      expect(b.positions[k]).toBe(b.tokens[k] % 1000);
      if (b.labels[k] !== IGNORE_INDEX) {
        trained++;
        // the label is the next token of the same example, and it is a trained one
        expect(b.labels[k]).toBe(b.tokens[k] + 1);
        const j = ds.offsets[ex] + (b.tokens[k] % 1000) + 1;
        expect(ds.trained[j]).toBe(1);
      }
      if (t + 1 < b.T && b.docIds[k + 1] === b.docIds[k]) expect(exampleOf(b.tokens[k + 1])).toBe(ex);
    }
  }
  expect(b.trainedTokens).toBe(trained);
}

describe('packing', () => {
  test('documents are packed whole with boundaries: docIds, positions restart, no label crosses a boundary', () => {
    const ds = synthetic([5, 3, 7, 2, 6, 4], [2, 1, 3, 1, 1, 2]);
    const it = new BatchIterator(ds, { batchSize: 2, seqLen: 12, pack: true, seed: 3, shuffle: false });
    const b = it.next();
    // row 0: examples 0 (5) + 1 (3) = 8; example 2 (7) does not fit -> row 1: 2 (7) + 3 (2) = 9
    const row = (r: number, arr: Int32Array) => Array.from(arr.subarray(r * 12, r * 12 + 12));
    expect(row(0, b.docIds)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, -1, -1, -1, -1]);
    expect(row(0, b.positions)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 0, 0, 0, 0]);
    expect(row(0, b.tokens)).toEqual([0, 1, 2, 3, 4, 1000, 1001, 1002, 0, 0, 0, 0]);
    // example 0 has a 2-token prompt: the first target is token 2 (label at position 1)
    expect(row(0, b.labels)).toEqual([-100, 2, 3, 4, -100, 1001, 1002, -100, -100, -100, -100, -100]);
    expect(row(1, b.docIds)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, -1, -1, -1]);
    expect(row(1, b.labels)).toEqual([-100, -100, 2003, 2004, 2005, 2006, -100, 3001, -100, -100, -100, -100]);
    expect(it.cursor()).toEqual({ epoch: 0, position: 4 });
    checkBatchInvariants(ds, b);
  });

  test('without packing: one example per row, padded with padId, labels -100 and docId -1', () => {
    const ds = synthetic([5, 3, 7]);
    const it = new BatchIterator(ds, { batchSize: 3, seqLen: 6, pack: false, seed: 0, shuffle: false, padId: 99 });
    const b = it.next();
    expect(Array.from(b.tokens)).toEqual([0, 1, 2, 3, 4, 99, 1000, 1001, 1002, 99, 99, 99, 2000, 2001, 2002, 2003, 2004, 2005]);
    expect(Array.from(b.docIds)).toEqual([0, 0, 0, 0, 0, -1, 0, 0, 0, -1, -1, -1, 0, 0, 0, 0, 0, 0]);
    // example 2 is cut at T = 6, but position 5's target (token 6) still exists in the example
    expect(Array.from(b.labels.subarray(12))).toEqual([2001, 2002, 2003, 2004, 2005, 2006]);
    checkBatchInvariants(ds, b);
  });

  test('many random batches keep the invariants and use every example once per epoch', () => {
    const lens = Array.from({ length: 57 }, (_, i) => 2 + ((i * 7) % 13));
    const ds = synthetic(lens, lens.map((l) => Math.floor(l / 3)));
    const it = new BatchIterator(ds, { batchSize: 4, seqLen: 16, pack: true, seed: 11 });
    const seen = new Map<number, number>();
    while (it.cursor().epoch === 0) {
      const before = it.cursor();
      const b = it.next();
      checkBatchInvariants(ds, b);
      for (let k = 0; k < b.B * b.T; k++) if (b.docIds[k] >= 0 && b.positions[k] === 0) {
        const ex = exampleOf(b.tokens[k]);
        if (it.cursor().epoch === 0 || before.epoch === 0) seen.set(ex, (seen.get(ex) ?? 0) + 1);
      }
    }
    // every example of epoch 0 appeared (the last batch may also hold some of epoch 1)
    expect(seen.size).toBe(57);
  });
});

describe('cursor', () => {
  test('restoring a saved cursor reproduces exactly the following batches, across epochs', () => {
    const lens = Array.from({ length: 23 }, (_, i) => 2 + ((i * 5) % 11));
    const ds = synthetic(lens);
    for (const pack of [true, false]) {
      const opts = { batchSize: 3, seqLen: 12, pack, seed: 5 };
      const a = new BatchIterator(ds, opts);
      for (let i = 0; i < 7; i++) a.next();
      const saved = JSON.parse(JSON.stringify(a.cursor())) as { epoch: number; position: number };
      const expected = Array.from({ length: 12 }, () => a.next());
      expect(a.cursor().epoch).toBeGreaterThan(saved.epoch); // the run crossed an epoch boundary
      const b = new BatchIterator(ds, opts, saved);
      const got = Array.from({ length: 12 }, () => b.next());
      expect(got).toEqual(expected);
      expect(b.cursor()).toEqual(a.cursor());
      // a different seed gives different batches
      const c = new BatchIterator(ds, { ...opts, seed: 6 }, saved);
      expect(c.next().tokens).not.toEqual(expected[0].tokens);
    }
  });

  test('a cursor that does not fit the dataset is refused', () => {
    expect(() => new BatchIterator(synthetic([3, 3]), { batchSize: 1, seqLen: 4, pack: true, seed: 0 }, { epoch: 0, position: 5 })).toThrow(/another dataset/);
  });
});
