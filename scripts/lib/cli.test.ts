// The command-line tools' shared pieces: strict flags, clean error messages, progress lines.
import { describe, expect, it } from 'vitest';
import { cleanMessage, EXIT, parseCli, Progress, UsageError } from './cli.mjs';

class FakeStream {
  out = '';
  columns = 60;
  constructor(readonly isTTY: boolean) {}
  write(s: string) {
    this.out += s;
    return true;
  }
}

describe('parseCli', () => {
  const options = { steps: { type: 'string' }, rslora: { type: 'boolean' } } as const;
  it('an unknown flag is a usage error (exit 2) that names it', () => {
    expect(() => parseCli(options, ['--stepz', '3'])).toThrow(UsageError);
    expect(() => parseCli(options, ['--stepz', '3'])).toThrow(/^unknown option --stepz\. Run with --help/);
    try {
      parseCli(options, ['--stepz']);
    } catch (e) {
      expect((e as UsageError).exitCode).toBe(EXIT.USAGE);
    }
  });
  it('a flag without its value, and a value for a switch', () => {
    expect(() => parseCli(options, ['--steps'])).toThrow(/^--steps needs a value/);
    expect(() => parseCli(options, ['--rslora=yes'])).toThrow(/^--rslora takes no value/);
    expect(() => parseCli(options, ['stray'])).toThrow(/^unexpected argument "stray"/);
    expect(parseCli(options, ['--steps', '4', '--rslora'])).toEqual({ steps: '4', rslora: true });
  });
});

describe('cleanMessage', () => {
  it("drops Playwright's page.evaluate prefix, the Error: name and the stack", () => {
    const e = new Error('page.evaluate: Error: The job settings need fixing: Learning rate must be between 0 and 1.\n    at Object.startTraining (engine.ts:1:1)\n    at async x');
    expect(cleanMessage(e)).toBe('The job settings need fixing: Learning rate must be between 0 and 1.');
    expect(cleanMessage(new Error('page.evaluate: TypeError: x is not a function'))).toBe('x is not a function');
    expect(cleanMessage('plain')).toBe('plain');
    expect(cleanMessage(new Error('page.evaluate: Error: Error: TokenizerLoadError: no tokenizer.json'))).toBe('no tokenizer.json');
  });
});

describe('Progress', () => {
  it('on a terminal: one line per phase, rewritten with \\r', () => {
    const s = new FakeStream(true);
    let t = 0;
    const p = new Progress(s as unknown as typeof process.stderr, { now: () => t });
    for (let i = 1; i <= 40; i++) {
      t += 100;
      p.update('load weights', i / 40, `tensor ${i}`);
    }
    p.close('load weights');
    p.update('load weights', 1, 'late event'); // dropped: the phase ended
    expect(s.out.split('\r').length - 1).toBe(40);
    expect(s.out.split('\n').length - 1).toBe(1);
    expect(s.out).not.toMatch(/late event/);
  });

  it('elsewhere: plain lines, a tenth of the way apart, and an ETA for a long phase', () => {
    const s = new FakeStream(false);
    let t = 0;
    const p = new Progress(s as unknown as typeof process.stderr, { now: () => t });
    for (let i = 1; i <= 400; i++) {
      t += 250; // 100 s in all
      p.update('train', i / 400, `step ${i}/400`);
    }
    p.end();
    const lines = s.out.trim().split('\n');
    expect(s.out).not.toMatch(/\r/);
    expect(lines.length).toBeGreaterThanOrEqual(10);
    expect(lines.length).toBeLessThanOrEqual(12);
    expect(lines[0]).toMatch(/^train \[\.+\]\s+0% step 1\/400$/);
    expect(lines[5]).toMatch(/ETA \d+s$/);
    expect(lines.at(-1)).toMatch(/^train \[#+\] 100% step 400\/400$/);
  });
});
