// A GPU allocation that failed for lack of memory (reported by the allocator's out-of-memory error
// scopes), turned into a stop with a message that names the setting to lower. Which setting
// depends on where training was: while setting up what is trained (the adapter, its gradients and
// AdamW state) it is the size of the trained part; during a step it is the activations, which grow
// with batch size × sequence length.
import type { OutOfMemoryFailure } from '../gpu/allocator';
import { mib } from './memory';
import type { TrainConfig } from './config';

export type OutOfMemoryPhase = 'setup' | 'step';

export class GpuOutOfMemoryError extends Error {
  constructor(
    readonly failure: OutOfMemoryFailure,
    readonly phase: OutOfMemoryPhase,
    readonly step: number,
    config: TrainConfig,
  ) {
    super(outOfMemoryMessage(failure, phase, step, config));
    this.name = 'GpuOutOfMemoryError';
  }
}

/** What to lower, in words, with the current values. */
export function outOfMemoryAdvice(phase: OutOfMemoryPhase, config: TrainConfig): string {
  const method = config.method ?? 'lora';
  if (phase === 'setup') {
    if (method === 'full') return 'Switch the method to LoRA (full fine-tuning keeps 16 bytes of training state per parameter), or load a smaller model.';
    if (method === 'prompt') return `Lower the number of virtual tokens (now ${config.promptTuning?.numVirtualTokens ?? 20}).`;
    return `Lower the LoRA rank (now ${config.lora.rank}) or target fewer modules (now ${config.lora.targetModules.join(', ') || 'all linear layers'}).`;
  }
  const checkpointing = config.activationCheckpointing ? '' : ', or turn on activation checkpointing';
  return `Lower the batch size (now ${config.batchSize}) or the sequence length (now ${config.seqLen})${checkpointing}.`;
}

export function outOfMemoryMessage(f: OutOfMemoryFailure, phase: OutOfMemoryPhase, step: number, config: TrainConfig): string {
  const where = phase === 'setup' ? 'while setting up the trained weights' : `in training step ${step}`;
  return (
    `The GPU ran out of memory ${where}: it could not allocate “${f.label}” (${mib(f.size)}) with ${mib(f.liveBytes)} already in use. ` +
    `${outOfMemoryAdvice(phase, config)} The run was stopped and its GPU memory freed; checkpoints already saved are kept. ` +
    'Closing other GPU-heavy tabs or apps can also help.'
  );
}
