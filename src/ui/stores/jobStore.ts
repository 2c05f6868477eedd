// Job slice: the TrainConfig being edited, its validation issues and the memory estimate for it.
// The estimate comes from the worker (it knows the loaded model), debounced while the user types.
import { create } from 'zustand';
import { archOf } from '../../arch/registry';
import { DEFAULT_CONFIG, validateConfig, withPreset, type ConfigIssue, type PromptTuningSettings, type TrainConfig, type TrainMethod } from '../../train/config';
import type { MemoryEstimate } from '../../train/memory';
import type { ModelInfo } from '../../workers/api';
import { engine } from '../engineClient';
import { setField as setConfigField, setPromptTuning, type FieldKey, type PresetName } from '../lib/configEdit';
import { engineErrorMessage } from '../lib/errors';

/** The loaded model's architecture id (ModelInfo.architecture): its module names the LoRA targets. */
export type ModuleFamily = string;

/** "All linear" and "attention only" target sets of an architecture, from its module. */
export function targetSets(family: ModuleFamily): { all: string[]; attention: string[] } {
  const t = archOf(family).loraTargets;
  return { all: [...t.allLinear], attention: [...t.attention] };
}

export interface JobState {
  config: TrainConfig;
  issues: ConfigIssue[];
  /** which module names the loaded model uses (decides the target-module checkboxes) */
  family: ModuleFamily;
  /** set when a model is loaded: the estimate needs one */
  modelLoaded: boolean;
  estimate: MemoryEstimate | null;
  estimateStatus: 'none' | 'pending' | 'ready' | 'error';
  estimateError: string | null;
}

export const useJobStore = create<JobState>(() => ({
  config: DEFAULT_CONFIG,
  issues: validateConfig(DEFAULT_CONFIG),
  family: 'llama',
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
 * What to train. Prompt tuning needs packing off (the virtual tokens start every sequence), so
 * choosing it turns packing off; the field says why.
 */
export function setJobMethod(method: TrainMethod): void {
  const c = get().config;
  replaceConfig({ ...c, method, pack: method === 'prompt' ? false : c.pack });
}

export function setJobPromptTuning(patch: Partial<PromptTuningSettings>): void {
  replaceConfig(setPromptTuning(get().config, patch));
}

export function applyPreset(name: PresetName): void {
  replaceConfig(withPreset(get().config, name));
}

export function resetJob(): void {
  const family = get().family;
  replaceConfig({ ...DEFAULT_CONFIG, lora: { ...DEFAULT_CONFIG.lora, targetModules: targetSets(family).all } });
}

export function familyOf(info: Pick<ModelInfo, 'architecture'>): ModuleFamily {
  return info.architecture;
}

/** A new model: switch module names to its family (keeping "all" vs "attention") and re-estimate. */
export function adaptJobToModel(info: ModelInfo): void {
  const family = familyOf(info);
  const { config, family: before } = get();
  let targets = config.lora.targetModules;
  if (family !== before) {
    const old = targetSets(before);
    const now = targetSets(family);
    const sameModules = old.all.length === now.all.length && old.all.every((t, i) => t === now.all[i]);
    const wasAttention = targets.length === old.attention.length && targets.every((t) => old.attention.includes(t));
    if (!sameModules) targets = wasAttention ? now.attention : now.all;
  }
  set({ family, modelLoaded: true });
  replaceConfig({ ...config, lora: { ...config.lora, targetModules: targets } });
}

export function forgetModel(): void {
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
