// Job slice: the TrainConfig being edited, its validation issues and the memory estimate for it.
// The estimate comes from the worker (it knows the loaded model), debounced while the user types.
import { create } from 'zustand';
import { DEFAULT_CONFIG, LLAMA_ALL_LINEAR, LLAMA_ATTENTION, validateConfig, withPreset, type BottleneckSettings, type ConfigIssue, type PrefixTuningSettings, type PromptTuningSettings, type TrainConfig, type TrainMethod } from '../../train/config';
import type { MemoryEstimate } from '../../train/memory';
import type { ModelInfo } from '../../workers/api';
import { engine } from '../engineClient';
import { setBottleneck, setField as setConfigField, setPrefixTuning, setPromptTuning, type FieldKey, type PresetName } from '../lib/configEdit';
import { engineErrorMessage } from '../lib/errors';
import { forgetComparison } from './methodCompareStore';

/** "All linear" and "attention only" LoRA target sets of the loaded model (ModelInfo.loraTargets). */
export interface TargetSets {
  all: string[];
  attention: string[];
}

/** Before a model is loaded (and for a worker that does not report them): the Llama-family names. */
export const DEFAULT_TARGET_SETS: TargetSets = { all: LLAMA_ALL_LINEAR, attention: LLAMA_ATTENTION };

/** The target sets a model reports, as its architecture module names them. */
export function targetSetsOf(info: Pick<ModelInfo, 'loraTargets'>): TargetSets {
  return info.loraTargets ?? DEFAULT_TARGET_SETS;
}

export interface JobState {
  config: TrainConfig;
  issues: ConfigIssue[];
  /** which module names the loaded model uses (decides the target-module checkboxes) */
  targets: TargetSets;
  /** set when a model is loaded: the estimate needs one */
  modelLoaded: boolean;
  estimate: MemoryEstimate | null;
  estimateStatus: 'none' | 'pending' | 'ready' | 'error';
  estimateError: string | null;
}

export const useJobStore = create<JobState>(() => ({
  config: DEFAULT_CONFIG,
  issues: validateConfig(DEFAULT_CONFIG),
  targets: DEFAULT_TARGET_SETS,
  modelLoaded: false,
  estimate: null,
  estimateStatus: 'none',
  estimateError: null,
}));

const set = useJobStore.setState;
const get = useJobStore.getState;

function replaceConfig(config: TrainConfig): void {
  set({ config, issues: validateConfig(config) });
  scheduleEstimate();
}

export function setJobField(key: FieldKey, value: unknown): void {
  replaceConfig(setConfigField(get().config, key, value));
}

/**
 * What to train. Prompt and prefix tuning need packing off (the virtual tokens, or the prefix,
 * start every sequence once), so choosing either turns packing off; the field says why.
 */
export function setJobMethod(method: TrainMethod): void {
  const c = get().config;
  replaceConfig({ ...c, method, pack: method === 'prompt' || method === 'prefix' ? false : c.pack });
}

export function setJobPrefixTuning(patch: Partial<PrefixTuningSettings>): void {
  replaceConfig(setPrefixTuning(get().config, patch));
}

export function setJobPromptTuning(patch: Partial<PromptTuningSettings>): void {
  replaceConfig(setPromptTuning(get().config, patch));
}

export function setJobBottleneck(patch: Partial<BottleneckSettings>): void {
  replaceConfig(setBottleneck(get().config, patch));
}

export function applyPreset(name: PresetName): void {
  replaceConfig(withPreset(get().config, name));
}

export function resetJob(): void {
  replaceConfig({ ...DEFAULT_CONFIG, lora: { ...DEFAULT_CONFIG.lora, targetModules: get().targets.all } });
}

/** A new model: switch module names to its architecture's (keeping "all" vs "attention") and re-estimate. */
export function adaptJobToModel(info: ModelInfo): void {
  const now = targetSetsOf(info);
  const { config, targets: old } = get();
  let targets = config.lora.targetModules;
  const sameModules = old.all.length === now.all.length && old.all.every((t, i) => t === now.all[i]);
  if (!sameModules) {
    const wasAttention = targets.length === old.attention.length && targets.every((t) => old.attention.includes(t));
    targets = wasAttention ? now.attention : now.all;
  }
  set({ targets: now, modelLoaded: true });
  forgetComparison();
  replaceConfig({ ...config, lora: { ...config.lora, targetModules: targets } });
}

export function forgetModel(): void {
  forgetComparison();
  set({ modelLoaded: false, estimate: null, estimateStatus: 'none', estimateError: null });
}

let timer: ReturnType<typeof setTimeout> | null = null;
let estimateSeq = 0;
export const ESTIMATE_DEBOUNCE_MS = 300;

function scheduleEstimate(): void {
  if (timer) clearTimeout(timer);
  const { modelLoaded, issues } = get();
  if (!modelLoaded) return;
  // An invalid config has no meaningful estimate: keep the last one, marked as waiting.
  set({ estimateStatus: 'pending' });
  if (issues.length > 0) return;
  timer = setTimeout(() => void refreshEstimate(), ESTIMATE_DEBOUNCE_MS);
}

export async function refreshEstimate(): Promise<void> {
  timer = null;
  const seq = ++estimateSeq;
  const { config, modelLoaded } = get();
  if (!modelLoaded) return;
  try {
    const estimate = await engine().estimate(config);
    if (seq === estimateSeq) set({ estimate, estimateStatus: 'ready', estimateError: null });
  } catch (e) {
    if (seq === estimateSeq) set({ estimateStatus: 'error', estimateError: engineErrorMessage(e, 'estimate', 'estimate the memory this job needs') });
  }
}
