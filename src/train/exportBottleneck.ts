// Bottleneck adapters' export: the AdapterHub adapters library's folder (adapter_config.json +
// adapter.safetensors, io/adaptersBottleneck.ts) from the parameters of a run's checkpoint or the
// adapter in memory. There is no merged model and no GGUF (export.ts: BOTTLENECK_NO_MERGE,
// BOTTLENECK_NO_GGUF): the non-linearity between the projections cannot be folded into a weight.
import { ADAPTERS_CONFIG_FILE, ADAPTERS_WEIGHTS_FILE, bottleneckModulePath, bottleneckTensorNames, writeAdaptersBottleneck, type BottleneckVariantName } from '../io/adaptersBottleneck';
import type { ModelConfig } from '../io/hfConfig';
import type { OutFile } from './export';

export interface BottleneckExportInput {
  config: ModelConfig;
  /** config.json's model_type (absent: derived from the architecture's class name) */
  modelType?: string;
  modelName: string;
  variant: BottleneckVariantName;
  reductionFactor: number;
  name: string;
  /** every trained tensor by its library name (trainableParams order or any order) */
  params: ReadonlyMap<string, ArrayLike<number>>;
}

/** The layers and locations a variant has, with the four tensors' names and shapes each. */
export function bottleneckExportTensors(i: BottleneckExportInput): { name: string; shape: number[] }[] {
  const C = i.config.hiddenSize;
  const r = Math.max(1, Math.floor(C / i.reductionFactor));
  const out: { name: string; shape: number[] }[] = [];
  for (let l = 0; l < i.config.numLayers; l++) {
    for (const loc of i.variant === 'houlsby' ? (['attention', 'output'] as const) : (['output'] as const)) {
      const n = bottleneckTensorNames(bottleneckModulePath(l, loc, i.name));
      out.push({ name: n.down, shape: [r, C] }, { name: n.downBias, shape: [r] }, { name: n.up, shape: [C, r] }, { name: n.upBias, shape: [C] });
    }
  }
  return out;
}

export function exportBottleneckFiles(i: BottleneckExportInput): OutFile[] {
  const tensors = bottleneckExportTensors(i).map(({ name, shape }) => {
    const v = i.params.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!v) throw new Error(`The bottleneck adapter has no tensor ${name}: the checkpoint does not match its ${i.variant} settings.`);
    if (v.length !== n) throw new Error(`${name} has ${v.length} values, expected [${shape.join(', ')}].`);
    return { name, shape, data: Float32Array.from(v) };
  });
  const modelClass = i.config.hfArchitecture;
  const modelType = i.modelType ?? modelClass.replace(/ForCausalLM$/, '').toLowerCase();
  const files = writeAdaptersBottleneck({ variant: i.variant, reductionFactor: i.reductionFactor, name: i.name, hiddenSize: i.config.hiddenSize, modelType, modelClass, modelName: i.modelName, tensors });
  return [
    { name: ADAPTERS_CONFIG_FILE, bytes: new TextEncoder().encode(files[ADAPTERS_CONFIG_FILE]), mime: 'application/json' },
    { name: ADAPTERS_WEIGHTS_FILE, bytes: files[ADAPTERS_WEIGHTS_FILE], mime: 'application/octet-stream' },
  ];
}
