// Streaming CSV (RFC 4180: a header row, quoted fields with embedded delimiters, newlines and
// doubled quotes). A small scanner finds where each record ends and the line it starts on, which
// papaparse cannot tell us when fed a stream chunk by chunk; papaparse then parses each record's
// fields, so quoting rules are papaparse's.

import Papa from 'papaparse';
import { spanning, type ParsedRecord } from './parseJson';

const QUOTE = 34, NL = 10;

// Scanner states, following where a quote may legally open a field.
const FIELD_START = 0, UNQUOTED = 1, QUOTED = 2, QUOTE_IN_QUOTED = 3;

/**
 * Guesses the delimiter from the header line: the most frequent of comma, tab, semicolon and
 * pipe (comma on a tie or when there is none). The header alone decides because data rows may be
 * full of commas inside quoted text.
 */
export function guessDelimiter(head: string): string {
  // the header is the first line with content (parseCsv skips blank lines the same way)
  const header = head.split('\n').find((l) => l.trim() !== '') ?? '';
  let best = ',';
  let bestCount = 0;
  for (const d of [',', '\t', ';', '|']) {
    const count = header.split(d).length - 1;
    if (count > bestCount) {
      best = d;
      bestCount = count;
    }
  }
  return best;
}

interface RawRecord {
  line: number;
  /** the record's last line (quoted fields may hold newlines) */
  last: number;
  text: string;
  /** The file ended inside a quoted field. */
  unterminated: boolean;
}

async function* splitRecords(chunks: AsyncIterable<string>, delimiter: string): AsyncGenerator<RawRecord> {
  const delim = delimiter.charCodeAt(0);
  let state = FIELD_START;
  let lineNo = 1;
  let recLine = 1;
  let parts: string[] = [];
  for await (const chunk of chunks) {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (state === QUOTED) {
        if (c === QUOTE) state = QUOTE_IN_QUOTED;
        else if (c === NL) lineNo++;
        continue;
      }
      if (c === NL) {
        parts.push(chunk.slice(start, i));
        const text = parts.join('');
        parts = [];
        yield { line: recLine, last: lineNo, text: text.endsWith('\r') ? text.slice(0, -1) : text, unterminated: false };
        start = i + 1;
        lineNo++;
        recLine = lineNo;
        state = FIELD_START;
        continue;
      }
      if (state === QUOTE_IN_QUOTED) {
        // "" is an escaped quote; anything else closes the field (papaparse judges what follows)
        state = c === QUOTE ? QUOTED : c === delim ? FIELD_START : UNQUOTED;
      } else if (state === FIELD_START) {
        state = c === QUOTE ? QUOTED : c === delim ? FIELD_START : UNQUOTED;
      } else if (c === delim) {
        state = FIELD_START;
      }
    }
    parts.push(chunk.slice(start));
  }
  const text = parts.join('');
  if (text.length > 0) yield { line: recLine, last: lineNo, text, unterminated: state === QUOTED };
}

function isBlank(s: string): boolean {
  return s.trim().length === 0;
}

/**
 * Yields one record per data row as an object keyed by the header's column names. Papaparse's
 * complaints (a stray quote, a quoted field never closed) and a field count that differs from the
 * header's become errors for that record's starting line.
 */
export async function* parseCsv(chunks: AsyncIterable<string>, delimiter: string): AsyncGenerator<ParsedRecord> {
  let header: string[] | null = null;
  for await (const rec of splitRecords(chunks, delimiter)) {
    if (isBlank(rec.text)) continue;
    if (rec.unterminated) {
      yield spanning({ line: rec.line, error: 'a quoted field is never closed (a `"` is missing); the rest of the file was read as part of this record' }, rec.last);
      continue;
    }
    const res = Papa.parse<string[]>(rec.text, { delimiter, header: false, skipEmptyLines: false });
    if (res.errors.length > 0 || res.data.length !== 1) {
      const msg = res.errors.length > 0 ? res.errors[0].message : `record splits into ${res.data.length} rows`;
      if (header === null) {
        yield spanning({ line: rec.line, error: `cannot read the CSV header row: ${msg}` }, rec.last);
        return;
      }
      yield spanning({ line: rec.line, error: `malformed CSV record: ${msg}` }, rec.last);
      continue;
    }
    const fields = res.data[0];
    if (header === null) {
      header = fields.map((f) => f.trim());
      const seen = new Set<string>();
      const dup = header.find((h) => seen.size === seen.add(h).size);
      if (dup !== undefined) {
        yield spanning({ line: rec.line, error: `the CSV header names column "${dup}" twice` }, rec.last);
        return;
      }
      continue;
    }
    if (fields.length !== header.length) {
      yield spanning({ line: rec.line, error: `has ${fields.length} fields but the header has ${header.length} (${header.join(', ')})` }, rec.last);
      continue;
    }
    const obj: Record<string, string> = {};
    for (let i = 0; i < header.length; i++) obj[header[i]] = fields[i];
    yield spanning({ line: rec.line, value: obj }, rec.last);
  }
}
