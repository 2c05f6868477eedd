// Templates with {% generation %} ... {% endgeneration %} blocks say themselves which characters
// the assistant produces (transformers' return_assistant_tokens_mask uses them; SmolLM3 ships
// them, TRL's training templates add them). @huggingface/jinja accepts the tags but drops them in
// its source preprocessing, before lexing (0.5.11: `preprocess` in its lexer), so nothing of them
// reaches the parsed program or the output.
//
// To keep them we run that same preprocessing ourselves, in the library's order and with its
// regular expressions (lstrip_blocks, trim_blocks, then the generation tags), except that each tag
// becomes an output statement writing a marker character where the library writes nothing; the
// whitespace the library keeps or strips around a tag is kept or stripped the same way. The result
// is lexed with both options off (they have been applied) and rendered by the library's Template
// with its own globals. Stripping the markers from our rendering gives exactly the library's
// rendering of the original source (tested on every template we ship tests for).
//
// The markers are Unicode noncharacters (U+FDD0, U+FDD1), reserved for a program's internal use;
// a conversation containing one is refused rather than guessed at.

import { Template, parse, tokenize } from '@huggingface/jinja';

export const GENERATION_START = '\uFDD0';
export const GENERATION_END = '\uFDD1';

// The library's tag pattern, with the "end" captured so that opening and closing tags differ.
const TAG = /(\s*){%(-?)\s*(end)?generation\s*(-?)%}(\s*)/gs;

/** Whether the template source holds {% generation %} blocks (as the library would recognise them). */
export function hasGenerationBlocks(source: string): boolean {
  return new RegExp(TAG.source, 's').test(source);
}

/** Source with the library's lstrip/trim preprocessing applied and the tags turned into marker outputs. */
export function markerSource(source: string): string {
  const lstripped = source.replace(/^[ \t]*({[#%-])/gm, '$1');
  const trimmed = lstripped.replace(/([#%-]})\n/g, '$1');
  return trimmed.replace(TAG, (_m, before: string, lstrip: string, end: string | undefined, rstrip: string, after: string) => {
    const marker = end ? GENERATION_END : GENERATION_START;
    return (lstrip ? '' : before) + `{{ '${marker}' }}` + (rstrip ? '' : after);
  });
}

/** A Template that renders the generation markers. Throws what the library throws on a bad template. */
export function compileWithMarkers(source: string): Template {
  const t = new Template('');
  // Options off: markerSource applied lstrip_blocks and trim_blocks already, in the library's order.
  t.parsed = parse(tokenize(markerSource(source), {}));
  return t;
}

export interface MarkedSpans {
  /** The rendering without markers. */
  text: string;
  /** [start, end) character ranges of text inside generation blocks, in order. */
  spans: { start: number; end: number }[];
}

/** Removes the markers, recording where the blocks were; unbalanced or nested blocks throw. */
export function stripMarkers(rendered: string): MarkedSpans {
  const spans: { start: number; end: number }[] = [];
  let text = '';
  let open = -1;
  let from = 0;
  for (let i = 0; i < rendered.length; i++) {
    const c = rendered[i];
    if (c !== GENERATION_START && c !== GENERATION_END) continue;
    text += rendered.slice(from, i);
    from = i + 1;
    if (c === GENERATION_START) {
      if (open >= 0) throw new Error('a {% generation %} block opens inside another one');
      open = text.length;
    } else {
      if (open < 0) throw new Error('{% endgeneration %} without its {% generation %}');
      if (text.length > open) spans.push({ start: open, end: text.length });
      open = -1;
    }
  }
  if (open >= 0) throw new Error('a {% generation %} block is never closed');
  text += rendered.slice(from);
  return { text, spans };
}
