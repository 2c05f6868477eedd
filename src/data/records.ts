// The part of reading every row-based format shares (JSON Lines, a JSON array, CSV, Parquet):
// hold the first rows back until the format is known (detected, or the user's mapping), then turn
// each parsed record into an example or a bad row, in file order, without keeping the rows.

import { detectFormat, formatFromMapping } from './detect';
import type { ParsedRecord } from './parseJson';
import { isBadRow, toExample } from './rows';
import type { BadRow, DetectedFormat, Example, RawDataset } from './types';
import { DatasetError, badRowError } from './types';

export interface RecordOptions {
  mapping?: import('./types').ColumnMapping;
  keepRows?: boolean;
  onFormat?: (format: DetectedFormat) => void;
  onExample?: (ex: Example) => void;
  onBadRow?: 'collect' | 'stop';
  detectRows?: number;
  /** Stop after this many rows (valid + bad); the rest of the file is not read. */
  maxRows?: number;
}

/** The rows read and what became of them; `rowCount` counts valid and bad rows. */
export type RecordResult = Pick<RawDataset, 'format' | 'examples' | 'badRows' | 'rowCount'>;

/**
 * Consumes `records` (see ParsedRecord) into examples and bad rows. `badLines` (line -> reason)
 * holds lines whose bytes did not decode: a record spanning one is a bad row as a whole, and one
 * outside every record is a bad row by itself. `fileName` names the file in errors.
 */
export async function consumeRecords(
  records: AsyncGenerator<ParsedRecord>,
  fileName: string,
  opts: RecordOptions,
  badLines: Map<number, string> = new Map(),
): Promise<RecordResult> {
  const keep = opts.keepRows ?? true;
  const stopAtBad = opts.onBadRow === 'stop';
  const maxRows = opts.maxRows ?? Infinity;
  const examples: Example[] = [];
  const badRows: BadRow[] = [];
  let rowCount = 0;
  const accept = (x: Example | BadRow) => {
    rowCount++;
    if (isBadRow(x)) {
      if (stopAtBad) throw badRowError(x, fileName);
      badRows.push(x);
    } else {
      if (keep) examples.push(x);
      opts.onExample?.(x);
    }
  };

  // Hold the first rows back until the format is known, then validate them and stream the rest.
  const sampleSize = opts.detectRows ?? 200;
  const held: ParsedRecord[] = [];
  let format: DetectedFormat | undefined = opts.mapping ? formatFromMapping(opts.mapping) : undefined;
  if (format) opts.onFormat?.(format);
  const decide = () => {
    format = detectFormat(held.filter((r) => 'value' in r).map((r) => (r as { value: unknown }).value));
    format.sampled = held.length;
    opts.onFormat?.(format);
  };
  const flushBadLinesBefore = (line: number) => {
    for (const [l, reason] of badLines) {
      if (l >= line) break;
      badLines.delete(l);
      accept({ line: l, reason });
    }
  };
  const located = (row: BadRow, rec: ParsedRecord): BadRow => {
    if (rec.rowGroup !== undefined) row.rowGroup = rec.rowGroup;
    if (rec.file !== undefined) row.file = rec.file;
    return row;
  };
  const handle = (rec: ParsedRecord) => {
    flushBadLinesBefore(rec.line);
    let undecodable: string | undefined;
    for (let l = rec.line, last = rec.last ?? rec.line; l <= last && badLines.size > 0; l++) {
      const reason = badLines.get(l);
      if (reason === undefined) continue;
      badLines.delete(l);
      // relative, like every reason: the row's own line number is the bad row's line
      undecodable ??= l === rec.line ? reason : `its line ${l - rec.line + 1} (the record spans ${last - rec.line + 1} lines) is ${reason}`;
    }
    if (undecodable !== undefined) accept({ line: rec.line, reason: undecodable });
    else if ('error' in rec) accept(located({ line: rec.line, reason: rec.error }, rec));
    else {
      const x = toExample(rec.value, format!.mapping, rec.line);
      accept(isBadRow(x) ? located(x, rec) : x);
    }
  };
  let seen = 0;
  for await (const rec of records) {
    if (seen >= maxRows) break;
    seen++;
    if (format !== undefined) {
      handle(rec);
      continue;
    }
    held.push(rec);
    if (held.length >= sampleSize) {
      decide();
      for (const h of held) handle(h);
      held.length = 0;
    }
  }
  if (format === undefined) {
    if (held.length === 0) throw new DatasetError('empty', `${fileName} holds no rows.`);
    if (held.every((r) => 'error' in r) && stopAtBad) throw badRowError(located({ line: held[0].line, reason: (held[0] as { error: string }).error }, held[0]), fileName);
    if (held.every((r) => 'error' in r)) {
      const r = held[0] as { line: number; error: string };
      throw new DatasetError('format', `No readable rows in ${fileName}: line ${r.line}: ${r.error}.`, { line: r.line, reason: r.error });
    }
    decide();
    for (const h of held) handle(h);
  }
  // with a row limit, undecodable lines past the last row read are not part of what was read
  flushBadLinesBefore(seen >= maxRows ? 0 : Infinity);
  return { format: format!, examples, badRows, rowCount };
}

/** Where a row group starts: its first row's number (from 1, across shards), its index and shard. */
export interface RowGroupStart {
  firstLine: number;
  rowGroup: number;
  file?: string;
}

/**
 * Gives the bad rows that lack one (those found after reading: while tokenizing) their row group
 * and shard, from the row groups' starts in line order.
 */
export function locateBadRows(rows: BadRow[], starts: readonly RowGroupStart[] | undefined): BadRow[] {
  if (starts === undefined || starts.length === 0) return rows;
  return rows.map((r) => {
    if (r.rowGroup !== undefined) return r;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid].firstLine <= r.line) lo = mid;
      else hi = mid - 1;
    }
    const s = starts[lo];
    return { ...r, rowGroup: s.rowGroup, ...(s.file === undefined ? {} : { file: s.file }) };
  });
}
