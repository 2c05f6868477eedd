// Turns an example into text segments, each marked trained or not: with the model's own chat
// template (jinja, from tokenizer_config.json) when it has one, or with DEFAULT_TEMPLATE below.
//
// Which characters are the assistant's? jinja drops {% generation %} blocks, so we use prefix
// comparison: for each assistant message k, render messages[:k] with add_generation_prompt and
// messages[:k+1] without; the first must be a prefix of the second, and what follows it is the
// assistant turn, end marker included (e.g. "Hi<|im_end|>\n" for ChatML). Both must in turn be
// prefixes of the whole conversation's rendering. Templates that render earlier turns
// differently once later turns exist (some drop past reasoning) fail that check, and the row is
// reported rather than guessed at.

import { Template } from '@huggingface/jinja';
import type { ChatMessage, Example } from './types.ts';
import { DatasetError } from './types.ts';
import type { TokenizerLike } from './encode.ts';

export interface ChatTemplateInfo {
  /** jinja source; absent means DEFAULT_TEMPLATE (base models). */
  chatTemplate?: string;
  /** Where chatTemplate came from; 'user' for one picked in the UI (used by the untrained-token warning). */
  source: 'tokenizer_config' | 'user' | 'none';
  bosToken?: string;
  eosToken?: string;
  /** Appended as an id after each default-template answer, and after the last assistant turn when its rendering lacks it. */
  eosId: number;
  bosId?: number;
  /** More variables for the template (pad_token, unk_token, ...). */
  extraVars?: Record<string, unknown>;
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

/** A piece of rendered text. `eos`: append the EOS id after it ('always' for the default template;
 * 'if-missing' when the template's own rendering might already end the turn with EOS). */
export interface Segment {
  text: string;
  train: boolean;
  eos?: 'always' | 'if-missing';
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
  const source = chatTemplate === undefined ? 'none' : opts.chatTemplate ? 'user' : 'tokenizer_config';
  const extraVars: Record<string, unknown> = {};
  for (const k of ['pad_token', 'unk_token']) {
    const s = tokenString(tokenizerConfig[k]);
    if (s !== undefined) extraVars[k] = s;
  }
  return {
    chatTemplate, source, bosToken, eosToken, eosId,
    bosId: bosToken === undefined ? undefined : tokenizer.token_to_id(bosToken), extraVars,
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

  constructor(info: ChatTemplateInfo) {
    this.info = info;
    if (info.chatTemplate !== undefined) {
      try {
        this.template = new Template(info.chatTemplate);
      } catch (e) {
        throw new DatasetError('template', `The chat template does not parse: ${(e as Error).message}. Fix the template or use the default one.`);
      }
    }
  }

  /** Renders with the jinja template; a template error becomes a RowProblem. */
  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.template!.render({
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

  private templateSegments(messages: ChatMessage[]): Segment[] {
    const full = this.render(messages, false);
    const segs: Segment[] = [];
    let pos = 0;
    let lastTrained = -1;
    for (let k = 0; k < messages.length; k++) {
      if (messages[k].role !== 'assistant') continue;
      const before = this.render(messages.slice(0, k), true);
      const upTo = this.render(messages.slice(0, k + 1), false);
      if (!upTo.startsWith(before) || !full.startsWith(upTo) || before.length < pos) {
        throw new RowProblem(
          `the chat template renders earlier turns differently once later turns follow (assistant message ${k + 1}), ` +
            'so the answer cannot be located; use a template that renders conversations incrementally',
        );
      }
      if (before.length > pos) segs.push({ text: full.slice(pos, before.length), train: false });
      if (upTo.length > before.length) {
        segs.push({ text: full.slice(before.length, upTo.length), train: true });
        lastTrained = segs.length - 1;
      }
      pos = upTo.length;
    }
    if (full.length > pos) segs.push({ text: full.slice(pos), train: false });
    if (lastTrained >= 0) segs[lastTrained].eos = 'if-missing';
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
