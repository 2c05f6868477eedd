// Segments (rendered text, each trained or not) -> token ids with a trained flag per token, with
// the tokens the tokenizer gives for the whole text, as at generation time.
//
// The tokenizer gives no character offsets. Each segment is encoded on its own (SegmentEncoder:
// BOS once, no dummy prefix on continuations) and the result is checked against the encoding of
// the whole text. They agree when every boundary between a trained and an untrained segment is
// also a token boundary of the whole text: always at a special token (answers end with one), and
// mostly after a template's "\n". Where they do not (a token of the whole text straddles a
// boundary, e.g. "assistant\n" + "\nanswer" gives one "\n\n" token), the whole text's tokens are
// used and each boundary is placed by encoding the text up to it: the tokens both encodings share
// lie before it; a token straddling it contains answer characters and is trained.
//
// An EOS id appended after a segment (eos: 'always') is not text: the text after it continues the
// sequence and is checked as its own run.

import type { SegmentEncoder } from './encode';
import type { Segment } from './template';

export interface EncodedSegments {
  ids: number[];
  /** 1 for a trained token, per id. */
  trained: number[];
  /** Runs whose segment-by-segment tokens differed from the whole text's (their boundaries were placed by re-encoding). */
  realigned: number;
}

function sameIds(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function commonPrefix(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

export function encodeSegments(encoder: SegmentEncoder, segments: Segment[], eosId: number, trainAll = false): EncodedSegments {
  const ids: number[] = [];
  const trained: number[] = [];
  let realigned = 0;
  let runStart = 0;
  for (let s = 0; s < segments.length; s++) {
    if (segments[s].eos !== 'always' && s < segments.length - 1) continue;
    const run = segments.slice(runStart, s + 1);
    const first = ids.length === 0;
    const enc = (text: string, isFirst: boolean) => (isFirst ? encoder.encodeFirst(text) : encoder.encodeContinuation(text));
    const pieces = run.map((seg, j) => enc(seg.text, first && j === 0));
    const joined = pieces.flat();
    const text = run.map((seg) => seg.text).join('');
    const whole = run.length > 1 ? enc(text, first) : joined;
    if (sameIds(joined, whole)) {
      pieces.forEach((p, j) => {
        for (const id of p) {
          ids.push(id);
          trained.push(trainAll || run[j].train ? 1 : 0);
        }
      });
    } else {
      realigned++;
      const flags = new Array<number>(whole.length).fill(0);
      // Boundaries where the flag changes: tokens from the first straddling one (or the boundary) on get the new flag.
      let chars = 0;
      let tokenAt = 0;
      let flag = run[0].train ? 1 : 0;
      for (let j = 0; j < run.length; j++) {
        const f = run[j].train ? 1 : 0;
        if (j > 0 && f !== flag) {
          const before = enc(text.slice(0, chars), first);
          const shared = commonPrefix(before, whole);
          const clean = shared === before.length;
          // Into an answer: a straddling token holds answer text, so it is trained. Out of one: likewise, so it stays trained.
          const boundary = clean ? shared : f === 1 ? shared : shared + 1;
          for (let i = tokenAt; i < Math.min(boundary, whole.length); i++) flags[i] = flag;
          tokenAt = Math.min(boundary, whole.length);
          flag = f;
        }
        chars += run[j].text.length;
      }
      for (let i = tokenAt; i < whole.length; i++) flags[i] = flag;
      whole.forEach((id, i) => {
        ids.push(id);
        trained.push(trainAll || flags[i] ? 1 : 0);
      });
    }
    if (segments[s].eos === 'always') {
      ids.push(eosId);
      trained.push(trainAll || segments[s].train ? 1 : 0);
    }
    runStart = s + 1;
  }
  return { ids, trained, realigned };
}
