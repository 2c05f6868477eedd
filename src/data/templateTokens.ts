// Warns when a chat template relies on special tokens the model has probably never trained. A
// classic case: ChatML (<|im_start|>, <|im_end|>) bolted onto a base model's tokenizer. Their
// embeddings are untrained, so the adapter has to learn them from scratch through a low-rank
// update, and a model that never learns to emit <|im_end|> never stops generating.
//
// Heuristic, in order (the first that applies decides for a token):
//  1. id >= modelVocabSize (the embedding table's rows, when the caller knows it): the token has
//     no embedding at all. Always reported, as an error.
//  2. isTrained(id) === false, when the caller can look at the weights (e.g. the embedding row is
//     all zeros, or equal to the mean of the rows): reported.
//  3. The token is an added token (tokenizer.json added_tokens) whose id lies beyond the
//     tokenizer model's own vocabulary (added after the base vocab was trained), and the template
//     is not the one the tokenizer ships (source 'user' or none): reported as probably untrained.
//     Added tokens of a template that came with the tokenizer (chat models) are trusted, since the
//     model was tuned with that template.
// Tokens are collected by rendering a small probe conversation and encoding it.

import { SegmentEncoder, type TokenizerLike } from './encode';
import { ChatRenderer, type ChatTemplateInfo } from './template';
import type { ChatMessage } from './types';

export interface TemplateTokenWarning {
  token: string;
  id: number;
  severity: 'error' | 'warning';
  message: string;
}

export interface TemplateTokenCheckOptions {
  /** Rows of the model's embedding table. */
  modelVocabSize?: number;
  /** Whether the model's embedding row for `id` looks trained. */
  isTrained?: (id: number) => boolean;
}

const PROBE: ChatMessage[] = [
  { role: 'system', content: 'You are helpful.' },
  { role: 'user', content: 'Hello' },
  { role: 'assistant', content: 'Hi' },
  { role: 'user', content: 'Bye' },
  { role: 'assistant', content: 'Bye' },
];

/**
 * Size of the tokenizer model's own vocabulary: one past the highest id that is not an added
 * token (added tokens inside the base range, like Llama's <s>, do not move it).
 */
export function baseVocabSize(tokenizer: TokenizerLike): number {
  let max = -1;
  for (const id of tokenizer.get_vocab(false).values()) max = Math.max(max, id);
  return max + 1;
}

export function checkTemplateTokens(
  tokenizer: TokenizerLike,
  template: ChatTemplateInfo,
  opts: TemplateTokenCheckOptions = {},
): TemplateTokenWarning[] {
  const renderer = new ChatRenderer(template);
  const encoder = new SegmentEncoder(tokenizer, template.bosToken);
  const segs = renderer.segments({ kind: 'chat', line: 0, messages: PROBE });
  const used = new Set<number>([template.eosId]);
  segs.forEach((s, i) => {
    const ids = i === 0 ? encoder.encodeFirst(s.text) : encoder.encodeContinuation(s.text);
    for (const id of ids) used.add(id);
  });
  const added = tokenizer.get_added_tokens_decoder();
  const base = baseVocabSize(tokenizer);
  const shipped = template.source === 'tokenizer_config';
  const warnings: TemplateTokenWarning[] = [];
  for (const id of [...used].sort((a, b) => a - b)) {
    const token = tokenizer.id_to_token(id) ?? `#${id}`;
    const isAdded = added.has(id);
    if (opts.modelVocabSize !== undefined && id >= opts.modelVocabSize) {
      warnings.push({
        token, id, severity: 'error',
        message: `The template uses "${token}" (id ${id}) but the model has only ${opts.modelVocabSize} embedding rows: use a template without it.`,
      });
    } else if (opts.isTrained !== undefined && isAdded && !opts.isTrained(id)) {
      warnings.push({
        token, id, severity: 'warning',
        message: `The template uses "${token}" (id ${id}), whose embedding looks untrained; the adapter may never learn to produce it (e.g. never stop). Prefer the default template.`,
      });
    } else if (opts.isTrained === undefined && isAdded && id >= base && !shipped) {
      warnings.push({
        token, id, severity: 'warning',
        message:
          `The template uses "${token}" (id ${id}), a token added beyond the base vocabulary (${base} pieces) that the model has probably never trained; ` +
          'a known cause of adapters that never stop generating. Prefer the default template for a base model.',
      });
    }
  }
  return warnings;
}
