// Where are the assistant's answers in a rendered conversation? For templates without
// {% generation %} blocks: render the whole conversation once (what the model sees) and locate each
// assistant message in it, in order. This holds for templates that rewrite earlier turns once
// later ones follow (Qwen3 drops past reasoning and writes an empty think block into the last
// turn only), which comparing renderings of growing prefixes of the conversation cannot handle.
//
// For assistant message k:
//  1. Where its turn starts: right after the generation prompt's own text (the assistant header,
//     e.g. "<|im_start|>assistant\n"), the next one after the previous answer. A header holding a
//     special token (all the templates people use: Llama 3.x, Qwen3, Gemma 3, SmolLM2/3, Phi-3/4,
//     ChatML) is searched for; for one without, the rendering of messages[:k] with the generation
//     prompt, when it is a prefix of the whole rendering, ends where the model starts writing.
//  2. Its text: the first of content, content trimmed at the start, at the end or both (Llama 3
//     and Gemma 3 trim; Qwen3 and SmolLM3 strip leading newlines, which @huggingface/jinja 0.5.11
//     does as trimStart(): its strip/lstrip/rstrip ignore their argument), or for content with
//     reasoning ("<think>…</think>answer") the answer after "</think>" (with its leading newlines
//     or whitespace removed), found between the turn start and the next assistant header.
//  3. Trained: from the text's start to its end, plus the end-of-turn token written right after it
//     (<|im_end|>, <|eot_id|>, <end_of_turn>, <|end|>, ` </s>`: a special added token, possibly
//     after spaces). The newline a template writes after that token is not trained: the model
//     stops at the token and never generates it.
//  4. Text the template inserts between the header and the message's text is context, not trained:
//     Qwen3's empty "<think>\n\n</think>\n\n" in the last turn. Training it would teach the model to
//     always skip its reasoning (the loss of reasoning reported by people who fine-tuned Qwen3 on
//     answers without reasoning); when generating with enable_thinking=false the template puts that
//     block in the prompt anyway. Reasoning the message itself carries ("<think>…</think>" in its
//     content) is the user's data: where the template renders it, it is trained with the answer.
//     A template with {% generation %} blocks decides all of this itself and is followed exactly.

import type { ChatMessage } from './types';

export interface TextSpan {
  start: number;
  end: number;
}

export interface ConversationRenderer {
  /** Throws on a template error. */
  render(messages: ChatMessage[], addGenerationPrompt: boolean): string;
}

/** Thrown when an answer cannot be located; the caller turns it into a bad row. */
export class SpanNotFound extends Error {}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface TurnPatterns {
  /** At a position (sticky): optional spaces, then one of the special tokens. */
  endOfTurn: RegExp | null;
  /** Anywhere: one of the special tokens. */
  special: RegExp | null;
}

/** The patterns for the tokenizer's special added tokens. */
export function turnPatterns(specialTokens: string[]): TurnPatterns {
  const alts = specialTokens.filter((t) => t.length > 0).sort((a, b) => b.length - a.length).map(escapeRegExp);
  if (alts.length === 0) return { endOfTurn: null, special: null };
  return { endOfTurn: new RegExp(`[ \\t]*(?:${alts.join('|')})`, 'y'), special: new RegExp(alts.join('|')) };
}

function tryRender(r: ConversationRenderer, messages: ChatMessage[], gen: boolean): string | undefined {
  try {
    return r.render(messages, gen);
  } catch {
    return undefined;
  }
}

/** The texts the template may have made of a message's content, most faithful first. */
function contentForms(content: string): { text: string; answerOnly: boolean }[] {
  const forms = [content, content.trimStart(), content.trimEnd(), content.trim()].map((text) => ({ text, answerOnly: false }));
  const close = content.lastIndexOf('</think>');
  if (close >= 0) {
    const answer = content.slice(close + '</think>'.length);
    for (const text of [answer.replace(/^\n+/, ''), answer.trimStart(), answer.trim()]) forms.push({ text, answerOnly: true });
  }
  return forms.filter((f, i) => f.text.length > 0 && forms.findIndex((g) => g.text === f.text) === i);
}

/**
 * Trained character spans of `full` (the rendering of `messages` without generation prompt), one
 * per assistant message, in order. `patterns` is turnPatterns(the tokenizer's special added
 * tokens). Throws SpanNotFound naming the message when one cannot be located.
 *
 * Rendering is most of the cost, so the generation prompt's text (the header) is found once per
 * conversation; when it holds a special token (which rows cannot contain as text: they are refused
 * before this), each turn is found by searching for it, with no further rendering; otherwise by
 * rendering the conversation up to each answer.
 */
export function locateAssistantSpans(
  r: ConversationRenderer,
  messages: ChatMessage[],
  full: string,
  patterns: TurnPatterns,
): TextSpan[] {
  const spans: TextSpan[] = [];
  let cursor = 0;
  let header: string | undefined;
  for (let k = 0; k < messages.length; k++) {
    if (messages[k].role !== 'assistant') continue;
    const which = `assistant message ${spans.length + 1} (message ${k + 1})`;
    let withPrompt: string | undefined;
    if (header === undefined) {
      withPrompt = tryRender(r, messages.slice(0, k), true);
      const without = tryRender(r, messages.slice(0, k), false);
      header = withPrompt !== undefined && without !== undefined && withPrompt.startsWith(without) ? withPrompt.slice(without.length) : '';
    }
    const searchable = header.length > 0 && patterns.special !== null && patterns.special.test(header);
    const headerAt = header.length > 0 ? full.indexOf(header, cursor) : -1;
    let turnStart: number;
    if (searchable && headerAt >= 0) {
      turnStart = headerAt + header.length;
    } else if ((withPrompt ??= tryRender(r, messages.slice(0, k), true)) !== undefined && withPrompt.length >= cursor && full.startsWith(withPrompt)) {
      turnStart = withPrompt.length;
    } else if (headerAt >= 0) {
      turnStart = headerAt + header.length;
    } else {
      throw new SpanNotFound(
        `the chat template renders earlier turns differently once later turns follow, and its generation prompt does not mark where ${which} starts, ` +
          'so the answer cannot be located; use a template that renders conversations incrementally or has {% generation %} blocks',
      );
    }
    const next = header.length > 0 ? full.indexOf(header, turnStart) : -1;
    const limit = next >= 0 ? next : full.length;
    let found: { at: number; text: string; answerOnly: boolean } | undefined;
    for (const form of contentForms(messages[k].content)) {
      const at = full.indexOf(form.text, turnStart);
      if (at >= 0 && at + form.text.length <= limit) {
        found = { at, ...form };
        break;
      }
    }
    if (!found) {
      throw new SpanNotFound(
        `the chat template changes the text of ${which} beyond trimming it, so the answer cannot be located in the rendered conversation`,
      );
    }
    // Reasoning of the message's own, rendered (possibly reformatted) before the answer: trained too.
    const rendersReasoning = found.answerOnly && full.slice(turnStart, found.at).includes('</think>');
    const start = rendersReasoning ? turnStart : found.at;
    let end = found.at + found.text.length;
    if (patterns.endOfTurn) {
      patterns.endOfTurn.lastIndex = end;
      const m = patterns.endOfTurn.exec(full);
      if (m) end += m[0].length;
    }
    spans.push({ start, end });
    cursor = end;
  }
  return spans;
}
