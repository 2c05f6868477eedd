// What the command-line tools share: strict argument parsing (an unknown or malformed flag is a
// usage error naming it), the exit codes, clean error messages, and one progress line per phase.
import { parseArgs } from 'node:util';

/** Exit codes of npm run finetune / generate (also in --help and the README). */
export const EXIT = {
  OK: 0,
  /** the run or an export it needed failed */
  FAILED: 1,
  /** bad arguments, or a model or dataset the engine refuses */
  USAGE: 2,
  /** the browser has no WebGPU adapter */
  NO_GPU: 3,
  /** stopped by Ctrl-C (the run is paused and can be resumed) */
  INTERRUPTED: 130,
};

export const EXIT_CODES_HELP =
  'exit codes: 0 done (warnings, such as an export that cannot be made, are printed); 1 the run failed;\n' +
  '  2 bad arguments, or a model or dataset that cannot be used; 3 no WebGPU adapter;\n' +
  '  130 interrupted with Ctrl-C (the run is paused: continue it with --resume ID)';

/** An error the user fixes on the command line or in the input files: exit code 2. */
export class UsageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UsageError';
    this.exitCode = EXIT.USAGE;
  }
}

/** `parseArgs` in strict mode, its errors turned into UsageErrors that name the flag. */
export function parseCli(options, argv = process.argv.slice(2)) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const m = /'(-[^']*)'/.exec(e.message ?? '');
    const flag = m ? m[1].split(' ')[0] : '';
    switch (e.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`unknown option ${flag}. Run with --help for the options.`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        throw new UsageError(`${flag} ${options[flag.replace(/^--/, '')]?.type === 'boolean' ? 'takes no value' : 'needs a value'}. Run with --help for the options.`);
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new UsageError(`unexpected argument ${JSON.stringify(e.message.match(/'([^']*)'/)?.[1] ?? '')}: every option is a --flag. Run with --help.`);
      default:
        throw new UsageError(e.message);
    }
  }
}

/** A number from a flag, or a UsageError naming the flag. */
export function numberFlag(values, name, { integer = false, min = -Infinity } = {}) {
  const raw = values[name];
  const v = Number(raw);
  if (raw === undefined || raw === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min) {
    const what = integer ? (min >= 0 ? `a whole number ≥ ${min}` : 'a whole number') : 'a number';
    throw new UsageError(`--${name} must be ${what}, got ${JSON.stringify(raw ?? '')}.`);
  }
  return v;
}

/** One of `choices`, or a UsageError listing them. */
export function choiceFlag(values, name, choices) {
  const v = values[name];
  if (!choices.includes(v)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(v ?? '')}.`);
  return v;
}

/**
 * An error's message as the user should see it: without Playwright's "page.evaluate: " prefix,
 * the error's class name ("Error: ", "TokenizerLoadError: ") it gains on its way through comlink, and the stack (one line).
 */
export function cleanMessage(e) {
  let m = e instanceof Error ? e.message : String(e);
  for (;;) {
    const next = m.replace(/^(page|frame|worker|locator|elementHandle|jsHandle)\.\w+: /, '').replace(/^([A-Z]\w*)?(Error|Exception): /, '');
    if (next === m) break;
    m = next;
  }
  return m.split('\n')[0].trim() || 'unknown error';
}

/** Prints the error (the stack only with --verbose) and sets the exit code from it. */
export function reportError(e, { verbose = false, progress, defaultCode = EXIT.FAILED } = {}) {
  progress?.end();
  process.stderr.write(`[whetstone] error: ${cleanMessage(e)}\n`);
  if (verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exitCode = e?.exitCode ?? defaultCode;
}

function formatSeconds(s) {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 5400) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * One line per phase. On a terminal the line is rewritten in place (\r) as the phase advances;
 * elsewhere (a pipe, a log file, CI) plain lines: when the phase starts, every tenth of the way
 * (at most one a second, and at least one every 10 s) and when it ends. Long phases show an ETA (given, or estimated from the rate so far).
 */
export class Progress {
  constructor(stream = process.stderr, { tty = !!stream.isTTY, now = () => Date.now() } = {}) {
    this.stream = stream;
    this.tty = tty;
    this.now = now;
    this.phase = null;
    // progress events cross two async hops (worker -> page -> Node) and may arrive after the call
    // that made them returned: a phase that ended stays ended
    this.ended = new Set();
  }

  /** `fraction` in [0, 1]; `eta` in seconds (omitted: estimated). */
  update(phase, fraction, text = '', eta) {
    const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
    const t = this.now();
    if (this.ended.has(phase)) return;
    if (this.phase !== phase) {
      this.end();
      this.phase = phase;
      this.started = t;
      this.printedAt = -Infinity;
      this.printedFraction = -1;
    }
    const elapsed = (t - this.started) / 1000;
    if (eta === undefined && f > 0.02 && f < 1 && elapsed > 2) eta = (elapsed / f) * (1 - f);
    const width = 24;
    const filled = Math.round(f * width);
    const etaText = f < 1 && eta !== undefined && Number.isFinite(eta) && elapsed + eta > 5 ? ` ETA ${formatSeconds(eta)}` : '';
    const line = `${phase} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}%${text ? ` ${text}` : ''}${etaText}`;
    this.last = line;
    if (this.tty) {
      const cols = this.stream.columns || 100;
      this.stream.write(`\r${line.length >= cols ? line.slice(0, cols - 1) : line.padEnd(cols - 1)}`);
      this.open = true;
      return;
    }
    // the start, the end, and between them every tenth of the way (at most one a second) or every 10 s
    const due = this.printedFraction < 0 || f >= 1 || (f - this.printedFraction >= 0.1 && t - this.printedAt >= 1000) || t - this.printedAt >= 10_000;
    if (due && !(f >= 1 && this.printedFraction >= 1)) {
      this.stream.write(`${line}\n`);
      this.printedAt = t;
      this.printedFraction = f;
    }
  }

  /** Ends the current phase's line. */
  end() {
    if (this.phase !== null) this.ended.add(this.phase);
    if (this.tty && this.open) this.stream.write('\n');
    this.open = false;
    this.phase = null;
  }

  /** Ends these phases (the current line too): their late events are dropped. */
  close(...phases) {
    this.end();
    for (const p of phases) this.ended.add(p);
  }

  /** A message on its own line (ends the progress line first). */
  log(message) {
    this.end();
    this.stream.write(`[whetstone] ${message}\n`);
  }
}
