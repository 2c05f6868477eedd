// Reads a Blob (a browser File, or Node's fs.openAsBlob) as a stream of decoded text chunks, so
// that a 500 MB file is never one string and the page gets the event loop back between chunks.

export type ProgressCallback = (bytesRead: number, totalBytes: number) => void;

export interface ReadStreamOptions {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /**
   * Called once for each line (1-based) whose bytes are not valid text in the file's encoding,
   * before the chunk holding it is yielded; the line still comes through, with U+FFFD in place of
   * the bad bytes, so line numbers stay right and the caller can make the row a bad row.
   */
  onBadLine?: (line: number, reason: string) => void;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new DOMException('Reading the dataset was cancelled.', 'AbortError');
}

export type TextEncodingName = 'utf-8' | 'utf-16le' | 'utf-16be';

/** The encoding a byte-order mark names, and the mark's length (no mark: UTF-8). */
export function encodingFromBom(head: Uint8Array): { encoding: TextEncodingName; bomBytes: number } {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return { encoding: 'utf-8', bomBytes: 3 };
  if (head[0] === 0xff && head[1] === 0xfe) return { encoding: 'utf-16le', bomBytes: 2 };
  if (head[0] === 0xfe && head[1] === 0xff) return { encoding: 'utf-16be', bomBytes: 2 };
  return { encoding: 'utf-8', bomBytes: 0 };
}

/** Index of the first byte that starts an invalid UTF-8 sequence (WHATWG rules), or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    if (i + n >= b.length) return i; // cut off by the end
    if (b[i + 1] < lo || b[i + 1] > hi) return i;
    for (let k = 2; k <= n; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

/**
 * Decodes a byte stream chunk by chunk: the encoding from the byte-order mark (UTF-8 with or
 * without one, UTF-16 LE/BE with one), bytes of a character cut by a chunk boundary carried to the
 * next chunk, and every chunk decoded strictly. A chunk that does not decode is decoded again line
 * by line, and each line that still fails is reported (onBadLine) and passed on with U+FFFD: bad
 * bytes become a bad row with its line number, never silent garbage.
 */
export class TextStreamDecoder {
  encoding: TextEncodingName | null = null;
  private head: Uint8Array = new Uint8Array(0);
  private carry: Uint8Array = new Uint8Array(0);
  /** the line the next decoded text starts on */
  private line = 1;
  /** file offset of the next byte to decode, and of the start of the line it is on */
  private offset = 0;
  private lineStart = 0;
  private lastBadLine = 0;
  private strict!: TextDecoder;
  private lenient!: TextDecoder;

  constructor(private readonly onBadLine?: (line: number, reason: string) => void) {}

  private start(bytes: Uint8Array): Uint8Array {
    const { encoding, bomBytes } = encodingFromBom(bytes);
    this.encoding = encoding;
    // ignoreBOM: a U+FEFF inside the file is text; only the file's leading mark is dropped (here)
    this.strict = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
    this.lenient = new TextDecoder(encoding, { ignoreBOM: true });
    this.offset = bomBytes;
    this.lineStart = bomBytes;
    return bytes.subarray(bomBytes);
  }

  /** Decoded text of `bytes` (possibly empty: an unfinished character waits for the next push). */
  push(bytes: Uint8Array): string {
    if (this.encoding === null) {
      // enough bytes to tell every mark (3) before deciding
      this.head = concat(this.head, bytes);
      if (this.head.length < 3) return '';
      bytes = this.start(this.head);
      this.head = new Uint8Array(0);
    }
    const data = this.carry.length > 0 ? concat(this.carry, bytes) : bytes;
    const cut = this.completeLength(data);
    this.carry = data.slice(cut);
    return this.decode(data.subarray(0, cut));
  }

  /** The rest: a character the file ends inside is a bad line. */
  end(): string {
    let text = '';
    if (this.encoding === null) text = this.decode(this.start(this.head));
    if (this.carry.length > 0) {
      text += this.decode(this.carry, 'the file ends in the middle of a character');
      this.carry = new Uint8Array(0);
    }
    return text;
  }

  /** Length of the prefix of `data` that ends on a character boundary. */
  private completeLength(data: Uint8Array): number {
    const n = data.length;
    if (this.encoding === 'utf-8') {
      for (let i = n - 1; i >= Math.max(0, n - 4); i--) {
        const c = data[i];
        if ((c & 0xc0) === 0x80) continue;
        const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return i + need > n ? i : n;
      }
      return n;
    }
    let cut = n - (n % 2);
    if (cut >= 2) {
      const u = this.encoding === 'utf-16le' ? data[cut - 2] | (data[cut - 1] << 8) : (data[cut - 2] << 8) | data[cut - 1];
      if (u >= 0xd800 && u <= 0xdbff) cut -= 2; // a high surrogate waits for its low half
    }
    return cut;
  }

  private decode(body: Uint8Array, why?: string): string {
    if (body.length === 0) return '';
    let text: string;
    try {
      text = this.strict.decode(body);
      if (this.encoding === 'utf-8') {
        const nl = body.lastIndexOf(0x0a);
        if (nl >= 0) this.lineStart = this.offset + nl + 1;
      }
    } catch {
      text = this.decodeByLine(body, why);
    }
    this.offset += body.length;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.line++;
    return text;
  }

  /** The slow path, only for a chunk that failed: each line strictly, bad ones reported. */
  private decodeByLine(body: Uint8Array, why?: string): string {
    const unit = this.encoding === 'utf-8' ? 1 : 2;
    const isNewline = (i: number) =>
      unit === 1 ? body[i] === 0x0a : this.encoding === 'utf-16le' ? body[i] === 0x0a && body[i + 1] === 0 : body[i] === 0 && body[i + 1] === 0x0a;
    const out: string[] = [];
    let line = this.line;
    let start = 0;
    let lineStart = this.lineStart;
    for (let i = 0; ; i += unit) {
      const last = i >= body.length;
      if (!last && !isNewline(i)) continue;
      const end = last ? body.length : i + unit;
      if (end > start) {
        const piece = body.subarray(start, end);
        try {
          out.push(this.strict.decode(piece));
        } catch {
          out.push(this.lenient.decode(piece));
          if (line !== this.lastBadLine) {
            this.lastBadLine = line;
            this.onBadLine?.(line, this.reason(piece, this.offset + start - lineStart, why));
          }
        }
      }
      if (last) break;
      start = end;
      lineStart = this.offset + end;
      line++;
    }
    this.lineStart = lineStart;
    return out.join('');
  }

  /** `column`: where the piece starts in its line, in bytes */
  private reason(piece: Uint8Array, column: number, why?: string): string {
    if (this.encoding === 'utf-8') {
      // one byte and its place in the line: the reason must not depend on where chunks were cut
      const at = Math.max(0, firstInvalidUtf8(piece));
      return (
        `${why ?? 'not valid UTF-8 text'} (${hex(piece[at])}, byte ${column + at + 1} of the line). ` +
        'Save the file as UTF-8 (or as UTF-16 with a byte-order mark)'
      );
    }
    const name = this.encoding === 'utf-16le' ? 'UTF-16 LE' : 'UTF-16 BE';
    return `${why ?? `not valid ${name} text (an unpaired surrogate)`} (the file has a ${name} byte-order mark). Save the file as UTF-8 or UTF-16 again`;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Yields the blob's text in chunks (whatever sizes the stream delivers, typically 64 KiB), decoded
 * by TextStreamDecoder: UTF-8 with or without a byte-order mark, UTF-16 LE/BE with one (the mark is
 * dropped), characters split across chunks joined, and lines with bytes that are not text reported
 * to onBadLine (and passed on with U+FFFD).
 */
export async function* readTextChunks(blob: Blob, opts: ReadStreamOptions = {}): AsyncGenerator<string> {
  const { onProgress, signal } = opts;
  if (signal?.aborted) throw abortError(signal);
  const total = blob.size;
  const decoder = new TextStreamDecoder(opts.onBadLine);
  const reader = blob.stream().getReader();
  let read = 0;
  onProgress?.(0, total);
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      const { done, value } = await reader.read();
      if (done) break;
      read += value.byteLength;
      const text = decoder.push(value);
      onProgress?.(read, total);
      if (text.length > 0) yield text;
    }
    const tail = decoder.end();
    if (tail.length > 0) yield tail;
  } finally {
    // Releases the file handle when the consumer stops early (an error, or onBadRow: 'stop').
    await reader.cancel().catch(() => undefined);
  }
}

/** One line of text with its 1-based line number; the line ending is not included. */
export interface Line {
  line: number;
  text: string;
}

/** Splits text chunks into lines ("\n" or "\r\n"), holding only the unfinished line in memory. */
export async function* readLines(chunks: AsyncIterable<string>): AsyncGenerator<Line> {
  let carry = '';
  let lineNo = 1;
  for await (const chunk of chunks) {
    let start = 0;
    const text = chunk;
    if (carry.length > 0) {
      const nl = chunk.indexOf('\n');
      if (nl < 0) {
        carry += chunk;
        continue;
      }
      yield { line: lineNo++, text: stripCR(carry + chunk.slice(0, nl)) };
      carry = '';
      start = nl + 1;
    }
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      yield { line: lineNo++, text: stripCR(text.slice(start, nl)) };
      start = nl + 1;
    }
    carry = text.slice(start);
  }
  if (carry.length > 0) yield { line: lineNo, text: stripCR(carry) };
}

function stripCR(s: string): string {
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}

/** The opening text of an iterator (see below), plus an iterable that replays it before the rest. */
export async function peekChunks(
  chunks: AsyncGenerator<string>,
  maxChars = 1 << 20,
): Promise<{ first: string; all: AsyncGenerator<string> }> {
  // Keep reading until the text has content and its first content line is complete (the kind of
  // file, emptiness and a CSV's delimiter are judged from it), or the file ends; bounded, so one
  // enormous line does not become one enormous string here.
  const peeked: string[] = [];
  let first = '';
  for (;;) {
    const head = await chunks.next();
    if (head.done) break;
    peeked.push(head.value);
    first += head.value;
    const m = /\S/.exec(first);
    if (first.length >= maxChars || (m && first.indexOf('\n', m.index) >= 0)) break;
  }
  async function* replay(): AsyncGenerator<string> {
    for (const c of peeked) if (c.length > 0) yield c;
    yield* chunks;
  }
  return { first, all: replay() };
}
