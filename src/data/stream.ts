// Reads a Blob (a browser File, or Node's fs.openAsBlob) as a stream of decoded text chunks, so
// that a 500 MB file is never one string and the page gets the event loop back between chunks.

export type ProgressCallback = (bytesRead: number, totalBytes: number) => void;

export interface ReadStreamOptions {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new DOMException('Reading the dataset was cancelled.', 'AbortError');
}

/**
 * Yields the blob's text in chunks (whatever sizes the stream delivers, typically 64 KiB). UTF-8
 * sequences split across chunks are joined by TextDecoder's streaming mode; a leading BOM is
 * dropped. Invalid UTF-8 becomes U+FFFD rather than an error: a dataset with one bad byte should
 * still load, and the replacement character is visible in previews.
 */
export async function* readTextChunks(blob: Blob, opts: ReadStreamOptions = {}): AsyncGenerator<string> {
  const { onProgress, signal } = opts;
  if (signal?.aborted) throw abortError(signal);
  const total = blob.size;
  const decoder = new TextDecoder('utf-8');
  const reader = blob.stream().getReader();
  let read = 0;
  onProgress?.(0, total);
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      const { done, value } = await reader.read();
      if (done) break;
      read += value.byteLength;
      const text = decoder.decode(value, { stream: true });
      onProgress?.(read, total);
      if (text.length > 0) yield text;
    }
    const tail = decoder.decode();
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
