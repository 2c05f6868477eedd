// What an architecture module describes (one module per architecture under src/arch/, listed in
// registry.ts). The normalized ModelConfig and the checkpoint-format part of a module (ArchFormat)
// are declared in src/io/hfConfig.ts, below this layer, and re-exported here. Nothing outside
// src/arch tests an architecture's name: it asks the descriptor (archOf(config), or config.format).
import type { GpuContext } from '../gpu/device';
import type { Tensor } from '../gpu/tensor';
import type { Architecture, ArchFormat, ModelConfig } from '../io/hfConfig';
import type { TransformerBlocks } from '../model/blocks';

export { HfConfigError, type Architecture, type ArchFormat, type ExpectedTensor, type ModelConfig, type RopeScaling } from '../io/hfConfig';

export type Json = Record<string, unknown>;

/** What an architecture's parseConfig returns: everything but the two names the registry fills in. */
export type ParsedConfig = Omit<ModelConfig, 'architecture' | 'hfArchitecture' | 'format'>;

/** One saved tensor of a layer's forward, for the memory estimate: `perToken` f32 values per token. */
export interface ActivationEntry {
  name: string;
  perToken: number;
}

/**
 * One architecture module. The format part (ArchFormat: tensor names and shapes, Conv1D layout,
 * module names, PEFT and GGUF naming) is defined in src/io/hfConfig.ts, because the io readers and
 * writers use it: a parsed ModelConfig carries it as `format` (this same object).
 */
export interface ArchDescriptor extends ArchFormat {
  /** ModelConfig.architecture */
  id: Architecture;
  /** HF `architectures[0]` names this module accepts, e.g. ["LlamaForCausalLM"] */
  hfArchitectures: readonly string[];
  /** `model_type` values accepted when a config has no `architectures` list (the first HF name is used) */
  modelTypes: readonly string[];
  /** config.json key names of the sizes (error messages name the key the user can find) */
  configKeys: { layers: string; hidden: string; intermediate: string; heads: string; kvHeads: string; positions: string };
  /**
   * config.json -> every ModelConfig field but the names and the format; `explicitHeadDim` when
   * the config sets a head size of its own (then hidden need not divide by heads). Throw
   * HfConfigError (see ./parse.ts: fail, posInt, ...) for anything the module cannot run.
   */
  parseConfig(c: Json, file: string): { config: ParsedConfig; explicitHeadDim: boolean };
  /** LoRA target sets as TrainConfig.lora.targetModules spells them (PEFT suffixes) */
  loraTargets: { allLinear: readonly string[]; attention: readonly string[] };
  memory: {
    /** what one layer's forward keeps for its backward (per token), LoRA u excluded */
    layerActivations(c: ModelConfig): ActivationEntry[];
    /** shared per-step scratch (per token): gradient buffers, residual in/out, ids, final norm */
    scratch(c: ModelConfig): ActivationEntry[];
  };
  /** this architecture's transformer blocks on the GPU */
  createBlocks(ctx: GpuContext, c: ModelConfig, weights: Map<string, Tensor>): TransformerBlocks;
}
