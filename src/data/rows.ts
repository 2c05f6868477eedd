// Turns one parsed row into an Example under a column mapping, or says exactly what is wrong
// with it (missing field, wrong type, empty text, unknown role).

import type { BadRow, ChatMessage, ColumnMapping, Example, Role } from './types';

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function isBlank(s: string): boolean {
  return s.trim().length === 0;
}

type Field = { ok: string } | { bad: string };

function requiredText(row: Record<string, unknown>, key: string): Field {
  if (!(key in row) || row[key] === undefined) return { bad: `missing field "${key}"` };
  const v = row[key];
  if (typeof v !== 'string') return { bad: `field "${key}" must be a string, got ${typeName(v)}` };
  if (isBlank(v)) return { bad: `field "${key}" is empty` };
  return { ok: v };
}

/** An optional field: absent, null or blank means "not given". */
function optionalText(row: Record<string, unknown>, key: string | undefined): Field | undefined {
  if (key === undefined || !(key in row) || row[key] === undefined || row[key] === null) return undefined;
  const v = row[key];
  if (typeof v !== 'string') return { bad: `field "${key}" must be a string, got ${typeName(v)}` };
  return isBlank(v) ? undefined : { ok: v };
}

function parseMessages(v: unknown, key: string): unknown[] | string {
  if (typeof v === 'string') {
    // A CSV cell (or a double-encoded JSON export) holding the message list as JSON text.
    try {
      v = JSON.parse(v);
    } catch {
      return `field "${key}" must be a list of messages, got a string that is not JSON`;
    }
  }
  if (!Array.isArray(v)) return `field "${key}" must be a list of messages, got ${typeName(v)}`;
  return v;
}

export function toExample(value: unknown, mapping: ColumnMapping, line: number): Example | BadRow {
  const bad = (reason: string): BadRow => ({ line, reason });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return bad(`expected a JSON object, got ${typeName(value)}`);
  }
  const row = value as Record<string, unknown>;
  if (mapping.kind === 'text') {
    const t = requiredText(row, mapping.text);
    return 'bad' in t ? bad(t.bad) : { kind: 'text', line, text: t.ok };
  }
  if (mapping.kind === 'instruction') {
    const ins = requiredText(row, mapping.instruction);
    if ('bad' in ins) return bad(ins.bad);
    const out = requiredText(row, mapping.output);
    if ('bad' in out) return bad(out.bad);
    const input = optionalText(row, mapping.input);
    if (input && 'bad' in input) return bad(input.bad);
    const system = optionalText(row, mapping.system);
    if (system && 'bad' in system) return bad(system.bad);
    const ex: Example = { kind: 'instruction', line, instruction: ins.ok, output: out.ok };
    if (input) ex.input = input.ok;
    if (system) ex.system = system.ok;
    return ex;
  }
  if (!(mapping.messages in row) || row[mapping.messages] === undefined) return bad(`missing field "${mapping.messages}"`);
  const list = parseMessages(row[mapping.messages], mapping.messages);
  if (typeof list === 'string') return bad(list);
  if (list.length === 0) return bad(`field "${mapping.messages}" has no messages`);
  const messages: ChatMessage[] = [];
  const known = Object.keys(mapping.roles).map((r) => `"${r}"`).join(', ');
  for (let i = 0; i < list.length; i++) {
    const m = list[i];
    const which = `message ${i + 1}`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return bad(`${which} must be an object, got ${typeName(m)}`);
    const msg = m as Record<string, unknown>;
    const rawRole = msg[mapping.role];
    if (rawRole === undefined) return bad(`${which} is missing "${mapping.role}"`);
    if (typeof rawRole !== 'string') return bad(`${which}: "${mapping.role}" must be a string, got ${typeName(rawRole)}`);
    const role: Role | undefined = Object.hasOwn(mapping.roles, rawRole) ? mapping.roles[rawRole] : undefined;
    if (role === undefined) return bad(`${which} has unknown role "${rawRole}" (expected one of ${known})`);
    const content = msg[mapping.content];
    if (content === undefined) return bad(`${which} is missing "${mapping.content}"`);
    if (typeof content !== 'string') return bad(`${which}: "${mapping.content}" must be a string, got ${typeName(content)}`);
    if (isBlank(content)) return bad(`${which} (${rawRole}) is empty`);
    messages.push({ role, content });
  }
  if (!messages.some((m) => m.role === 'assistant')) return bad('no assistant message to learn from');
  return { kind: 'chat', line, messages };
}

export function isBadRow(x: Example | BadRow): x is BadRow {
  return 'reason' in x;
}
