import { describe, expect, test } from 'vitest';
import { detectFormat } from './detect';
import { parseCsv } from './parseCsv';
import { parseJsonArray, parseJsonLines, type ParsedRecord } from './parseJson';
import { readDatasetFile } from './read';
import { readTextChunks } from './stream';
import { DatasetError, type Example } from './types';

function file(name: string, text: string): File {
  return new File([text], name);
}

function jsonl(rows: unknown[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

/** Feeds text in pieces of 1..7 characters, to hit every chunk-boundary case. */
async function* tinyChunks(text: string): AsyncGenerator<string> {
  let i = 0;
  let n = 1;
  while (i < text.length) {
    yield text.slice(i, i + n);
    i += n;
    n = (n % 7) + 1;
  }
}

async function collect(gen: AsyncIterable<ParsedRecord>): Promise<ParsedRecord[]> {
  const out: ParsedRecord[] = [];
  for await (const r of gen) out.push(r);
  return out;
}

describe('format detection', () => {
  const cases: [string, unknown, string, Example][] = [
    ['text', { text: 'Once upon a time' }, 'text', { kind: 'text', line: 1, text: 'Once upon a time' }],
    [
      'alpaca',
      { instruction: 'Add', input: '2 and 2', output: '4', system: 'Be brief' },
      'instruction',
      { kind: 'instruction', line: 1, instruction: 'Add', input: '2 and 2', output: '4', system: 'Be brief' },
    ],
    ['question-answer', { question: 'Q?', answer: 'A.' }, 'instruction', { kind: 'instruction', line: 1, instruction: 'Q?', output: 'A.' }],
    ['prompt-completion', { prompt: 'P', completion: 'C' }, 'instruction', { kind: 'instruction', line: 1, instruction: 'P', output: 'C' }],
    ['input-output', { input: 'I', output: 'O' }, 'instruction', { kind: 'instruction', line: 1, instruction: 'I', output: 'O' }],
    [
      'openai-chat',
      { messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }, { role: 'assistant', content: 'A' }] },
      'chat',
      { kind: 'chat', line: 1, messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }, { role: 'assistant', content: 'A' }] },
    ],
    [
      'sharegpt',
      { conversations: [{ from: 'system', value: 'S' }, { from: 'human', value: 'U' }, { from: 'gpt', value: 'A' }] },
      'chat',
      { kind: 'chat', line: 1, messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }, { role: 'assistant', content: 'A' }] },
    ],
  ];
  for (const [name, row, kind, example] of cases) {
    test(`${name} rows are detected and read`, async () => {
      const raw = await readDatasetFile(file('d.jsonl', jsonl([row])));
      expect(raw.format.name).toBe(name);
      expect(raw.format.kind).toBe(kind);
      expect(raw.badRows).toEqual([]);
      expect(raw.examples).toEqual([example]);
    });
  }

  test('the layout most rows follow wins; keys match case-insensitively', () => {
    const f = detectFormat([{ Question: 'a', Answer: 'b' }, { Question: 'c', Answer: 'd' }, { text: 'x' }]);
    expect(f.name).toBe('question-answer');
    expect(f.mapping).toEqual({ kind: 'instruction', instruction: 'Question', output: 'Answer' });
    expect(f.confidence).toBeCloseTo(2 / 3);
  });

  test('unknown columns give a format error that names them', () => {
    expect(() => detectFormat([{ foo: 1, bar: 2 }])).toThrow(/"foo", "bar".*column mapping/);
  });

  test('a column mapping overrides detection', async () => {
    const raw = await readDatasetFile(file('d.jsonl', jsonl([{ q: 'Why?', a: 'Because.', text: 'ignored' }])), {
      mapping: { kind: 'instruction', instruction: 'q', output: 'a' },
    });
    expect(raw.format.name).toBe('custom');
    expect(raw.examples).toEqual([{ kind: 'instruction', line: 1, instruction: 'Why?', output: 'Because.' }]);
  });
});

describe('bad rows carry their line number and reason', () => {
  test('every kind of malformed JSONL row', async () => {
    const lines = [
      JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }), // 1 ok
      '{"messages": [', // 2 bad JSON
      '', // 3 blank: not a row
      JSON.stringify({ msgs: [] }), // 4 missing field
      JSON.stringify({ messages: 'hello' }), // 5 wrong type (string, not JSON)
      JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '  ' }] }), // 6 empty text
      JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'bot', content: 'x' }] }), // 7 unknown role
      JSON.stringify({ messages: [{ role: 'user', content: 3 }] }), // 8 wrong type of content
      '[1, 2]', // 9 not an object
      JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }), // 10 nothing to learn
      JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'ok' }] }), // 11 ok
    ];
    const raw = await readDatasetFile(file('chat.jsonl', lines.join('\n')));
    expect(raw.format.name).toBe('openai-chat');
    expect(raw.examples.map((e) => e.line)).toEqual([1, 11]);
    expect(raw.rowCount).toBe(10);
    expect(raw.badRows.map((b) => b.line)).toEqual([2, 4, 5, 6, 7, 8, 9, 10]);
    const reasons = raw.badRows.map((b) => b.reason);
    expect(reasons[0]).toMatch(/not valid JSON/);
    expect(reasons[1]).toBe('missing field "messages"');
    expect(reasons[2]).toMatch(/must be a list of messages, got a string/);
    expect(reasons[3]).toMatch(/message 2 \(assistant\) is empty/);
    expect(reasons[4]).toMatch(/unknown role "bot"/);
    expect(reasons[5]).toMatch(/message 1: "content" must be a string, got a number/);
    expect(reasons[6]).toMatch(/expected a JSON object, got an array/);
    expect(reasons[7]).toMatch(/no assistant message/);
  });

  test('instruction and text rows: missing field, wrong type, empty text', async () => {
    const raw = await readDatasetFile(
      file('qa.jsonl', jsonl([{ question: 'a', answer: 'b' }, { question: 'a' }, { question: 'a', answer: 42 }, { question: '', answer: 'b' }])),
    );
    expect(raw.badRows).toEqual([
      { line: 2, reason: 'missing field "answer"' },
      { line: 3, reason: 'field "answer" must be a string, got a number' },
      { line: 4, reason: 'field "question" is empty' },
    ]);
    const t = await readDatasetFile(file('t.jsonl', jsonl([{ text: 'ok' }, { text: null }, { text: '\n' }])));
    expect(t.badRows).toEqual([
      { line: 2, reason: 'field "text" must be a string, got null' },
      { line: 3, reason: 'field "text" is empty' },
    ]);
  });

  test("onBadRow: 'stop' throws a typed error naming the first bad row", async () => {
    const text = jsonl([{ text: 'a' }, { text: 'b' }]) + '{oops\n' + jsonl([{ text: 5 }]);
    const err = await readDatasetFile(file('t.jsonl', text), { onBadRow: 'stop' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).code).toBe('bad-row');
    expect((err as DatasetError).badRow?.line).toBe(3);
    expect((err as DatasetError).message).toMatch(/t\.jsonl, line 3: not valid JSON/);
  });
});

describe('JSON arrays', () => {
  const text = `[
  {"instruction": "one",
   "output": "1"},
  {"instruction": "two, with [brackets] and \\"quotes\\" and }",
   "output": "2"},
  {"instruction": "three" "output": "3"},
  {"instruction": "four", "output": "4"}
]
`;
  test('elements keep the line they start on; a broken element is reported alone', async () => {
    const raw = await readDatasetFile(file('a.json', text));
    expect(raw.format.name).toBe('alpaca');
    expect(raw.examples.map((e) => [e.line, (e as { output: string }).output])).toEqual([[2, '1'], [4, '2'], [7, '4']]);
    expect(raw.badRows.length).toBe(1);
    expect(raw.badRows[0].line).toBe(6);
    expect(raw.badRows[0].reason).toMatch(/not valid JSON/);
  });

  test('chunk boundaries anywhere give the same records', async () => {
    const whole = await collect(parseJsonArray((async function* () { yield text; })()));
    const tiny = await collect(parseJsonArray(tinyChunks(text)));
    expect(tiny).toEqual(whole);
  });

  test('a missing ] and text after ] are reported', async () => {
    const cut = await collect(parseJsonArray(tinyChunks('[{"text": "a"},\n{"text": "b"}')));
    expect(cut).toEqual([{ line: 1, value: { text: 'a' } }, { line: 2, error: 'the file ends before the closing `]` of the array' }]);
    const after = await collect(parseJsonArray(tinyChunks('[{"text": "a"}]\n\nextra')));
    expect(after).toEqual([{ line: 1, value: { text: 'a' } }, { line: 3, error: 'text after the closing `]` of the array' }]);
  });

  test('a .json file that holds one object per line is read as JSON Lines', async () => {
    const raw = await readDatasetFile(file('lines.json', jsonl([{ text: 'a' }, { text: 'b' }])));
    expect(raw.examples.length).toBe(2);
  });
});

describe('CSV (RFC 4180)', () => {
  const csv =
    'Question,Answer\r\n' + // 1
    '"What is 1,2?","A list, of two"\r\n' + // 2
    '"Say ""hi""","He said ""hi""\r\nthen left"\r\n' + // 3-4
    '\r\n' + // 5 blank
    'plain,row\r\n' + // 6
    'too,many,fields\r\n' + // 7
    '"multi\nline\nquestion",answer\n' + // 8-10
    'last,"never closed\nrow\n'; // 11-12
  test('quoted fields, embedded commas, quotes and newlines; record start lines; bad records', async () => {
    const raw = await readDatasetFile(file('qa.csv', csv));
    expect(raw.format.name).toBe('question-answer');
    expect(raw.examples).toEqual([
      { kind: 'instruction', line: 2, instruction: 'What is 1,2?', output: 'A list, of two' },
      { kind: 'instruction', line: 3, instruction: 'Say "hi"', output: 'He said "hi"\r\nthen left' },
      { kind: 'instruction', line: 6, instruction: 'plain', output: 'row' },
      { kind: 'instruction', line: 8, instruction: 'multi\nline\nquestion', output: 'answer' },
    ]);
    expect(raw.badRows.map((b) => b.line)).toEqual([7, 11]);
    expect(raw.badRows[0].reason).toMatch(/has 3 fields but the header has 2/);
    expect(raw.badRows[1].reason).toMatch(/quoted field is never closed/);
  });

  test('chunk boundaries anywhere give the same records', async () => {
    const whole = await collect(parseCsv((async function* () { yield csv; })(), ','));
    const tiny = await collect(parseCsv(tinyChunks(csv), ','));
    expect(tiny).toEqual(whole);
    expect(whole.length).toBe(6);
  });

  test('a stray quote inside an unquoted field is reported by papaparse', async () => {
    const raw = await readDatasetFile(file('t.csv', 'text\nok\n"bad"x\nfine\n'));
    expect(raw.examples.map((e) => e.line)).toEqual([2, 4]);
    expect(raw.badRows[0].line).toBe(3);
    expect(raw.badRows[0].reason).toMatch(/malformed CSV record/);
  });

  test('tab-separated files and chat columns holding JSON', async () => {
    const msgs = JSON.stringify([{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }]).replaceAll('"', '""');
    const raw = await readDatasetFile(file('c.tsv', `messages\tid\n"${msgs}"\t1\n`));
    expect(raw.format.name).toBe('openai-chat');
    expect(raw.examples[0]).toEqual({ kind: 'chat', line: 2, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }] });
  });
});

describe('streams', () => {
  test('JSON Lines split anywhere, CRLF, multibyte text', async () => {
    const text = '{"text": "héllo 😀"}\r\n\r\n{"text": "b"}\n{bad\n{"text": "c"}';
    expect(await collect(parseJsonLines(tinyChunks(text)))).toEqual([
      { line: 1, value: { text: 'héllo 😀' } },
      { line: 3, value: { text: 'b' } },
      { line: 4, error: expect.stringMatching(/not valid JSON/) as unknown as string },
      { line: 5, value: { text: 'c' } },
    ]);
  });

  test('UTF-8 split between stream chunks decodes whole; progress reaches the total', async () => {
    const bytes = new TextEncoder().encode('{"text": "😀é"}\n');
    const parts = Array.from(bytes, (b) => new Uint8Array([b]));
    const blob = new Blob(parts);
    const progress: number[] = [];
    let out = '';
    for await (const c of readTextChunks(blob, { onProgress: (r, t) => progress.push(r / t) })) out += c;
    expect(out).toBe('{"text": "😀é"}\n');
    expect(progress[progress.length - 1]).toBe(1);
    const raw = await readDatasetFile(Object.assign(blob, { name: 'x.jsonl' }));
    expect(raw.examples).toEqual([{ kind: 'text', line: 1, text: '😀é' }]);
  });

  test('an aborted signal stops reading', async () => {
    const ctl = new AbortController();
    ctl.abort();
    await expect(readDatasetFile(file('t.jsonl', '{"text":"a"}\n'), { signal: ctl.signal })).rejects.toThrow();
  });

  test('.txt files become pieces cut at line ends, with line numbers', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i + 1}`);
    const raw = await readDatasetFile(file('book.txt', lines.join('\n') + '\n'));
    expect(raw.format.name).toBe('text-file');
    expect(raw.rowCount).toBe(2000);
    expect(raw.examples.length).toBeGreaterThan(1);
    expect(raw.examples.map((e) => (e as { text: string }).text).join('')).toBe(lines.join('\n') + '\n');
    for (const ex of raw.examples) expect((ex as { text: string }).text.startsWith(`line ${ex.line}\n`)).toBe(true);
  });

  test('empty files are a clear error', async () => {
    await expect(readDatasetFile(file('e.jsonl', '\n \n'))).rejects.toThrow(/empty/);
  });
});

describe('CSV found by the fuzzers', () => {
  test('a CSV that starts with a blank line still gets its delimiter from the header', async () => {
    const raw = await readDatasetFile(new File(['\ninstruction;output\nAdd;4\n'], 'x.csv'));
    expect(raw.badRows).toEqual([]);
    expect(raw.format.name).toBe('alpaca');
    expect(raw.examples.length).toBe(1);
  });
});
