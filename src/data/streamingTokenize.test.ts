// The engine tokenizes rows as the reader streams them (DatasetTokenizer with readDatasetFile's
// onFormat/onExample, rows not kept). It must give exactly what reading everything first and then
// tokenizing gives, for every file kind, with bad rows from reading and from tokenizing, and it
// must stop at the first bad row (in file order) in 'stop' mode.

import { describe, expect, it } from 'vitest';
import { chatTemplateInfo, DatasetTokenizer, readDatasetFile, tokenizeDataset, type TokenizedDataset, type TokenizeOptions } from './index';
import { makeByteLevelChatmlTokenizer } from './testing/tokenizers';

const t = makeByteLevelChatmlTokenizer();
const info = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);

async function streamed(file: File, opts: TokenizeOptions): Promise<{ ds: TokenizedDataset; kept: number }> {
  let tok: DatasetTokenizer | null = null;
  const raw = await readDatasetFile(file, {
    keepRows: false,
    onBadRow: opts.onBadRow === 'stop' ? 'stop' : 'collect',
    onFormat: (f) => (tok = new DatasetTokenizer(t.tokenizer, info, f, file.name, opts)),
    onExample: (ex) => tok!.add(ex),
  });
  return { ds: (tok as unknown as DatasetTokenizer).finish(raw), kept: raw.examples.length };
}

async function batch(file: File, opts: TokenizeOptions): Promise<TokenizedDataset> {
  return tokenizeDataset(await readDatasetFile(file), t.tokenizer, info, opts);
}

const chat = (u: string, a: string) => JSON.stringify({ messages: [{ role: 'user', content: u }, { role: 'assistant', content: a }] });
const long = 'word '.repeat(200);

const FILES: [string, () => File][] = [
  [
    'chat JSONL with an unparsable line, a row with control-token text and a prompt too long to train on',
    () => new File([[chat('Hello', 'Hi Bob'), '{not json', chat('a <|im_end|> b', 'c'), chat(long, 'x'), chat('moon?', 'The moon is far.')].join('\n')], 'chat.jsonl'),
  ],
  [
    'alpaca JSON array with a truncated row',
    () =>
      new File(
        [JSON.stringify([{ instruction: 'Say hi', output: 'Hi' }, { instruction: 'Count', input: 'one two', output: long }, { instruction: 'Bye', output: 'Bye!' }])],
        'alpaca.json',
      ),
  ],
  ['CSV question/answer with an empty answer', () => new File(['question,answer\nWhat is 2+2?,4\nEmpty?,\nWhy?,Because.\n'], 'qa.csv')],
  ['plain text longer than one block, with a control-token line', () => new File([`${long}\nOnce upon a time.\n<|im_start|> oops\n${long}`], 'story.txt')],
  ['JSONL text rows, one split into blocks', () => new File([[JSON.stringify({ text: 'short one' }), JSON.stringify({ text: long })].join('\n')], 'text.jsonl')],
];

describe('streamed tokenization equals read-then-tokenize', () => {
  it.each(FILES)('%s', async (_, make) => {
    const opts: TokenizeOptions = { maxSeqLen: 48, onBadRow: 'skip' };
    const a = await streamed(make(), opts);
    const b = await batch(make(), opts);
    expect(a.kept).toBe(0);
    expect(Array.from(a.ds.tokens)).toEqual(Array.from(b.tokens));
    expect(Array.from(a.ds.trained)).toEqual(Array.from(b.trained));
    expect(Array.from(a.ds.offsets)).toEqual(Array.from(b.offsets));
    expect(Array.from(a.ds.lines)).toEqual(Array.from(b.lines));
    expect(a.ds.badRows).toEqual(b.badRows);
    expect(a.ds.stats).toEqual(b.stats);
    expect(a.ds.format).toEqual(b.format);
  });

  it('the files above do exercise bad, truncated and split rows', async () => {
    const [chatDs, alpacaDs, csvDs, txtDs, textDs] = await Promise.all(FILES.map(([, make]) => batch(make(), { maxSeqLen: 48, onBadRow: 'skip' })));
    expect(chatDs.badRows.map((r) => r.line)).toEqual([2, 3, 4]);
    expect(alpacaDs.stats.truncatedRows).toBe(1);
    expect(csvDs.badRows.length).toBe(1);
    expect(txtDs.badRows.length).toBe(1);
    expect(txtDs.stats.examples).toBeGreaterThan(2);
    expect(textDs.stats.splitRows).toBe(1);
  });

  it("'stop' stops at the first bad row in file order, from reading or from tokenizing", async () => {
    const tokenizingFirst = new File([[chat('Hello', 'Hi'), chat('a <|im_end|> b', 'c'), '{not json'].join('\n')], 'a.jsonl');
    await expect(streamed(tokenizingFirst, { maxSeqLen: 48, onBadRow: 'stop' })).rejects.toThrow(/line 2/);
    const readingFirst = new File([[chat('Hello', 'Hi'), '{not json', chat('a <|im_end|> b', 'c')].join('\n')], 'b.jsonl');
    await expect(streamed(readingFirst, { maxSeqLen: 48, onBadRow: 'stop' })).rejects.toThrow(/line 2/);
  });
});
