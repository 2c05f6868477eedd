// Text encodings of dataset files: UTF-8 with or without a byte-order mark and UTF-16 LE/BE with
// one decode to the same rows, for every file kind and wherever the stream's chunks are cut (inside
// the mark, a UTF-8 sequence, a UTF-16 code unit or a surrogate pair); bytes that are not text are
// a bad row with its line number, never rows of U+FFFD.
import { describe, expect, test } from 'vitest';
import { readDatasetFile } from './read';
import { readTextChunks, TextStreamDecoder } from './stream';
import { DatasetError } from './types';

type Named = Blob & { name: string };

/** A blob whose stream delivers `bytes` in chunks of the sizes `size(i)` gives. */
function chunked(name: string, bytes: Uint8Array, size: (i: number) => number): Named {
  return {
    name,
    size: bytes.length,
    stream: () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let at = 0, i = 0; at < bytes.length; i++) {
            const n = Math.max(1, size(i));
            c.enqueue(bytes.slice(at, at + n));
            at += n;
          }
          c.close();
        },
      }),
  } as unknown as Named;
}

const PATTERNS: [string, (i: number) => number][] = [
  ['one chunk', () => 1 << 30],
  ['1-byte chunks', () => 1],
  ['1..7-byte chunks', (i) => (i % 7) + 1],
  ['3-byte chunks', () => 3],
  ['5-byte chunks', () => 5],
];

function utf16(text: string, bigEndian: boolean): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(2 + text.length * 2);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xfeff, !bigEndian);
  for (let i = 0; i < text.length; i++) v.setUint16(2 + 2 * i, text.charCodeAt(i), !bigEndian);
  return out;
}

const ENCODINGS: [string, (t: string) => Uint8Array][] = [
  ['UTF-8', (t) => new TextEncoder().encode(t)],
  ['UTF-8 with BOM', (t) => new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(t)])],
  ['UTF-16 LE with BOM', (t) => utf16(t, false)],
  ['UTF-16 BE with BOM', (t) => utf16(t, true)],
];

// non-ASCII of every UTF-8 length, a surrogate pair (😀), and a U+FEFF inside the text (kept)
const S = ['héllo wörld', '中文 and 😀 smiles', 'zero\u200bwidth \ufeffmark', 'naïve — “quotes”'];
const FILES: Record<string, string> = {
  'd.jsonl': S.map((s, i) => JSON.stringify({ instruction: s, output: `answer ${i} 😀` })).join('\n') + '\n',
  'd.json': `[\n${S.map((s, i) => `  {"instruction": ${JSON.stringify(s)},\n   "output": "answer ${i} 😀"}`).join(',\n')}\n]\n`,
  'd.csv': `instruction,output\r\n${S.map((s, i) => `"${s}","answer ${i}\n😀"`).join('\r\n')}\r\n`,
  'd.txt': S.join('\n') + '\n',
};

describe('every encoding, every file kind, every chunk boundary', () => {
  for (const [fileName, text] of Object.entries(FILES)) {
    test(`${fileName}: the same rows as the UTF-8 text`, async () => {
      const expected = await readDatasetFile(new File([text], fileName));
      expect(expected.badRows).toEqual([]);
      expect(expected.examples.length).toBeGreaterThan(0);
      for (const [encoding, encode] of ENCODINGS) {
        for (const [pattern, size] of PATTERNS) {
          const raw = await readDatasetFile(chunked(fileName, encode(text), size));
          expect({ encoding, pattern, examples: raw.examples, badRows: raw.badRows, format: raw.format.name }).toEqual({
            encoding, pattern, examples: expected.examples, badRows: [], format: expected.format.name,
          });
        }
      }
    });
  }

  test('a UTF-16 file as the studio gets it (a File) is not read as UTF-8', async () => {
    const raw = await readDatasetFile(new File([utf16(FILES['d.jsonl'], false)], 'd.jsonl'));
    expect(raw.badRows).toEqual([]);
    expect(raw.examples[1]).toEqual({ kind: 'instruction', line: 2, instruction: S[1], output: 'answer 1 😀' });
  });

  test('the decoder joins text cut anywhere and drops only the leading mark', async () => {
    const text = '\ufeffstarts with a mark\n😀\n';
    for (const [encoding, encode] of ENCODINGS.slice(1)) {
      const bytes = encode(text);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const d = new TextStreamDecoder();
        const out = d.push(bytes.subarray(0, cut)) + d.push(bytes.subarray(cut)) + d.end();
        expect({ encoding, cut, out }).toEqual({ encoding, cut, out: text });
      }
    }
  });
});

const enc = new TextEncoder();
const bytesOf = (...parts: (string | number[])[]) => new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...enc.encode(p)] : p)));

describe('bytes that are not text are bad rows with their line', () => {
  const badJsonl = bytesOf('{"text": "one"}\n{"text": "two"}\n{"text": "bad ', [0xff, 0xfe], ' here"}\n{"text": "fóur"}\n');

  test('invalid UTF-8 in a JSONL row: that row only, wherever chunks are cut', async () => {
    for (const [pattern, size] of PATTERNS) {
      const raw = await readDatasetFile(chunked('x.jsonl', badJsonl, size));
      expect({ pattern, lines: raw.examples.map((e) => e.line) }).toEqual({ pattern, lines: [1, 2, 4] });
      expect(raw.badRows).toHaveLength(1);
      expect(raw.badRows[0].line).toBe(3);
      expect(raw.badRows[0].reason).toMatch(/^not valid UTF-8 text \(0xff, byte 15 of the line\)\. Save the file as UTF-8/);
    }
  });

  test("'stop' names the line", async () => {
    const err = await readDatasetFile(chunked('x.jsonl', badJsonl, () => 2), { onBadRow: 'stop' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).message).toMatch(/^Bad row at x\.jsonl, line 3: not valid UTF-8 text/);
  });

  test('a CSV record and a JSON element spanning lines are bad as a whole', async () => {
    const csv = bytesOf('instruction,output\nok,fine\n"two\nline', [0xc3, 0x28], '",x\nlast,row\n');
    const json = bytesOf('[\n{"instruction": "a", "output": "b"},\n{"instruction": "c",\n "output": "', [0xed, 0xa0, 0x80], '"},\n{"instruction": "e", "output": "f"}\n]\n');
    for (const [pattern, size] of PATTERNS) {
      const c = await readDatasetFile(chunked('x.csv', csv, size));
      expect({ pattern, lines: c.examples.map((e) => e.line), bad: c.badRows.map((b) => b.line) }).toEqual({ pattern, lines: [2, 5], bad: [3] });
      expect(c.badRows[0].reason).toMatch(/^its line 2 \(the record spans 2 lines\) is not valid UTF-8 text \(0xc3, byte 5 of the line\)/);
      const j = await readDatasetFile(chunked('x.json', json, size));
      expect({ pattern, lines: j.examples.map((e) => e.line), bad: j.badRows.map((b) => b.line) }).toEqual({ pattern, lines: [2, 5], bad: [3] });
      expect(j.badRows[0].reason).toMatch(/^its line 2 \(the record spans 2 lines\) is not valid UTF-8 text \(0xed, byte 13 of the line\)/);
    }
  });

  test('a text file leaves the bad line out of the training text', async () => {
    const txt = bytesOf('first line\nsecond ', [0x80], ' line\nthird line\n');
    for (const [pattern, size] of PATTERNS) {
      const raw = await readDatasetFile(chunked('x.txt', txt, size));
      expect({ pattern, text: raw.examples.map((e) => (e as { text: string }).text).join('') }).toEqual({ pattern, text: 'first line\nthird line\n' });
      expect(raw.badRows.map((b) => b.line)).toEqual([2]);
      expect(raw.badRows[0].reason).toMatch(/not valid UTF-8 text \(0x80, byte 8 of the line\)/);
      expect(raw.rowCount).toBe(3);
    }
  });

  test('a file that ends inside a character', async () => {
    const cut = bytesOf('{"text": "a"}\n{"text": "b"}\n{"text": "', [0xe2, 0x82]);
    const raw = await readDatasetFile(chunked('x.jsonl', cut, () => 1));
    expect(raw.examples.map((e) => e.line)).toEqual([1, 2]);
    expect(raw.badRows.map((b) => [b.line, b.reason.slice(0, 42)])).toEqual([[3, 'the file ends in the middle of a character']]);
    // UTF-16 with an odd number of bytes
    const odd = bytesOf([...utf16('{"text": "a"}\n{"text": "b"}\n', false)], [0x41]);
    const r16 = await readDatasetFile(chunked('x.jsonl', odd, () => 3));
    expect(r16.examples.map((e) => e.line)).toEqual([1, 2]);
    expect(r16.badRows.map((b) => b.line)).toEqual([3]);
    expect(r16.badRows[0].reason).toMatch(/^the file ends in the middle of a character \(the file has a UTF-16 LE byte-order mark\)/);
  });

  test('an unpaired surrogate in UTF-16', async () => {
    const text = '{"text": "a"}\n{"text": "X"}\n{"text": "c"}\n';
    const bytes = utf16(text, true);
    const at = 2 + 2 * text.indexOf('X');
    bytes[at] = 0xdc; // a low surrogate alone
    bytes[at + 1] = 0x00;
    for (const [pattern, size] of PATTERNS) {
      const raw = await readDatasetFile(chunked('x.jsonl', bytes, size));
      expect({ pattern, lines: raw.examples.map((e) => e.line), bad: raw.badRows.map((b) => b.line) }).toEqual({ pattern, lines: [1, 3], bad: [2] });
      expect(raw.badRows[0].reason).toMatch(/^not valid UTF-16 BE text \(an unpaired surrogate\)/);
    }
  });

  test('readTextChunks passes bad lines on with U+FFFD, once per line', async () => {
    const seen: [number, string][] = [];
    let out = '';
    for await (const c of readTextChunks(chunked('x', bytesOf('ok\nb', [0xff], 'd', [0xff], '\nok\n'), () => 1), { onBadLine: (l, r) => seen.push([l, r]) })) out += c;
    expect(out).toBe('ok\nb\ufffdd\ufffd\nok\n');
    expect(seen.map(([l]) => l)).toEqual([2]);
  });
});
