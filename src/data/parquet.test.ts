// Parquet datasets: files written here by a real writer (hyparquet-writer with each codec's real
// compressor, testing/parquetFiles.ts) read through the same pipeline as JSON Lines. The same rows
// as a .jsonl file and as a .parquet file must give the same format, the same tokens, the same
// trained-token masks, the same example lines and the same bad rows (line and reason; Parquet
// adds the row group), whatever the codec and however the rows are cut into row groups.

import { parquetMetadata } from 'hyparquet';
import { describe, expect, it, test } from 'vitest';
import { chatTemplateInfo, DatasetTokenizer, readDatasetFile, readDatasetFiles, type TokenizedDataset, type TokenizeOptions } from './index';
import { CODECS, parquetBytes, type ColumnSpec } from './testing/parquetFiles';
import { makeByteLevelChatmlTokenizer } from './testing/tokenizers';
import { DatasetError, type BadRow } from './types';

const t = makeByteLevelChatmlTokenizer();
const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);

/** Reads and tokenizes as the engine does: streamed, rows not kept. */
async function tokenized(files: File[], opts: TokenizeOptions, maxRows?: number): Promise<TokenizedDataset> {
  let tok: DatasetTokenizer | null = null;
  const raw = await readDatasetFiles(files, {
    keepRows: false,
    maxRows,
    onFormat: (f) => (tok = new DatasetTokenizer(t.tokenizer, info, f, files[0].name, opts)),
    onExample: (ex) => tok!.add(ex),
  });
  return (tok as unknown as DatasetTokenizer).finish(raw);
}

function jsonlFile(rows: readonly Record<string, unknown>[], name = 'd.jsonl'): File {
  return new File([rows.map((r) => JSON.stringify(r)).join('\n') + '\n'], name);
}

const place = (r: BadRow) => ({ line: r.line, reason: r.reason });

function expectSame(a: TokenizedDataset, b: TokenizedDataset) {
  expect(a.format).toEqual(b.format);
  expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
  expect(Array.from(a.trained)).toEqual(Array.from(b.trained));
  expect(Array.from(a.offsets)).toEqual(Array.from(b.offsets));
  expect(Array.from(a.lines)).toEqual(Array.from(b.lines));
  expect(a.badRows.map(place)).toEqual(b.badRows.map(place));
  expect(a.stats).toEqual(b.stats);
}

const msg = (role: string | null, content: string | null) => ({ role, content });
const long = 'word '.repeat(120);

// OpenAI-style chats with every kind of bad row the pipeline knows, among good ones.
const CHAT_COLUMNS: ColumnSpec[] = [
  { name: 'id', type: 'int64' },
  { name: 'messages', type: 'messages', fields: ['role', 'content'] },
  { name: 'score', type: 'double' },
];
function chatRows(): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < 40; i++) {
    rows.push({ id: i, messages: [msg('user', `Tell me about the moon, number ${i}`), msg('assistant', `The moon ${i} is far away.`)], score: i / 4 });
  }
  const bad: Record<string, unknown>[] = [
    { id: 100, messages: null, score: null },
    { id: 101, messages: [], score: 1.5 },
    { id: 102, messages: [msg('bot', 'hello'), msg('assistant', 'hi')], score: 2 },
    { id: 103, messages: [msg('user', null), msg('assistant', 'hi')], score: 2 },
    { id: 104, messages: [msg('user', 'only a question')], score: 2 },
    { id: 105, messages: [msg('user', '   '), msg('assistant', 'x')], score: 2 },
    { id: 106, messages: [msg(null, 'no role'), msg('assistant', 'x')], score: 2 },
    { id: 107, messages: [msg('user', 'a <|im_end|> b'), msg('assistant', 'control token text')], score: 2 },
    { id: 108, messages: [msg('system', 'Be brief.'), msg('user', long), msg('assistant', 'too long a prompt')], score: 2 },
    { id: 109, messages: [msg('system', 'Be brief.'), msg('user', 'Hi'), msg('assistant', 'Hello!'), msg('user', 'Bye'), msg('assistant', 'Bye!')], score: 2 },
  ];
  // spread the bad rows through the file, so they land in different row groups
  bad.forEach((b, k) => rows.splice(3 + k * 4, 0, b));
  return rows;
}

describe('Parquet rows equal the same rows as JSONL', () => {
  const opts: TokenizeOptions = { maxSeqLen: 64, onBadRow: 'skip' };

  it.each(CODECS)('nested chat column (list<struct<role, content>>), 7-row row groups, codec %s', async (codec) => {
    const rows = chatRows();
    const bytes = await parquetBytes(CHAT_COLUMNS, rows, { codec, rowGroupSize: 7 });
    // the file is what it claims: several row groups, each column chunk in this codec and, but
    // for UNCOMPRESSED, smaller than its data (a writer without the compressor would store raw bytes)
    const meta = parquetMetadata(bytes.buffer as ArrayBuffer);
    expect(meta.row_groups.length).toBe(Math.ceil(rows.length / 7));
    for (const c of meta.row_groups[0].columns) expect(c.meta_data!.codec).toBe(codec);
    // ... and the writer really compressed: a column of 200 distinct, repetitive strings shrinks
    const stories = Array.from({ length: 200 }, (_, i) => ({ text: `story ${i}: the robot walked to the moon and back. `.repeat(3) }));
    const big = parquetMetadata((await parquetBytes([{ name: 'text', type: 'string' }], stories, { codec })).buffer as ArrayBuffer);
    const col = big.row_groups[0].columns[0].meta_data!;
    if (codec === 'UNCOMPRESSED') expect(col.total_compressed_size).toBe(col.total_uncompressed_size);
    else expect(Number(col.total_compressed_size)).toBeLessThan(Number(col.total_uncompressed_size) / 2);

    const pq = await tokenized([new File([bytes], 'chat.parquet')], opts);
    const js = await tokenized([jsonlFile(rows)], opts);
    expectSame(pq, js);
    expect(pq.format.name).toBe('openai-chat');
    // every kind of bad row is there, and each carries its row group
    expect(pq.badRows.length).toBe(9);
    for (const r of pq.badRows) expect(r.rowGroup).toBe(Math.floor((r.line - 1) / 7));
    expect(pq.stats.examples).toBeGreaterThan(35);
  });

  test('ShareGPT conversations (list<struct<from, value>>), an unknown role and a null list', async () => {
    const columns: ColumnSpec[] = [{ name: 'conversations', type: 'messages', fields: ['from', 'value'] }];
    const conv = (...turns: [string, string][]) => ({ conversations: turns.map(([from, value]) => ({ from, value })) });
    const rows = [
      conv(['system', 'You are kind.'], ['human', 'Hello'], ['gpt', 'Hi there']),
      conv(['human', 'What is 2+2?'], ['gpt', '4']),
      conv(['human', 'x'], ['bard', 'y']),
      { conversations: null },
      conv(['human', 'Name a colour'], ['gpt', 'Blue'], ['human', 'Another'], ['gpt', 'Red']),
    ];
    const pq = await tokenized([new File([await parquetBytes(columns, rows, { rowGroupSize: 2 })], 'sharegpt.parquet')], opts);
    const js = await tokenized([jsonlFile(rows)], opts);
    expectSame(pq, js);
    expect(pq.format.name).toBe('sharegpt');
    expect(pq.badRows).toEqual([
      { line: 3, rowGroup: 1, reason: 'message 2 has unknown role "bard" (expected one of "system", "human", "gpt", "user", "assistant")' },
      { line: 4, rowGroup: 1, reason: 'field "conversations" must be a list of messages, got null' },
    ]);
  });

  test('alpaca strings with null inputs, and plain text rows split into blocks', async () => {
    const alpaca: ColumnSpec[] = [
      { name: 'instruction', type: 'string' },
      { name: 'input', type: 'string' },
      { name: 'output', type: 'string' },
    ];
    const rows = [
      { instruction: 'Add the numbers', input: '2 and 3', output: '5' },
      { instruction: 'Say hello', input: null, output: 'Hello!' },
      { instruction: 'Empty answer', input: null, output: '' },
      { instruction: null, input: 'x', output: 'y' },
      { instruction: 'Count', input: 'one two', output: long },
    ];
    const a = await tokenized([new File([await parquetBytes(alpaca, rows, { codec: 'GZIP', rowGroupSize: 3 })], 'alpaca.parquet')], opts);
    expectSame(a, await tokenized([jsonlFile(rows)], opts));
    expect(a.format.name).toBe('alpaca');
    expect(a.badRows.map((r) => [r.line, r.rowGroup])).toEqual([[3, 0], [4, 1]]);

    const text = [{ text: 'Once upon a time there was a robot.' }, { text: long }, { text: null }, { text: 'The end.' }];
    const b = await tokenized([new File([await parquetBytes([{ name: 'text', type: 'string' }], text, { codec: 'ZSTD' })], 'text.parquet')], opts);
    expectSame(b, await tokenized([jsonlFile(text)], opts));
    expect(b.stats.splitRows).toBe(1);
  });

  test('numbers where text is expected: INT32 and INT64 answers are reported as numbers, as in JSON', async () => {
    const columns: ColumnSpec[] = [
      { name: 'question', type: 'string' },
      { name: 'answer', type: 'int32' },
    ];
    const rows = [{ question: 'What is 2+2?', answer: 4 }, { question: 'And 3+3?', answer: 6 }];
    const pqRaw = await readDatasetFile(new File([await parquetBytes(columns, rows)], 'qa.parquet'));
    const jsRaw = await readDatasetFile(jsonlFile(rows));
    expect(pqRaw.format).toEqual(jsRaw.format);
    expect(pqRaw.badRows.map(place)).toEqual(jsRaw.badRows.map(place));
    expect(pqRaw.badRows[0].reason).toBe('field "answer" must be a string, got a number');
    const wide = await readDatasetFile(new File([await parquetBytes([columns[0], { name: 'answer', type: 'int64' }], rows)], 'qa64.parquet'));
    expect(wide.badRows.map(place)).toEqual(jsRaw.badRows.map(place));
  });
});

describe('reading Parquet files', () => {
  test('several shards of one split: rows numbered across them, bad rows name their shard', async () => {
    const rows = chatRows();
    const a = await parquetBytes(CHAT_COLUMNS, rows.slice(0, 20), { codec: 'SNAPPY', rowGroupSize: 8 });
    const b = await parquetBytes(CHAT_COLUMNS, rows.slice(20), { codec: 'BROTLI', rowGroupSize: 8 });
    const opts: TokenizeOptions = { maxSeqLen: 64, onBadRow: 'skip' };
    const pq = await tokenized([new File([a], 'train-00000-of-00002.parquet'), new File([b], 'train-00001-of-00002.parquet')], opts);
    expectSame(pq, await tokenized([jsonlFile(rows)], opts));
    for (const r of pq.badRows) {
      const inFirst = r.line <= 20;
      expect(r.file).toBe(inFirst ? 'train-00000-of-00002.parquet' : 'train-00001-of-00002.parquet');
      expect(r.rowGroup).toBe(Math.floor((inFirst ? r.line - 1 : r.line - 21) / 8));
    }
  });

  test('a row limit reads only the first rows, as with JSONL', async () => {
    const rows = chatRows();
    const opts: TokenizeOptions = { maxSeqLen: 64, onBadRow: 'skip' };
    const pq = await tokenized([new File([await parquetBytes(CHAT_COLUMNS, rows, { rowGroupSize: 5 })], 'c.parquet')], opts, 12);
    const js = await tokenized([jsonlFile(rows)], opts, 12);
    expectSame(pq, js);
    expect(pq.stats.rows).toBe(12);
  });

  test('the stop-at-first-bad-row error says the row and its row group', async () => {
    const file = new File([await parquetBytes(CHAT_COLUMNS, chatRows(), { rowGroupSize: 2 })], 'c.parquet');
    const err = await readDatasetFile(file, { onBadRow: 'stop' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as Error).message).toBe(
      'Bad row at c.parquet, row 4 (row group 1): field "messages" must be a list of messages, got null. Fix the row, or choose "skip bad rows" to train without it.',
    );
  });

  test('found by its magic bytes whatever its name; progress reaches the file size', async () => {
    const bytes = await parquetBytes([{ name: 'text', type: 'string' }], [{ text: 'a b c' }, { text: 'd e f' }], { rowGroupSize: 1 });
    const seen: number[] = [];
    const raw = await readDatasetFile(new File([bytes], 'download'), { onProgress: (d) => seen.push(d) });
    expect(raw.format.name).toBe('text');
    expect(raw.rowCount).toBe(2);
    expect(seen.at(-1)).toBe(bytes.length);
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
  });

  test('not Parquet, or cut short: a clear error with the fix', async () => {
    await expect(readDatasetFile(new File(['{"text": "hi"}'], 'x.parquet'))).rejects.toThrow(/x\.parquet is not a Parquet file.*export it again/);
    const bytes = await parquetBytes([{ name: 'text', type: 'string' }], [{ text: 'a' }]);
    await expect(readDatasetFile(new File([bytes.subarray(0, bytes.length - 10)], 'cut.parquet'))).rejects.toThrow(/cut\.parquet is not a Parquet file, or it is cut short/);
    await expect(readDatasetFiles([new File([bytes], 'a.parquet'), new File(['{}'], 'b.jsonl')])).rejects.toThrow(/b\.jsonl is not a Parquet file: several files/);
  });

  test('a string that is not UTF-8 makes its row a bad row (never U+FFFD in the training text)', async () => {
    const { ByteWriter, ParquetWriter } = await import('hyparquet-writer');
    const writer = new ByteWriter();
    const w = new ParquetWriter({ writer, schema: [{ name: 'root', num_children: 1 }, { name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }] });
    const utf8 = (t: string) => new TextEncoder().encode(t);
    w.write({ columnData: [{ name: 'text', data: [utf8('good row'), Uint8Array.from([0x61, 0x62, 0xff, 0x63]), utf8('naïve café'), null] }], rowGroupSize: 2 });
    w.finish();
    const raw = await readDatasetFile(new File([writer.getBuffer()], 'bytes.parquet'));
    expect(raw.examples.map((e) => (e.kind === 'text' ? e.text : ''))).toEqual(['good row', 'naïve café']);
    expect(raw.badRows).toEqual([
      { line: 2, rowGroup: 0, reason: 'field "text" is not valid UTF-8 text (0xff, byte 3 of the value). Write the file again with its text as UTF-8' },
      { line: 4, rowGroup: 1, reason: 'field "text" must be a string, got null' },
    ]);
  });

  test('a corrupt row group is one bad row naming it; the other groups are read', async () => {
    const rows = Array.from({ length: 6 }, (_, i) => ({ text: `row number ${i} `.repeat(20) }));
    const bytes = await parquetBytes([{ name: 'text', type: 'string' }], rows, { codec: 'GZIP', rowGroupSize: 2 });
    const meta = parquetMetadata(bytes.buffer as ArrayBuffer);
    const col = meta.row_groups[1].columns[0].meta_data!;
    const start = Number(col.dictionary_page_offset ?? col.data_page_offset);
    const broken = bytes.slice();
    // overwrite the middle of the chunk's compressed bytes (past its page headers)
    const mid = start + Math.floor(Number(col.total_compressed_size) / 2);
    for (let i = mid; i < mid + 16; i++) broken[i] ^= 0xff;
    const raw = await readDatasetFile(new File([broken], 'broken.parquet'));
    expect(raw.badRows).toHaveLength(1);
    expect(raw.badRows[0]).toMatchObject({ line: 3, rowGroup: 1 });
    expect(raw.badRows[0].reason).toMatch(/^row group 1 \(rows 3-4\) cannot be decoded \(.+\); its 2 rows are not used$/);
    expect(raw.examples.map((e) => e.line)).toEqual([1, 2, 5, 6]);
  });
});
