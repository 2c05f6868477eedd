// A .txt file is one long document for continued pretraining. It is read as pieces of about
// `pieceChars` characters cut at line ends, because the tokenizer is several times faster on
// kilobyte inputs than on megabyte ones; tokenization joins the pieces back into one token stream
// and cuts that into blocks of the sequence length.

import { readLines } from './stream';

export interface TextPiece {
  /** Line (1-based) the piece starts on. */
  line: number;
  /** The piece's text, each line ending in "\n" (CRLF files come out with "\n"). */
  text: string;
}

export const TEXT_PIECE_CHARS = 4096;

/** `skipLine`: lines to leave out (lines that did not decode); their numbers still count. */
export async function* parseTextPieces(
  chunks: AsyncIterable<string>,
  pieceChars = TEXT_PIECE_CHARS,
  skipLine?: (line: number) => boolean,
): AsyncGenerator<TextPiece, number> {
  let buf: string[] = [];
  let size = 0;
  let startLine = 1;
  let lines = 0;
  for await (const { line, text } of readLines(chunks)) {
    lines = line;
    if (skipLine?.(line)) continue;
    if (buf.length === 0) startLine = line;
    buf.push(text, '\n');
    size += text.length + 1;
    if (size >= pieceChars) {
      yield { line: startLine, text: buf.join('') };
      buf = [];
      size = 0;
    }
  }
  if (buf.length > 0) yield { line: startLine, text: buf.join('') };
  return lines;
}
