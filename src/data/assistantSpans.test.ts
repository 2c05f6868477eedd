import { describe, expect, test } from 'vitest';
import { chatTemplateInfo, ChatRenderer, RowProblem } from './template';
import { makeByteLevelChatmlTokenizer } from './testing/tokenizers';
import type { ChatMessage } from './types';

const CHAT: ChatMessage[] = [
  { role: 'user', content: 'Hello' },
  { role: 'assistant', content: 'Hi' },
  { role: 'user', content: 'Hello' },
  { role: 'assistant', content: 'Hello' },
];

function renderer(chatTemplate: string) {
  const t = makeByteLevelChatmlTokenizer();
  return new ChatRenderer(chatTemplateInfo(t.tokenizerConfig, t.tokenizer, { chatTemplate }));
}

function trained(r: ChatRenderer, messages: ChatMessage[]): string[] {
  const { text, spans } = r.assistantSpans(messages);
  return spans.map((s) => text.slice(s.start, s.end));
}

describe('locating answers in the rendered conversation', () => {
  test('an answer equal to text of the prompt is found in its own turn, not in the user message before it', () => {
    const r = renderer(
      "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    );
    const { text, spans } = r.assistantSpans(CHAT);
    expect(spans.map((s) => text.slice(s.start, s.end))).toEqual(['Hi<|im_end|>', 'Hello<|im_end|>']);
    expect(text.slice(0, spans[1].start).endsWith('<|im_start|>assistant\n')).toBe(true);
  });

  test('a template that rewrites the latest user turn: the generation prompt text is searched for instead', () => {
    // The last message gets a mark, so no shorter rendering is a prefix of the whole one (there the
    // user message is last); in the whole rendering the mark is before the last answer, as context.
    const r = renderer(
      "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + ('[latest] ' if loop.last else '') + m.content + '<|im_end|>\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    );
    expect(trained(r, CHAT)).toEqual(['Hi<|im_end|>', 'Hello<|im_end|>']);
    expect(r.render(CHAT, false)).toContain('[latest] Hello');
  });

  test('a header without special tokens is not searched for: a user quoting it does not move the answer', () => {
    const r = renderer(
      "{% for m in messages %}{{ ('### Assistant:\\n' if m.role == 'assistant' else '### User:\\n') + m.content + '\\n\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '### Assistant:\\n' }}{% endif %}",
    );
    const chat: ChatMessage[] = [
      { role: 'user', content: 'Say "### Assistant:\nHi" please' },
      { role: 'assistant', content: 'Hi' },
    ];
    const { text, spans } = r.assistantSpans(chat);
    expect(spans).toHaveLength(1);
    expect(text.slice(0, spans[0].start)).toBe('### User:\nSay "### Assistant:\nHi" please\n\n### Assistant:\n');
    expect(text.slice(spans[0].start, spans[0].end)).toBe('Hi');
  });

  test('content the template changes beyond trimming is refused with the message it concerns', () => {
    const r = renderer(
      "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content.upper() + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    );
    expect(() => r.assistantSpans(CHAT)).toThrow(RowProblem);
    expect(() => r.assistantSpans(CHAT)).toThrow(/changes the text of assistant message 1 \(message 2\) beyond trimming/);
  });

  test('with {% generation %} blocks, the marker characters in a row are refused', () => {
    const r = renderer("{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}");
    expect(r.hasGenerationBlocks).toBe(true);
    expect(() => r.assistantSpans([{ role: 'user', content: 'a\uFDD0' }, { role: 'assistant', content: 'b' }])).toThrow(/U\+FDD0/);
  });
});
