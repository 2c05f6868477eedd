// Tokenizers through @huggingface/tokenizers, with errors that name the file, and streaming
// decode (decode the ids so far and emit the new text; an incomplete byte-fallback sequence
// decodes to U+FFFD until its last byte arrives, so that tail is held back).
import { Tokenizer } from '@huggingface/tokenizers';

export class TokenizerLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerLoadError';
  }
}

export function loadTokenizer(tokenizerJson: unknown, tokenizerConfig: unknown, modelName = 'model'): Tokenizer {
  if (!tokenizerJson || typeof tokenizerJson !== 'object') {
    throw new TokenizerLoadError(`${modelName} has no tokenizer.json. Add the model's tokenizer.json (and tokenizer_config.json) to the folder.`);
  }
  const tj = tokenizerJson as Record<string, unknown>;
  if (!tj.model || typeof tj.model !== 'object') {
    throw new TokenizerLoadError(`${modelName}/tokenizer.json has no "model" section; it is not a Hugging Face tokenizers file.`);
  }
  try {
    return new Tokenizer(tokenizerJson, (tokenizerConfig as object | null) ?? {});
  } catch (e) {
    throw new TokenizerLoadError(`${modelName}/tokenizer.json could not be loaded (${(e as Error).message}). Use the tokenizer.json that ships with the model.`);
  }
}

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
