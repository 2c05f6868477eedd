// Tokenizers through @huggingface/tokenizers, with errors that name the file, and streaming
// decode (decode the ids so far and emit the new text; an incomplete byte-fallback sequence
// decodes to U+FFFD until its last byte arrives, so that tail is held back).
import type { Tokenizer } from '@huggingface/tokenizers';

// Loading validates the files' structure first and proves the tokenizer encodes and decodes
// (tokenizerLoader.ts); any failure is a TokenizerLoadError that names the file and the path in it.
export { loadTokenizer, TokenizerLoadError } from './tokenizerLoader';

export class StreamingDecoder {
  private emitted = '';
  constructor(private tok: Tokenizer) {}

  /** Text added by the newest ids (may be '' while a multi-byte character is incomplete). */
  push(allIds: number[]): string {
    if (allIds.length === 0) return '';
    const text = this.tok.decode(allIds, { skip_special_tokens: true });
    const stable = text.endsWith('\uFFFD') ? text.replace(/\uFFFD+$/, '') : text;
    if (!stable.startsWith(this.emitted)) {
      // the decoder revised earlier text (rare: cleanup rules); emit nothing new until it settles
      this.emitted = stable;
      return '';
    }
    const delta = stable.slice(this.emitted.length);
    this.emitted = stable;
    return delta;
  }

  get text(): string {
    return this.emitted;
  }
}
