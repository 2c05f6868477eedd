// Whether the loaded model is the base a run trained on: the same weights (the model fingerprint:
// config and tensor shapes, and a GGUF file's tensor types) at the same load-time precision (fp16,
// or quantized to int8 / int4 at load). A LoRA trained against int8-rounded weights continued on an
// fp16 base (or the reverse) would train on, and save, an adapter for a different function.
import type { RunRecord } from '../../train/checkpointStore';
import type { BaseQuantization } from '../../util/quant';
import type { ModelInfo } from '../api';

/** 'fp16' / 'int8' / 'int4', as the model step's Base weights choice and --quantize name them. */
export function precisionName(q: BaseQuantization | undefined): string {
  return !q || q === 'none' ? 'fp16 (not quantized at load)' : q;
}

/** The run's record of the base: name, architecture, fingerprint and precision (runs from before carry no precision: fp16). */
export function runModelRecord(info: ModelInfo): RunRecord['model'] {
  return { name: info.name, architecture: info.hfArchitecture, fingerprint: info.fingerprint, quantization: info.quantization ?? 'none' };
}

/** Throws, naming what differs and the fix, unless `info` is the run's base at the run's precision. */
export function checkRunBase(run: RunRecord, info: ModelInfo, action: string): void {
  if (run.model.fingerprint !== info.fingerprint) throw new Error(`This run was trained on ${run.model.name}; load that model to ${action}.`);
  const want = run.model.quantization ?? 'none';
  const have = info.quantization ?? 'none';
  if (want !== have) {
    const flag = want === 'none' ? '--quantize none (the default)' : `--quantize ${want}`;
    throw new Error(
      `This run was trained on ${run.model.name} with an ${precisionName(want)} base, but it is loaded now with an ${precisionName(have)} base: ` +
        `the adapter would continue on other weights. Load ${run.model.name} again with Base weights ${want === 'none' ? 'fp16' : want} in the model step (command line: ${flag}) to ${action}.`,
    );
  }
}
