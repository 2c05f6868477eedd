// Tells the dataset's layout from the keys of its rows. Keys match case-insensitively ("Question"
// in a CSV header counts as "question"); the mapping returned names the keys as the file spells
// them, so it can be shown to the user and edited.

import type { ColumnMapping, DetectedFormat, FormatName, Role } from './types';
import { DatasetError } from './types';

export const OPENAI_ROLES: Record<string, Role> = { system: 'system', user: 'user', assistant: 'assistant' };
export const SHAREGPT_ROLES: Record<string, Role> = {
  system: 'system', human: 'user', gpt: 'assistant', user: 'user', assistant: 'assistant',
};

interface Candidate {
  name: FormatName;
  /** Keys (lower case) a row must have. */
  needs: string[];
  build(key: (k: string) => string | undefined, row: Record<string, unknown>): ColumnMapping;
}

function firstMessage(v: unknown): Record<string, unknown> | undefined {
  if (!Array.isArray(v) || v.length === 0 || typeof v[0] !== 'object' || v[0] === null) return undefined;
  return v[0] as Record<string, unknown>;
}

// In priority order: a row with both "messages" and "text" is a chat row; "instruction"+"input"+
// "output" is alpaca, not input/output.
const CANDIDATES: Candidate[] = [
  {
    name: 'openai-chat',
    needs: ['messages'],
    build: (key) => ({ kind: 'chat', messages: key('messages')!, role: 'role', content: 'content', roles: OPENAI_ROLES }),
  },
  {
    name: 'sharegpt',
    needs: ['conversations'],
    build: (key, row) => {
      // Some ShareGPT exports use role/content inside "conversations"; follow the first message.
      const m = firstMessage(row[key('conversations')!]);
      const openaiKeys = m !== undefined && 'role' in m && !('from' in m);
      return {
        kind: 'chat', messages: key('conversations')!,
        role: openaiKeys ? 'role' : 'from', content: openaiKeys ? 'content' : 'value', roles: SHAREGPT_ROLES,
      };
    },
  },
  {
    name: 'alpaca',
    needs: ['instruction', 'output'],
    build: (key) => ({
      kind: 'instruction', instruction: key('instruction')!, output: key('output')!,
      input: key('input'), system: key('system'),
    }),
  },
  { name: 'question-answer', needs: ['question', 'answer'], build: (key) => ({ kind: 'instruction', instruction: key('question')!, output: key('answer')! }) },
  { name: 'prompt-completion', needs: ['prompt', 'completion'], build: (key) => ({ kind: 'instruction', instruction: key('prompt')!, output: key('completion')! }) },
  { name: 'input-output', needs: ['input', 'output'], build: (key) => ({ kind: 'instruction', instruction: key('input')!, output: key('output')! }) },
  { name: 'text', needs: ['text'], build: (key) => ({ kind: 'text', text: key('text')! }) },
];

function keyLookup(row: Record<string, unknown>): (k: string) => string | undefined {
  const byLower = new Map<string, string>();
  for (const k of Object.keys(row)) if (!byLower.has(k.toLowerCase())) byLower.set(k.toLowerCase(), k);
  return (k) => byLower.get(k);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Picks the layout most of the sampled rows follow (ties go to the earlier, more specific one).
 * Rows that are not objects are ignored here; they become bad rows later. Throws a 'format'
 * DatasetError naming the columns it saw when no layout fits any row.
 */
export function detectFormat(rows: readonly unknown[]): DetectedFormat {
  const objects = rows.filter(isObject);
  let best: { cand: Candidate; count: number; example: Record<string, unknown> } | null = null;
  for (const cand of CANDIDATES) {
    let count = 0;
    let example: Record<string, unknown> | null = null;
    for (const row of objects) {
      const key = keyLookup(row);
      if (cand.needs.every((k) => key(k) !== undefined)) {
        count++;
        example ??= row;
      }
    }
    if (example !== null && (best === null || count > best.count)) best = { cand, count, example };
  }
  if (best === null) {
    const cols = new Set<string>();
    for (const row of objects.slice(0, 20)) for (const k of Object.keys(row)) cols.add(k);
    const seen = objects.length === 0 ? 'no JSON objects in the rows sampled' : `columns ${[...cols].map((c) => `"${c}"`).join(', ')}`;
    throw new DatasetError(
      'format',
      `Cannot tell the dataset format: found ${seen}. Expected "text"; "instruction"/"output" (alpaca); ` +
        `"question"/"answer"; "prompt"/"completion"; "input"/"output"; "messages" (OpenAI chat) or ` +
        `"conversations" (ShareGPT). Rename the columns or choose a column mapping.`,
    );
  }
  return {
    name: best.cand.name,
    kind: best.cand.build(keyLookup(best.example), best.example).kind,
    mapping: best.cand.build(keyLookup(best.example), best.example),
    confidence: best.count / objects.length,
    sampled: rows.length,
  };
}

/** The format record for a user-chosen mapping. */
export function formatFromMapping(mapping: ColumnMapping, sampled = 0): DetectedFormat {
  return { name: 'custom', kind: mapping.kind, mapping, confidence: 1, sampled };
}
