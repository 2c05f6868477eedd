// Encodes rendered segments into token ids with a trained flag per token.
//
// The tokenizer gives no character offsets, so each segment is encoded on its own. Two traps:
//  - SentencePiece-style tokenizers put a dummy "▁" in front of every encode call, so encoding
//    "Hi" alone gives "▁Hi" where the whole text would give "Hi". A segment that continues the
//    text is therefore encoded behind an anchor ("\n" + segment) and the anchor's tokens are
//    removed; the anchor is checked to come out as the same tokens, else the next one is tried.
//  - BOS comes from the post_processor. We encode without special tokens and put the tokens the
//    post_processor would add in front ourselves, unless the rendered text already starts with
//    the BOS text (templates such as Llama-2's write "<s>" themselves).
// Encoding the prompt apart from the answer is also what generation does: the model sees the
// prompt's own tokens and continues from there.

export interface AddedTokenLike {
  content: string;
  special: boolean;
}

/** The part of @huggingface/tokenizers' Tokenizer the data pipeline uses. */
export interface TokenizerLike {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_added_tokens_decoder(): Map<number, AddedTokenLike>;
  get_vocab(with_added_tokens?: boolean): Map<string, number>;
}

const ANCHORS = ['\n', 'a', '.'];

function startsWithIds(ids: number[], prefix: number[]): boolean {
  if (ids.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (ids[i] !== prefix[i]) return false;
  return true;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class SegmentEncoder {
  readonly tokenizer: TokenizerLike;
  /** Ids the post_processor puts before the text (BOS), found by encoding "a" both ways. */
  readonly specialPrefix: number[];
  private readonly bosText?: string;
  private readonly anchors: { text: string; ids: number[] }[];
  private readonly addedPattern: RegExp | null;

  constructor(tokenizer: TokenizerLike, bosText?: string) {
    this.tokenizer = tokenizer;
    const plain = tokenizer.encode('a', { add_special_tokens: false }).ids;
    const withSpecial = tokenizer.encode('a', { add_special_tokens: true }).ids;
    let k = 0;
    while (k < withSpecial.length && !startsWithIds(withSpecial.slice(k), plain)) k++;
    this.specialPrefix = k < withSpecial.length ? withSpecial.slice(0, k) : [];
    this.bosText = bosText;
    this.anchors = ANCHORS.map((text) => ({ text, ids: tokenizer.encode(text, { add_special_tokens: false }).ids }));
    // Special added tokens only: the non-special ones (Gemma's "\n" runs and <unusedN>, Qwen's
    // <think>, <tool_call>) are ordinary text, tokenized the same way when the model generates.
    const contents = [...tokenizer.get_added_tokens_decoder().values()].filter((t) => t.special).map((t) => t.content).filter((c) => c.length > 0);
    // Longest first, so "<|im_start|>" wins over a shorter token it contains.
    contents.sort((a, b) => b.length - a.length);
    this.addedPattern = contents.length > 0 ? new RegExp(contents.map(escapeRegExp).join('|')) : null;
  }

  /** The first segment of a sequence: BOS (as the post_processor would add it) + its tokens. */
  encodeFirst(text: string): number[] {
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (this.bosText !== undefined && this.bosText.length > 0 && text.startsWith(this.bosText)) return ids;
    return this.specialPrefix.length > 0 ? [...this.specialPrefix, ...ids] : ids;
  }

  /** A segment that continues the text: no BOS, no dummy prefix. */
  encodeContinuation(text: string): number[] {
    if (text.length === 0) return [];
    for (const anchor of this.anchors) {
      const ids = this.tokenizer.encode(anchor.text + text, { add_special_tokens: false }).ids;
      if (startsWithIds(ids, anchor.ids)) return ids.slice(anchor.ids.length);
    }
    // Every anchor merged with the text: fall back to encoding it alone (may carry a dummy prefix).
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * The first special added-token text (e.g. "</s>", "<|im_end|>") found in `text`, if any. The
   * tokenizer matches added tokens in raw text always, so such text in a row would silently
   * become a control token; the pipeline reports those rows instead.
   */
  findAddedTokenText(text: string): string | undefined {
    if (this.addedPattern === null) return undefined;
    const m = this.addedPattern.exec(text);
    return m ? m[0] : undefined;
  }
}
