// Types shared by the dataset pipeline: rows as read from a file, the formats we recognise, and
// the error a caller gets when it asked to stop at the first bad row.

export type Role = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: Role;
  content: string;
}

/** One training example after reading and validation, before any template or tokenizer. */
export type Example =
  | { kind: 'text'; line: number; text: string }
  | { kind: 'instruction'; line: number; instruction: string; input?: string; output: string; system?: string }
  | { kind: 'chat'; line: number; messages: ChatMessage[] };

/**
 * A row we could not use. `line` is 1-based in the file (for CSV: the line where the record
 * starts; for a JSON array: the line where the element starts). Nothing is ever dropped without
 * one of these.
 */
export interface BadRow {
  line: number;
  reason: string;
  /** Parquet: the row group holding the row (from 0, as pyarrow numbers them). */
  rowGroup?: number;
  /** Several Parquet shards read as one split: the shard holding the row (`line` counts across them). */
  file?: string;
}

/** Where a bad row is, in words: "line 12", or for Parquet "row 12 (row group 0)". */
export function badRowPlace(row: BadRow): string {
  if (row.rowGroup === undefined && row.file === undefined) return `line ${row.line}`;
  const at = [row.file, row.rowGroup === undefined ? undefined : `row group ${row.rowGroup}`].filter((x) => x !== undefined);
  return `row ${row.line} (${at.join(', ')})`;
}

/** Which layout the rows follow. `text-file` is a .txt read as one long document. */
export type FormatName =
  | 'text'
  | 'text-file'
  | 'alpaca'
  | 'question-answer'
  | 'prompt-completion'
  | 'input-output'
  | 'openai-chat'
  | 'sharegpt'
  | 'custom';

export type FormatKind = 'text' | 'instruction' | 'chat';

/**
 * How object rows map onto examples. Detection returns one; the UI may pass its own to override
 * (e.g. `{ kind: 'instruction', instruction: 'q', output: 'a' }` for a CSV with columns q,a).
 */
export type ColumnMapping =
  | { kind: 'text'; text: string }
  | { kind: 'instruction'; instruction: string; output: string; input?: string; system?: string }
  | {
      kind: 'chat';
      /** Column holding the message list. */
      messages: string;
      /** Key of each message's role ('role' for OpenAI style, 'from' for ShareGPT). */
      role: string;
      /** Key of each message's text ('content' or 'value'). */
      content: string;
      /** Source role name -> our role. Roles not in the map make the row bad ("unknown role"). */
      roles: Record<string, Role>;
    };

export interface DetectedFormat {
  name: FormatName;
  kind: FormatKind;
  mapping: ColumnMapping;
  /** Fraction of the sampled rows that fit this mapping (1 when the mapping came from the user). */
  confidence: number;
  /** Rows looked at to decide. */
  sampled: number;
}

export interface RawDataset {
  fileName: string;
  format: DetectedFormat;
  /** Valid examples in file order (empty when read with keepRows: false). */
  examples: Example[];
  badRows: BadRow[];
  /** Rows seen (valid + bad); blank lines are not rows. */
  rowCount: number;
  bytes: number;
  /** Parquet: where each row group starts, to place bad rows found after reading. */
  rowGroups?: { firstLine: number; rowGroup: number; file?: string }[];
}

export type DatasetErrorCode = 'bad-row' | 'empty' | 'format' | 'template' | 'tokenizer';

/** A typed error; for 'bad-row', `badRow` names the first offending row. */
export class DatasetError extends Error {
  readonly code: DatasetErrorCode;
  readonly badRow?: BadRow;
  constructor(code: DatasetErrorCode, message: string, badRow?: BadRow) {
    super(message);
    this.name = 'DatasetError';
    this.code = code;
    this.badRow = badRow;
  }
}

export function badRowError(row: BadRow, fileName?: string): DatasetError {
  const where = fileName ? `${fileName}, ${badRowPlace(row)}` : badRowPlace(row);
  return new DatasetError(
    'bad-row',
    `Bad row at ${where}: ${row.reason}. Fix the row, or choose "skip bad rows" to train without it.`,
    row,
  );
}
