// Bottleneck adapters in the AdapterHub `adapters` library's saved layout (model.save_adapter):
//   adapter_config.json   {"config": <the BnConfig as to_dict() writes it>, "hidden_size", "model_type",
//                          "model_name", "model_class", "name", "version"} (build_full_config)
//   adapter.safetensors   the adapter's state_dict entries (SAFE_WEIGHTS_NAME; with
//                          use_safetensors=False the library writes the same names to pytorch_adapter.bin)
// Tensor names for Llama-family models, from LlamaDecoderLayerMixin (attention_adapters /
// output_adapters = BottleneckLayer("mh_adapter" / "output_adapter")), BottleneckLayer.adapters
// (a ModuleDict by adapter name) and Adapter (adapter_down = Sequential(Linear, activation),
// adapter_up = Linear):
//   model.layers.N.{attention,output}_adapters.adapters.NAME.adapter_down.0.{weight,bias}   (r, C), (r)
//   model.layers.N.{attention,output}_adapters.adapters.NAME.adapter_up.{weight,bias}       (C, r), (C)
import { writeSafetensors } from './safetensors';

export type BottleneckVariantName = 'houlsby' | 'pfeiffer';
export type BottleneckLocationName = 'attention' | 'output';

export const ADAPTERS_CONFIG_FILE = 'adapter_config.json';
export const ADAPTERS_WEIGHTS_FILE = 'adapter.safetensors';
/** the adapters release whose layout this follows (written as the config's "version") */
export const ADAPTERS_VERSION = '1.1.0';

/** The library's BnConfig for each variant (SeqBnConfig "seq_bn" / DoubleSeqBnConfig "double_seq_bn"), every field as to_dict() writes it. */
export function bottleneckLibraryConfig(variant: BottleneckVariantName, reductionFactor: number): Record<string, unknown> {
  const houlsby = variant === 'houlsby';
  return {
    architecture: 'bottleneck',
    mh_adapter: houlsby,
    output_adapter: true,
    reduction_factor: reductionFactor,
    non_linearity: houlsby ? 'swish' : 'relu',
    original_ln_before: !houlsby,
    original_ln_after: true,
    ln_before: false,
    ln_after: false,
    init_weights: 'bert',
    is_parallel: false,
    scaling: 1.0,
    use_gating: false,
    residual_before_ln: true,
    adapter_residual_before_ln: false,
    inv_adapter: null,
    inv_adapter_reduction_factor: null,
    cross_adapter: false,
    leave_out: [],
    dropout: 0.0,
    phm_layer: false,
    phm_dim: 4,
    factorized_phm_W: true,
    shared_W_phm: false,
    shared_phm_rule: true,
    factorized_phm_rule: false,
    phm_c_init: 'normal',
    phm_init_range: 0.0001,
    learn_phm: true,
    hypercomplex_nonlinearity: 'glorot-uniform',
    phm_rank: 1,
    phm_bias: true,
    stochastic_depth: 0.0,
  };
}

/** The module path of one adapter, as the library's state_dict names it. */
export function bottleneckModulePath(layer: number, location: BottleneckLocationName, name: string): string {
  return `model.layers.${layer}.${location}_adapters.adapters.${name}`;
}

/** The four tensor names of a module (adapter_down is nn.Sequential(Linear, activation): its Linear is .0). */
export function bottleneckTensorNames(path: string): { down: string; downBias: string; up: string; upBias: string } {
  return { down: `${path}.adapter_down.0.weight`, downBias: `${path}.adapter_down.0.bias`, up: `${path}.adapter_up.weight`, upBias: `${path}.adapter_up.bias` };
}

export interface AdaptersBottleneckFiles {
  variant: BottleneckVariantName;
  reductionFactor: number;
  /** the adapter name (the library's adapter_name) */
  name: string;
  hiddenSize: number;
  /** config.json's model_type (llama, qwen2, ...) and architectures[0] */
  modelType: string;
  modelClass: string;
  modelName: string;
  /** every tensor by its library name, f32, in the order to write */
  tensors: { name: string; shape: number[]; data: Float32Array }[];
}

export function writeAdaptersBottleneck(o: AdaptersBottleneckFiles): { [ADAPTERS_CONFIG_FILE]: string; [ADAPTERS_WEIGHTS_FILE]: Uint8Array } {
  const config = {
    model_type: o.modelType,
    hidden_size: o.hiddenSize,
    model_name: o.modelName,
    name: o.name,
    model_class: o.modelClass,
    config: bottleneckLibraryConfig(o.variant, o.reductionFactor),
    version: `adapters.${ADAPTERS_VERSION}`,
  };
  return {
    [ADAPTERS_CONFIG_FILE]: JSON.stringify(config, null, 2),
    [ADAPTERS_WEIGHTS_FILE]: writeSafetensors(o.tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: t.data })), { format: 'pt' }),
  };
}
