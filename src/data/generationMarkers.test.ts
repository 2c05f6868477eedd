import { Template } from '@huggingface/jinja';
import { describe, expect, test } from 'vitest';
import { compileWithMarkers, GENERATION_END, GENERATION_START, hasGenerationBlocks, markerSource, stripMarkers } from './generationMarkers';
import { SMOLLM3_TEMPLATE } from './testing/chatTemplates';

const MESSAGES = [
  { role: 'system', content: 'Sé breve.' },
  { role: 'user', content: 'Hola' },
  { role: 'assistant', content: '¡Hola! 👋' },
  { role: 'user', content: '¿Qué tal?' },
  { role: 'assistant', content: 'Bien, gracias.' },
];

// Generation tags in every whitespace-control form, on their own lines and inline, with trim_blocks
// and lstrip_blocks effects around them; and a source ending in newlines.
const SOURCES: Record<string, string> = {
  inline: "{% for m in messages %}<|{{ m.role }}|>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}<|end|>{% endgeneration %}{% else %}{{ m.content }}<|end|>{% endif %}\n{% endfor %}",
  ownLines: `{% for m in messages %}
  <|{{ m.role }}|>
  {% if m.role == 'assistant' %}
    {% generation %}
    {{ m.content }}<|end|>
    {% endgeneration %}
  {% else %}
    {{ m.content }}<|end|>
  {% endif %}
{% endfor %}

`,
  dashes: `{%- for m in messages -%}
  {{- '<|' + m.role + '|>' -}}
  {%- if m.role == 'assistant' -%}
    {%- generation -%}   {{ m.content }}   {%- endgeneration %}   <|end|>
  {%- else -%}
    {{- m.content + '<|end|>' -}}
  {%- endif -%}
{%- endfor %}
`,
  mixed: "{% for m in messages %}{{ m.role }}: {%- generation %}  {{ m.content if m.role == 'assistant' else '' }}  {% endgeneration -%}  |\n{% endfor %}",
  smollm3: SMOLLM3_TEMPLATE,
};

describe('{% generation %} blocks', () => {
  for (const [name, src] of Object.entries(SOURCES)) {
    test(`${name}: markers removed, the rendering is the library's own, character for character`, () => {
      expect(hasGenerationBlocks(src)).toBe(true);
      const vars = { messages: MESSAGES, add_generation_prompt: false, bos_token: '', eos_token: '<|end|>' };
      const plain = new Template(src).render(vars);
      const { text, spans } = stripMarkers(compileWithMarkers(src).render(vars));
      expect(text).toBe(plain);
      expect(spans.length).toBeGreaterThan(0);
      for (const s of spans) expect(s.end).toBeGreaterThan(s.start);
    });
  }

  test('spans are what the blocks enclose', () => {
    const vars = { messages: MESSAGES, add_generation_prompt: false };
    const { text, spans } = stripMarkers(compileWithMarkers(SOURCES.inline).render(vars));
    expect(spans.map((s) => text.slice(s.start, s.end))).toEqual(['¡Hola! 👋<|end|>', 'Bien, gracias.<|end|>']);
    const dashes = stripMarkers(compileWithMarkers(SOURCES.dashes).render(vars));
    expect(dashes.spans.map((s) => dashes.text.slice(s.start, s.end))).toEqual(['¡Hola! 👋', 'Bien, gracias.']);
  });

  test('templates without blocks are recognised as such; a tag becomes a marker output', () => {
    expect(hasGenerationBlocks("{{ 'generation' }}{% if generation %}{% endif %}")).toBe(false);
    expect(markerSource('a{%- generation -%}  b  {% endgeneration %}c')).toBe(`a{{ '${GENERATION_START}' }}b  {{ '${GENERATION_END}' }}c`);
  });

  test('unbalanced or nested blocks are errors', () => {
    expect(() => stripMarkers(`a${GENERATION_START}b`)).toThrow(/never closed/);
    expect(() => stripMarkers(`a${GENERATION_END}b`)).toThrow(/without/);
    expect(() => stripMarkers(`${GENERATION_START}a${GENERATION_START}b${GENERATION_END}`)).toThrow(/inside another/);
  });
});
