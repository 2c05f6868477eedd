// Playground slice: the prompt, sampling settings, and the base and adapter answers as they
// stream in token by token (the worker calls onToken through a comlink proxy).
import { create } from 'zustand';
import type { SamplingOptions } from '../../workers/api';
import { engine, proxy } from '../engineClient';
import { engineErrorMessage } from '../lib/errors';

export type Side = 'base' | 'adapter';

export interface Answer {
  text: string;
  tokens: number;
  status: 'idle' | 'waiting' | 'streaming' | 'done' | 'error';
  error: string | null;
  seconds: number | null;
}

export interface PlaygroundState {
  mode: 'prompt' | 'chat';
  prompt: string;
  sampling: SamplingOptions;
  /** generate with the base model as well as with the adapter, side by side */
  compare: boolean;
  base: Answer;
  adapter: Answer;
  busy: boolean;
}

export const DEFAULT_SAMPLING: SamplingOptions = { maxTokens: 128, temperature: 0.8, topK: 40, topP: 0.95, seed: 1, greedy: false };
const EMPTY: Answer = { text: '', tokens: 0, status: 'idle', error: null, seconds: null };

export const usePlaygroundStore = create<PlaygroundState>(() => ({
  mode: 'prompt',
  prompt: 'Once upon a time',
  sampling: DEFAULT_SAMPLING,
  compare: true,
  base: EMPTY,
  adapter: EMPTY,
  busy: false,
}));

const set = usePlaygroundStore.setState;
const get = usePlaygroundStore.getState;

export function setPrompt(prompt: string): void {
  set({ prompt });
}

export function setMode(mode: PlaygroundState['mode']): void {
  set({ mode });
}

export function setCompare(compare: boolean): void {
  set({ compare });
}

export function setSampling<K extends keyof SamplingOptions>(key: K, value: SamplingOptions[K]): void {
  set({ sampling: { ...get().sampling, [key]: value } });
}

export function samplingProblems(s: SamplingOptions): Partial<Record<keyof SamplingOptions, string>> {
  const p: Partial<Record<keyof SamplingOptions, string>> = {};
  if (!Number.isInteger(s.maxTokens) || s.maxTokens < 1 || s.maxTokens > 4096) p.maxTokens = 'Max tokens must be a whole number from 1 to 4096.';
  if (!(s.temperature > 0) || s.temperature > 5) p.temperature = 'Temperature must be above 0 and at most 5 (or tick greedy).';
  if (!Number.isInteger(s.topK) || s.topK < 0) p.topK = 'Top-k must be a whole number ≥ 0 (0 = off).';
  if (!(s.topP > 0 && s.topP <= 1)) p.topP = 'Top-p must be above 0 and at most 1.';
  if (!Number.isInteger(s.seed) || s.seed < 0) p.seed = 'Seed must be a whole number ≥ 0.';
  return p;
}

function patch(side: Side, a: Partial<Answer>): void {
  set({ [side]: { ...get()[side], ...a } } as Pick<PlaygroundState, Side>);
}

async function generateOne(side: Side): Promise<void> {
  const { prompt, mode, sampling } = get();
  const t0 = performance.now();
  let finished = false;
  patch(side, { status: 'waiting', text: '', tokens: 0, error: null, seconds: null });
  try {
    const text = await engine().generate(
      { prompt, chat: mode === 'chat', useAdapter: side === 'adapter', sampling },
      proxy({
        onToken(textSoFar: string, tokenCount: number) {
          // Tokens come through the callback's own MessagePort: the last may arrive after the
          // call's answer, and must not turn a finished answer back into a streaming one.
          if (!finished) patch(side, { status: 'streaming', text: textSoFar, tokens: tokenCount });
          else if (tokenCount > get()[side].tokens) patch(side, { tokens: tokenCount });
        },
      }),
    );
    finished = true;
    patch(side, { status: 'done', text, seconds: (performance.now() - t0) / 1000 });
  } catch (e) {
    finished = true;
    patch(side, { status: 'error', error: engineErrorMessage(e, 'generate', side === 'base' ? 'generate with the base model' : 'generate with the adapter') });
  }
}

/** One GPU, one queue: the base answer first, then the adapter's, so both stream visibly. */
export async function generate(withAdapter: boolean): Promise<void> {
  if (get().busy) return;
  set({ busy: true, base: EMPTY, adapter: EMPTY });
  try {
    if (!withAdapter || get().compare) await generateOne('base');
    if (withAdapter) await generateOne('adapter');
  } finally {
    set({ busy: false });
  }
}
