// Streaming parsers for JSON Lines and for a JSON array of objects. Each yields one record per
// row with its 1-based line, or the reason the row could not be parsed; nothing is skipped except
// blank lines, which are not rows.

import { readLines } from './stream';

/**
 * `last`: the record's last line, only when it spans several lines (a JSON element, a CSV record).
 * Parquet rows: `line` is the row's 1-based number, `rowGroup` its row group (from 0, as pyarrow
 * numbers them) and `file` its shard when several files are read as one split.
 */
type RecordPlace = { line: number; last?: number; rowGroup?: number; file?: string };
export type ParsedRecord = (RecordPlace & { value: unknown }) | (RecordPlace & { error: string });

/** The record with its last line, when that is not its first. */
export function spanning(rec: ParsedRecord, last: number): ParsedRecord {
  return last > rec.line ? { ...rec, last } : rec;
}

function jsonError(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return `not valid JSON (${msg})`;
}

/** JSON Lines: one JSON value per line. */
export async function* parseJsonLines(chunks: AsyncIterable<string>): AsyncGenerator<ParsedRecord> {
  for await (const { line, text } of readLines(chunks)) {
    if (isBlank(text)) continue;
    try {
      yield { line, value: JSON.parse(text) };
    } catch (e) {
      yield { line, error: jsonError(e) };
    }
  }
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) return false;
  }
  return true;
}

const QUOTE = 34, BACKSLASH = 92, NL = 10, COMMA = 44;
const OPEN_BRACE = 123, CLOSE_BRACE = 125, OPEN_BRACKET = 91, CLOSE_BRACKET = 93;

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * A JSON array of values, `[ {...}, {...} ]`, read element by element: a scanner finds where each
 * top-level element ends (tracking strings, escapes and nesting), then JSON.parse reads it alone.
 * A malformed element is reported with the line it starts on and the scan goes on, because the
 * bracket structure usually still tells where the next element begins.
 */
export async function* parseJsonArray(chunks: AsyncIterable<string>): AsyncGenerator<ParsedRecord> {
  // state: 0 = before '[', 1 = between elements, 2 = inside an element, 3 = after ']'
  let state = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let lineNo = 1;
  let elemLine = 0;
  let parts: string[] = [];
  let trailingReported = false;

  const finish = (): ParsedRecord => {
    const text = parts.join('');
    parts = [];
    try {
      return spanning({ line: elemLine, value: JSON.parse(text) }, lineNo);
    } catch (e) {
      return spanning({ line: elemLine, error: jsonError(e) }, lineNo);
    }
  };

  for await (const chunk of chunks) {
    let elemStart = state === 2 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (state === 2) {
        if (inString) {
          if (escaped) escaped = false;
          else if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) inString = false;
          else if (c === NL) lineNo++;
          continue;
        }
        if (c === QUOTE) inString = true;
        else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
        else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && depth > 0) depth--;
        else if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET)) {
          parts.push(chunk.slice(elemStart, i));
          yield finish();
          state = c === COMMA ? 1 : 3;
          continue;
        }
        if (c === NL) lineNo++;
        continue;
      }
      if (c === NL) {
        lineNo++;
        continue;
      }
      if (isSpace(c)) continue;
      if (state === 0) {
        if (c !== OPEN_BRACKET) {
          yield { line: lineNo, error: 'a .json file must hold an array of objects, `[{...}, {...}]`' };
          return;
        }
        state = 1;
      } else if (state === 1) {
        if (c === CLOSE_BRACKET) {
          state = 3;
        } else if (c === COMMA) {
          yield { line: lineNo, error: 'empty element (two commas in a row)' };
        } else {
          state = 2;
          depth = 0;
          elemStart = i;
          elemLine = lineNo;
          i--; // rescan this character as the element's first
        }
      } else if (state === 3 && !trailingReported) {
        trailingReported = true;
        yield { line: lineNo, error: 'text after the closing `]` of the array' };
      }
    }
    if (state === 2) parts.push(chunk.slice(elemStart));
  }
  if (state === 2) {
    // The file ended inside an element: report it, parsed or not, so it is never lost silently.
    const rec = finish();
    yield 'error' in rec ? rec : spanning({ line: rec.line, error: 'the file ends before the closing `]` of the array' }, lineNo);
  } else if (state === 1) {
    yield { line: lineNo, error: 'the file ends before the closing `]` of the array' };
  } else if (state === 0) {
    // Empty file: the caller reports an empty dataset.
  }
}
