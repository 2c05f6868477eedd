// Tokenizes a read dataset: template -> segments -> token ids with a per-token "trained" flag
// (encodeSegments.ts: the whole text's tokens), truncated to maxSeqLen, with statistics for the UI.
//
// Storage: all examples' tokens in one Int32Array, `offsets[i]..offsets[i+1]` for example i.
// `trained[j] = 1` means token j is a prediction target: the loss at the position before it is
// counted. The first token of an example is never a target (nothing precedes it).

import { SegmentEncoder, type TokenizerLike } from './encode';
import { encodeSegments } from './encodeSegments';
import { locateBadRows } from './records';
import { ChatRenderer, RowProblem, type ChatTemplateInfo } from './template';
import type { BadRow, DetectedFormat, Example, RawDataset } from './types';
import { DatasetError, badRowError } from './types';

export interface TokenizeOptions {
  maxSeqLen: number;
  /** 'completions' (default): only answer/assistant tokens are targets; 'all': every token. */
  trainOn?: 'completions' | 'all';
  /** What to do with rows that cannot be used: skip them (counted, listed) or throw at the first one. */
  onBadRow: 'skip' | 'stop';
  /**
   * Rows whose text contains an added token's text ("</s>", "<|im_end|>") would get that control
   * token where the user wrote plain text: 'reject' (default) reports them as bad rows; 'allow'
   * encodes them as the tokenizer does (the special id) and counts them in stats.
   */
  specialTokenText?: 'reject' | 'allow';
  /** Bins of the length histogram (default 16). */
  histogramBins?: number;
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
}

export interface LengthHistogram {
  /** bins + 1 edges; bin i counts lengths in [edges[i], edges[i+1]) (the last bin includes its right edge). */
  edges: number[];
  counts: number[];
}

export interface DatasetStats {
  /** Rows in the file (for a .txt file: lines). */
  rows: number;
  /** Training sequences produced (a long text row may give several). */
  examples: number;
  tokens: number;
  /** Positions whose target counts in the loss. */
  trainedTokens: number;
  /** Instruction/chat rows cut at maxSeqLen. */
  truncatedRows: number;
  /** Text rows longer than maxSeqLen, cut into several blocks instead of truncated. */
  splitRows: number;
  skippedRows: number;
  /** Rows let through with added-token text (specialTokenText: 'allow'). */
  rowsWithSpecialTokenText: number;
  lengthHistogram: LengthHistogram;
  maxLength: number;
  meanLength: number;
}

export interface TokenizedDataset {
  fileName: string;
  format: DetectedFormat;
  maxSeqLen: number;
  tokens: Int32Array;
  trained: Uint8Array;
  /** examples + 1 entries. */
  offsets: Int32Array;
  /** Source line of each example (where its row or text block starts). */
  lines: Int32Array;
  /** Bad rows from reading and from tokenizing, in line order. */
  badRows: BadRow[];
  stats: DatasetStats;
}

class Growable {
  tokens = new Int32Array(1 << 16);
  trained = new Uint8Array(1 << 16);
  offsets: number[] = [0];
  lines: number[] = [];
  size = 0;

  push(ids: ArrayLike<number>, trained: ArrayLike<number>, line: number): void {
    const need = this.size + ids.length;
    if (need > this.tokens.length) {
      let cap = this.tokens.length;
      while (cap < need) cap *= 2;
      const t = new Int32Array(cap);
      t.set(this.tokens.subarray(0, this.size));
      const m = new Uint8Array(cap);
      m.set(this.trained.subarray(0, this.size));
      this.tokens = t;
      this.trained = m;
    }
    this.tokens.set(ids, this.size);
    this.trained.set(trained, this.size);
    this.trained[this.size] = 0;
    this.size = need;
    this.offsets.push(need);
    this.lines.push(line);
  }
}

/** Builds the histogram and totals from lengths and the trained mask. */
export function computeStats(
  tokens: { offsets: Int32Array; trained: Uint8Array },
  maxSeqLen: number,
  bins = 16,
): Pick<DatasetStats, 'examples' | 'tokens' | 'trainedTokens' | 'lengthHistogram' | 'maxLength' | 'meanLength'> {
  const n = tokens.offsets.length - 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => Math.round((i * maxSeqLen) / bins));
  const counts = new Array<number>(bins).fill(0);
  let total = 0;
  let trained = 0;
  let maxLength = 0;
  for (let i = 0; i < n; i++) {
    const a = tokens.offsets[i];
    const b = tokens.offsets[i + 1];
    const len = b - a;
    total += len;
    maxLength = Math.max(maxLength, len);
    for (let j = a + 1; j < b; j++) trained += tokens.trained[j];
    const bin = Math.min(bins - 1, Math.floor((len * bins) / maxSeqLen));
    counts[bin]++;
  }
  return {
    examples: n, tokens: total, trainedTokens: trained,
    lengthHistogram: { edges, counts }, maxLength, meanLength: n > 0 ? total / n : 0,
  };
}

function specialReason(special: string): string {
  return `contains the text "${special}", which the tokenizer would turn into a control token; remove it, or allow special-token text`;
}

function exampleTexts(ex: Example): string[] {
  if (ex.kind === 'text') return [ex.text];
  if (ex.kind === 'instruction') return [ex.instruction, ex.input ?? '', ex.output, ex.system ?? ''];
  return ex.messages.map((m) => m.content);
}

/**
 * Tokenizes examples one at a time, as a reader streams them (the rows themselves are not kept:
 * memory grows with the tokens only). Throws a DatasetError ('bad-row') at the first bad row when
 * onBadRow is 'stop'; otherwise skips and lists them. A row is bad here when the template refuses
 * it, when it holds added-token text (see specialTokenText), or when it is too long even alone: its
 * prompt fills maxSeqLen, so no answer token would be left to train on.
 *
 * A plain text file ('text-file' format) is one document: its pieces continue each other, BOS once
 * at the start, EOS once at the end, cut into maxSeqLen blocks.
 */
export class DatasetTokenizer {
  private readonly maxSeqLen: number;
  private readonly trainAll: boolean;
  private readonly stop: boolean;
  private readonly renderer: ChatRenderer;
  private readonly encoder: SegmentEncoder;
  private readonly textFile: boolean;
  private readonly out = new Growable();
  private readonly badRows: BadRow[] = [];
  private truncatedRows = 0;
  private splitRows = 0;
  private withSpecial = 0;
  /** text-file mode: the document's ids not yet cut into blocks, and the line they start on */
  private docIds: number[] = [];
  private docLine = -1;
  private docPieces = 0;

  /** `fileName` names the file in bad-row errors. */
  constructor(
    tokenizer: TokenizerLike,
    private readonly template: ChatTemplateInfo,
    format: DetectedFormat,
    private readonly fileName: string,
    private readonly opts: TokenizeOptions,
  ) {
    this.maxSeqLen = opts.maxSeqLen;
    if (!Number.isInteger(this.maxSeqLen) || this.maxSeqLen < 2) {
      throw new DatasetError('format', `maxSeqLen must be an integer of at least 2, got ${this.maxSeqLen}.`);
    }
    this.trainAll = (opts.trainOn ?? 'completions') === 'all';
    this.stop = opts.onBadRow === 'stop';
    this.renderer = new ChatRenderer(template);
    this.encoder = new SegmentEncoder(tokenizer, template.bosToken);
    this.textFile = format.name === 'text-file';
  }

  private bad(row: BadRow): void {
    if (this.stop) throw badRowError(row, this.fileName);
    this.badRows.push(row);
  }

  /** Cuts ids into blocks of maxSeqLen, every token trained; fragments under 2 tokens have no target and are dropped. */
  private pushBlocks(ids: number[], line: number): number {
    let blocks = 0;
    for (let a = 0; a < ids.length; a += this.maxSeqLen) {
      const block = ids.slice(a, a + this.maxSeqLen);
      if (block.length < 2) continue;
      this.out.push(block, new Uint8Array(block.length).fill(1), line);
      blocks++;
    }
    return blocks;
  }

  /** One valid example from the reader, in file order. */
  add(ex: Example): void {
    if (this.textFile) this.addTextPiece(ex);
    else this.addRow(ex);
  }

  private addTextPiece(ex: Example): void {
    if (ex.kind !== 'text') return;
    const { encoder, maxSeqLen } = this;
    if (this.docLine < 0) this.docLine = ex.line;
    let text = ex.text;
    if (encoder.findAddedTokenText(text) !== undefined) {
      // A text file's rows are its lines: report (and with 'skip', leave out) each such line.
      const lines = text.split('\n');
      const kept: string[] = [];
      for (let j = 0; j < lines.length; j++) {
        const special = encoder.findAddedTokenText(lines[j]);
        if (special === undefined) kept.push(lines[j]);
        else if ((this.opts.specialTokenText ?? 'reject') === 'allow') {
          this.withSpecial++;
          kept.push(lines[j]);
        } else {
          this.bad({ line: ex.line + j, reason: specialReason(special) });
        }
      }
      text = kept.join('\n');
    }
    const piece = this.docPieces === 0 ? encoder.encodeFirst(text) : encoder.encodeContinuation(text);
    this.docPieces++;
    for (const id of piece) this.docIds.push(id);
    // Flush whole blocks as they fill, keeping memory at one block plus one piece.
    if (this.docIds.length >= 2 * maxSeqLen) {
      const whole = Math.floor(this.docIds.length / maxSeqLen) * maxSeqLen - maxSeqLen;
      this.pushBlocks(this.docIds.splice(0, whole), this.docLine);
      this.docLine = ex.line;
    }
  }

  private addRow(ex: Example): void {
    const { encoder, template, maxSeqLen } = this;
    const special = exampleTexts(ex).map((t) => encoder.findAddedTokenText(t)).find((s) => s !== undefined);
    if (special !== undefined) {
      if ((this.opts.specialTokenText ?? 'reject') === 'reject') {
        this.bad({ line: ex.line, reason: specialReason(special) });
        return;
      }
      this.withSpecial++;
    }
    let segments;
    try {
      segments = this.renderer.segments(ex);
    } catch (e) {
      if (e instanceof RowProblem) {
        this.bad({ line: ex.line, reason: e.message });
        return;
      }
      throw e;
    }
    const { ids, trained } = encodeSegments(encoder, segments, template.eosId, this.trainAll);
    if (ex.kind === 'text') {
      if (ids.length > maxSeqLen) this.splitRows++;
      this.pushBlocks(ids, ex.line);
      return;
    }
    if (ids.length > maxSeqLen) {
      let targets = 0;
      for (let j = 1; j < maxSeqLen; j++) targets += trained[j];
      if (targets === 0) {
        const promptLen = trained.indexOf(1);
        this.bad({
          line: ex.line,
          reason: `too long: the prompt alone is ${promptLen} tokens and max sequence length is ${maxSeqLen}, so no answer token fits`,
        });
        return;
      }
      this.truncatedRows++;
      ids.length = maxSeqLen;
      trained.length = maxSeqLen;
    }
    this.out.push(ids, trained, ex.line);
  }

  /** The dataset, once the reader is done: `raw` gives its file name, format, row count and bad rows. */
  finish(raw: Pick<RawDataset, 'fileName' | 'format' | 'rowCount' | 'badRows' | 'rowGroups'>): TokenizedDataset {
    const { out, maxSeqLen } = this;
    if (this.textFile) {
      if (this.docLine < 0) this.docLine = 1;
      this.docIds.push(this.template.eosId);
      this.pushBlocks(this.docIds, this.docLine);
      this.docIds = [];
    }
    const badRows = locateBadRows([...raw.badRows, ...this.badRows].sort((a, b) => a.line - b.line), raw.rowGroups);
    const tokens = out.tokens.slice(0, out.size);
    const trainedMask = out.trained.slice(0, out.size);
    const offsets = Int32Array.from(out.offsets);
    const base = computeStats({ offsets, trained: trainedMask }, maxSeqLen, this.opts.histogramBins);
    if (base.examples === 0) {
      throw new DatasetError(
        'empty',
        `${raw.fileName}: no usable rows${badRows.length > 0 ? ` (${badRows.length} bad rows; the first, line ${badRows[0].line}: ${badRows[0].reason})` : ''}.`,
      );
    }
    return {
      fileName: raw.fileName,
      format: raw.format,
      maxSeqLen,
      tokens,
      trained: trainedMask,
      offsets,
      lines: Int32Array.from(out.lines),
      badRows,
      stats: {
        ...base,
        rows: raw.rowCount,
        truncatedRows: this.truncatedRows,
        splitRows: this.splitRows,
        skippedRows: badRows.length,
        rowsWithSpecialTokenText: this.withSpecial,
      },
    };
  }
}

/** Tokenizes every example of a dataset read with its rows kept (see DatasetTokenizer). */
export function tokenizeDataset(
  raw: RawDataset,
  tokenizer: TokenizerLike,
  template: ChatTemplateInfo,
  opts: TokenizeOptions,
): TokenizedDataset {
  const t = new DatasetTokenizer(tokenizer, template, raw.format, raw.fileName, opts);
  if (opts.onBadRow === 'stop' && raw.badRows.length > 0) throw badRowError(raw.badRows[0], raw.fileName);
  const n = raw.examples.length;
  for (let i = 0; i < n; i++) {
    opts.onProgress?.(i, n);
    t.add(raw.examples[i]);
  }
  opts.onProgress?.(n, n);
  return t.finish(raw);
}
