// Batches for training: examples in a seeded order per epoch, either packed several to a row or
// one per row with padding. The cursor {epoch, position} is plain JSON; restoring it reproduces
// exactly the batches that would have followed.
//
// Label convention: labels are already shifted. labels[t] is the target for the model's output at
// position t, i.e. the next token tokens[t+1] of the same document, or -100 when that token is not
// trained (a prompt token), when t is a document's last position, or t is padding. So the loss is
// cross_entropy(logits[t], labels[t]) over t with labels[t] !== -100, with no further shifting.
// Attention: position t may attend to s <= t only where docIds[s] === docIds[t] (padding: -1).
// positions restart at 0 for every document in a row.

import { mixSeed, permutation } from '../util/prng';
import type { TokenizedDataset } from './tokenize';

export const IGNORE_INDEX = -100;

export interface Batch {
  B: number;
  T: number;
  tokens: Int32Array;
  labels: Int32Array;
  positions: Int32Array;
  docIds: Int32Array;
  /** labels that are not -100. */
  trainedTokens: number;
}

export interface BatchCursor {
  /** Epochs completed before the next example. */
  epoch: number;
  /** Index, in this epoch's shuffled order, of the next example to use. */
  position: number;
}

export interface BatchOptions {
  batchSize: number;
  /** Row length T. Examples longer than T are cut to T (tokenize with maxSeqLen <= T to avoid it). */
  seqLen: number;
  /** Pack several examples per row (true) or one example per row, padded (false). */
  pack: boolean;
  seed: number;
  /** Shuffle each epoch (default true); false walks examples in file order (validation). */
  shuffle?: boolean;
  /** Token id for padding (default 0); padding is never attended to nor trained. */
  padId?: number;
}

/** The order of examples in an epoch. */
export function epochOrder(n: number, seed: number, epoch: number, shuffle = true): Int32Array {
  if (!shuffle) return Int32Array.from({ length: n }, (_, i) => i);
  return permutation(n, mixSeed(seed, epoch));
}

export class BatchIterator {
  private readonly ds: TokenizedDataset;
  private readonly opts: Required<BatchOptions>;
  private readonly n: number;
  private epoch: number;
  private position: number;
  private order: Int32Array;

  constructor(ds: TokenizedDataset, opts: BatchOptions, cursor?: BatchCursor) {
    this.ds = ds;
    this.opts = { shuffle: true, padId: 0, ...opts };
    this.n = ds.offsets.length - 1;
    if (this.n === 0) throw new RangeError('BatchIterator needs a dataset with at least one example.');
    if (!(opts.batchSize >= 1 && opts.seqLen >= 2)) throw new RangeError(`batchSize must be >= 1 and seqLen >= 2, got ${opts.batchSize} and ${opts.seqLen}.`);
    const c = cursor ?? { epoch: 0, position: 0 };
    if (!Number.isInteger(c.epoch) || !Number.isInteger(c.position) || c.epoch < 0 || c.position < 0 || c.position > this.n) {
      throw new RangeError(`Cursor ${JSON.stringify(c)} does not fit a dataset of ${this.n} examples; was it saved for another dataset?`);
    }
    this.epoch = c.epoch;
    this.position = c.position;
    this.order = epochOrder(this.n, this.opts.seed, this.epoch, this.opts.shuffle);
  }

  /** Where the next batch starts; save it with the checkpoint. */
  cursor(): BatchCursor {
    return { epoch: this.epoch, position: this.position };
  }

  private peek(): number {
    if (this.position >= this.n) {
      this.epoch++;
      this.position = 0;
      this.order = epochOrder(this.n, this.opts.seed, this.epoch, this.opts.shuffle);
    }
    return this.order[this.position];
  }

  private length(i: number): number {
    return Math.min(this.ds.offsets[i + 1] - this.ds.offsets[i], this.opts.seqLen);
  }

  next(): Batch {
    const { batchSize: B, seqLen: T, pack, padId } = this.opts;
    const tokens = new Int32Array(B * T).fill(padId);
    const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
    const positions = new Int32Array(B * T);
    const docIds = new Int32Array(B * T).fill(-1);
    let trainedTokens = 0;
    for (let b = 0; b < B; b++) {
      let t = 0;
      let doc = 0;
      for (;;) {
        const i = this.peek();
        const len = this.length(i);
        if (t > 0 && t + len > T) break; // starts the next row
        trainedTokens += this.place(i, len, b * T + t, doc, tokens, labels, positions, docIds);
        this.position++;
        t += len;
        doc++;
        if (!pack || t >= T) break;
      }
    }
    return { B, T, tokens, labels, positions, docIds, trainedTokens };
  }

  private place(
    i: number, len: number, at: number, doc: number,
    tokens: Int32Array, labels: Int32Array, positions: Int32Array, docIds: Int32Array,
  ): number {
    const a = this.ds.offsets[i];
    const end = this.ds.offsets[i + 1];
    let trained = 0;
    for (let j = 0; j < len; j++) {
      tokens[at + j] = this.ds.tokens[a + j];
      positions[at + j] = j;
      docIds[at + j] = doc;
      // The target of position j is token j+1 of the same example, even past a cut at T.
      if (a + j + 1 < end && this.ds.trained[a + j + 1] === 1) {
        labels[at + j] = this.ds.tokens[a + j + 1];
        trained++;
      }
    }
    return trained;
  }
}
