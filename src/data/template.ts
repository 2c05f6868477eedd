// Turns an example into text segments, each marked trained or not: with the model's own chat
// template (jinja, from tokenizer_config.json) when it has one, or with DEFAULT_TEMPLATE below.
//
// Which characters are the assistant's? A template with {% generation %} blocks says so itself
// (generationMarkers.ts). Otherwise the conversation is rendered once and each assistant message
// is located in the rendering, in order, with its end-of-turn token (assistantSpans.ts, which
// also documents what happens to Qwen3's inserted think block). Either way the sequence trained on
// is the template's rendering of the whole conversation, as the model sees it, up to the end of the
// last answer.

import { Template } from '@huggingface/jinja';
import type { ChatMessage, Example } from './types';
import { DatasetError } from './types';
import type { TokenizerLike } from './encode';
import { locateAssistantSpans, SpanNotFound, turnPatterns, type TextSpan, type TurnPatterns } from './assistantSpans';
import { compileWithMarkers, GENERATION_END, GENERATION_START, hasGenerationBlocks, stripMarkers } from './generationMarkers';

export interface ChatTemplateInfo {
  /** jinja source; absent means DEFAULT_TEMPLATE (base models). */
  chatTemplate?: string;
  /** Where chatTemplate came from; 'user' for one picked in the UI (used by the untrained-token warning). */
  source: 'tokenizer_config' | 'user' | 'none';
  bosToken?: string;
  eosToken?: string;
  /** Appended as an id after each default-template answer, and after the last assistant turn when the template's rendering has no EOS from there on. */
  eosId: number;
  bosId?: number;
  /** More variables for the template (pad_token, unk_token, ...). */
  extraVars?: Record<string, unknown>;
  /** Texts of the tokenizer's special added tokens: an answer's end-of-turn token is one of them. */
  specialTokens?: string[];
}

/**
 * The default template, for models whose tokenizer_config.json has no chat_template (base
 * models), in the Alpaca style:
 *
 *     [system + "\n\n"]
 *     "### Instruction:\n" + instruction + "\n\n"
 *     ["### Input:\n" + input + "\n\n"]
 *     "### Response:\n" + output <EOS id>
 *
 * Only `output` and the EOS after it are trained (with trainOn: 'completions'). EOS is appended
 * as a token id, never as text. Chat rows use the same pieces: a system message becomes the
 * system line, each user message an Instruction, each assistant message a Response followed by
 * EOS, and consecutive turns are separated by "\n\n".
 */
export const DEFAULT_TEMPLATE = {
  systemSuffix: '\n\n',
  instruction: '### Instruction:\n',
  input: '### Input:\n',
  response: '### Response:\n',
  sectionEnd: '\n\n',
} as const;

/** A piece of rendered text. `eos: 'always'`: the EOS id follows it (as an id, not text). */
export interface Segment {
  text: string;
  train: boolean;
  eos?: 'always';
}

/** A row the template cannot render; becomes a bad row. */
export class RowProblem extends Error {}

function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return undefined;
}

function pickTemplate(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  // Newer configs may hold several named templates: [{name: 'default', template: '...'}, ...]
  if (Array.isArray(v)) {
    const named = v as { name?: string; template?: string }[];
    return (named.find((t) => t.name === 'default') ?? named[0])?.template;
  }
  return undefined;
}

/**
 * Reads chat_template, bos/eos tokens from tokenizer_config.json. `chatTemplate` overrides the
 * config's (source 'user'); pass `chatTemplate: null` to force the default template.
 */
export function chatTemplateInfo(
  tokenizerConfig: Record<string, unknown>,
  tokenizer: TokenizerLike,
  opts: { chatTemplate?: string | null } = {},
): ChatTemplateInfo {
  const bosToken = tokenString(tokenizerConfig.bos_token);
  const eosToken = tokenString(tokenizerConfig.eos_token);
  if (eosToken === undefined) {
    throw new DatasetError('tokenizer', 'tokenizer_config.json names no eos_token, so answers could not be ended: add "eos_token" to it.');
  }
  const eosId = tokenizer.token_to_id(eosToken);
  if (eosId === undefined) {
    throw new DatasetError('tokenizer', `The eos_token "${eosToken}" of tokenizer_config.json is not in the tokenizer's vocabulary.`);
  }
  const own = pickTemplate(tokenizerConfig.chat_template);
  const chatTemplate = opts.chatTemplate === null ? undefined : (opts.chatTemplate ?? own);
  // The config's own template passed back in (as the engine does with the model's assets) is still the shipped one.
  const source = chatTemplate === undefined ? 'none' : opts.chatTemplate && opts.chatTemplate !== own ? 'user' : 'tokenizer_config';
  const extraVars: Record<string, unknown> = {};
  for (const k of ['pad_token', 'unk_token']) {
    const s = tokenString(tokenizerConfig[k]);
    if (s !== undefined) extraVars[k] = s;
  }
  const specialTokens = [...tokenizer.get_added_tokens_decoder().values()].filter((t) => t.special).map((t) => t.content);
  return {
    chatTemplate, source, bosToken, eosToken, eosId,
    bosId: bosToken === undefined ? undefined : tokenizer.token_to_id(bosToken), extraVars, specialTokens,
  };
}

/** Instruction rows as messages, for chat templates: input follows the instruction after a blank line. */
export function instructionMessages(ex: Extract<Example, { kind: 'instruction' }>): ChatMessage[] {
  const msgs: ChatMessage[] = [];
  if (ex.system) msgs.push({ role: 'system', content: ex.system });
  msgs.push({ role: 'user', content: ex.input ? `${ex.instruction}\n\n${ex.input}` : ex.instruction });
  msgs.push({ role: 'assistant', content: ex.output });
  return msgs;
}

export class ChatRenderer {
  readonly info: ChatTemplateInfo;
  private readonly template?: Template;
  /** The template compiled to write generation markers, when it has {% generation %} blocks. */
  private readonly marked?: Template;
  private readonly patterns: TurnPatterns;

  constructor(info: ChatTemplateInfo) {
    this.info = info;
    this.patterns = turnPatterns(info.specialTokens ?? (info.eosToken ? [info.eosToken] : []));
    if (info.chatTemplate !== undefined) {
      try {
        this.template = new Template(info.chatTemplate);
        if (hasGenerationBlocks(info.chatTemplate)) this.marked = compileWithMarkers(info.chatTemplate);
      } catch (e) {
        throw new DatasetError('template', `The chat template does not parse: ${(e as Error).message}. Fix the template or use the default one.`);
      }
    }
  }

  /** Whether the template marks the assistant's text with {% generation %} blocks. */
  get hasGenerationBlocks(): boolean {
    return this.marked !== undefined;
  }

  /** Renders with the jinja template; a template error becomes a RowProblem. */
  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    return this.renderWith(this.template!, messages, addGenerationPrompt);
  }

  private renderWith(template: Template, messages: ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return template.render({
        ...this.info.extraVars,
        messages,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.info.bosToken ?? '',
        eos_token: this.info.eosToken ?? '',
      });
    } catch (e) {
      throw new RowProblem(`the chat template refused this conversation: ${(e as Error).message}`);
    }
  }

  /**
   * Text to feed the model before generating the next assistant turn (for the chat UI). With the
   * default template, earlier answers appear as text without the EOS id training put after them;
   * a UI that keeps the token ids of earlier turns should append EOS itself.
   */
  prompt(messages: ChatMessage[]): string {
    if (this.template) return this.render(messages, true);
    return defaultSegments(messages, false).map((s) => s.text).join('') + DEFAULT_TEMPLATE.response;
  }

  segments(ex: Example): Segment[] {
    if (ex.kind === 'text') return [{ text: ex.text, train: true, eos: 'always' }];
    if (!this.template) {
      if (ex.kind === 'instruction') {
        const D = DEFAULT_TEMPLATE;
        const prompt =
          (ex.system ? ex.system + D.systemSuffix : '') +
          D.instruction + ex.instruction + D.sectionEnd +
          (ex.input ? D.input + ex.input + D.sectionEnd : '') +
          D.response;
        return [{ text: prompt, train: false }, { text: ex.output, train: true, eos: 'always' }];
      }
      return defaultSegments(ex.messages, true);
    }
    const messages = ex.kind === 'chat' ? ex.messages : instructionMessages(ex);
    return this.templateSegments(messages);
  }

  /** The whole conversation rendered once, and the trained character spans in it. */
  assistantSpans(messages: ChatMessage[]): { text: string; spans: TextSpan[] } {
    if (this.marked) {
      if (messages.some((m) => m.content.includes(GENERATION_START) || m.content.includes(GENERATION_END))) {
        throw new RowProblem('contains the character U+FDD0 or U+FDD1, which marks generation blocks internally; remove it');
      }
      try {
        return stripMarkers(this.renderWith(this.marked, messages, false));
      } catch (e) {
        if (e instanceof RowProblem) throw e;
        throw new RowProblem(`the chat template's {% generation %} blocks do not pair up: ${(e as Error).message}`);
      }
    }
    const text = this.render(messages, false);
    try {
      return { text, spans: locateAssistantSpans(this, messages, text, this.patterns) };
    } catch (e) {
      if (e instanceof SpanNotFound) throw new RowProblem(e.message);
      throw e;
    }
  }

  private templateSegments(messages: ChatMessage[]): Segment[] {
    const { text: full, spans } = this.assistantSpans(messages);
    const segs: Segment[] = [];
    let pos = 0;
    for (const span of spans) {
      if (span.start > pos) segs.push({ text: full.slice(pos, span.start), train: false });
      segs.push({ text: full.slice(span.start, span.end), train: true });
      pos = span.end;
    }
    const last = spans[spans.length - 1];
    // A template that never writes EOS after the last answer (ChatML bolted onto a base model whose
    // EOS is </s>): append the EOS id, so that generation, which stops at EOS, learns to stop.
    const eos = this.info.eosToken;
    if (last && eos && !full.slice(last.start).includes(eos)) segs[segs.length - 1].eos = 'always';
    // What follows the last answer (the newline after its end-of-turn token, a final user turn) has
    // nothing to learn from, as with the default template: it stays out of the sequence.
    if (!last) segs.push({ text: full, train: false });
    return segs;
  }
}

/** DEFAULT_TEMPLATE applied to messages; the assistant turns are trained. */
function defaultSegments(messages: ChatMessage[], withAnswers: boolean): Segment[] {
  const D = DEFAULT_TEMPLATE;
  const segs: Segment[] = [];
  let prompt = '';
  for (const m of messages) {
    if (m.role === 'system') prompt += m.content + D.systemSuffix;
    else if (m.role === 'user') prompt += D.instruction + m.content + D.sectionEnd;
    else {
      if (!withAnswers) {
        prompt += D.response + m.content + D.sectionEnd;
        continue;
      }
      segs.push({ text: prompt + D.response, train: false });
      segs.push({ text: m.content, train: true, eos: 'always' });
      prompt = D.sectionEnd;
    }
  }
  if (withAnswers) {
    // Turns after the last answer have nothing to learn from; keep them out of the sequence.
    return segs;
  }
  return [{ text: prompt, train: false }];
}
