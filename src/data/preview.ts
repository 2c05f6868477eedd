// The dataset preview: an example's tokens as runs of text, each trained or not, showing exactly
// which tokens the loss counts. Decoding token by token would be wrong twice: a character split
// over several byte-level or byte-fallback tokens decodes to U+FFFD piece by piece, and a
// SentencePiece decoder strips the leading space of whatever it decodes, gluing words together.
// So each run is the difference of two decodings that start a few tokens earlier; a character
// completed in a run is shown in that run.

export interface PreviewPiece {
  text: string;
  trained: boolean;
  /** Tokens in the run. */
  tokens: number;
}

/** Tokens of context decoded before a run, so that its first characters decode as in the whole text. */
const CONTEXT = 8;

function stripReplacement(s: string): string {
  let end = s.length;
  while (end > 0 && s[end - 1] === '\uFFFD') end--;
  return s.slice(0, end);
}

/**
 * Runs of equally flagged tokens of `ids[from, to)` (trained[j] === 1: trained), with their
 * text. `decode` must turn ids into text without skipping special tokens; it is never called
 * with an empty list.
 */
export function previewPieces(
  decode: (ids: number[]) => string,
  ids: ArrayLike<number>,
  trained: ArrayLike<number>,
  from = 0,
  to = ids.length,
): PreviewPiece[] {
  const pieces: PreviewPiece[] = [];
  let a = from;
  while (a < to) {
    const flag = trained[a] === 1;
    let b = a;
    while (b < to && (trained[b] === 1) === flag) b++;
    const c = Math.max(from, a - CONTEXT);
    const slice = (x: number, y: number) => Array.prototype.slice.call(ids, x, y) as number[];
    const withRun = decode(slice(c, b));
    const before = a > c ? decode(slice(c, a)) : '';
    // A character split over the boundary is U+FFFD at the end of `before`: it belongs to this run.
    const head = withRun.startsWith(before) ? before : stripReplacement(before);
    const text = withRun.startsWith(head) ? withRun.slice(head.length) : withRun;
    pieces.push({ text: stripTrailingPartial(text, b < to), trained: flag, tokens: b - a });
    a = b;
  }
  return pieces;
}

/** A run followed by another may end inside a character (U+FFFD): that character is shown in the next run. */
function stripTrailingPartial(text: string, followed: boolean): string {
  return followed ? stripReplacement(text) : text;
}
