// Generation: a prompt (or a chat turn) through the base model or with what was trained, streamed
// back token by token.
import type { ChatTemplateInfo } from '../../data';
import { generateIds } from '../../model/generate';
import { generateWithPrompt } from '../../model/promptTuning';
import { generateWithPrefix } from '../../model/prefixTuning';
import { StreamingDecoder } from '../../model/tokenizer';
import { guardGpuWork, unwrapGuarded } from '../../gpu/guard';
import { mib } from '../../train/memory';
import type { GenerateEvents, GenerateRequest } from '../api';
import { requireModel, type EngineCore } from './core';
import { restoreBaseWeights, applyFineTunedWeights } from './trained';

function chatPrompt(prompt: string, template: ChatTemplateInfo): string {
  if (!template.chatTemplate) return `### Instruction:\n${prompt}\n\n### Response:\n`;
  return prompt;
}

export async function generate(core: EngineCore, req: GenerateRequest, events?: GenerateEvents): Promise<string> {
  await core.gpu.ready();
  const { model, tokenizer, template } = requireModel(core);
  const text = req.chat ? chatPrompt(req.prompt, template) : req.prompt;
  const promptIds = Array.from(tokenizer.encode(text).ids);
  const eos = [model.config.eosTokenId, ...model.config.eosTokenIds, template.eosId].filter((x): x is number => typeof x === 'number');
  const dec = new StreamingDecoder(tokenizer);
  const trained = core.trained;
  if (req.useAdapter && trained.kind === 'none') throw new Error('There is no adapter yet: train one or import one first.');
  // full fine-tuning: the model's tensors must hold the base or the fine-tuned weights as asked
  if (!req.useAdapter) await restoreBaseWeights(core);
  if (req.useAdapter && trained.kind === 'full') await applyFineTunedWeights(core, trained.finetune);
  const opts = {
    ...req.sampling,
    eosIds: eos,
    run:
      req.useAdapter && trained.kind === 'lora'
        ? { adapter: trained.adapter, seed: 0, training: false }
        : req.useAdapter && trained.kind === 'ia3'
          ? { ia3: trained.ia3, seed: 0, training: false }
          : req.useAdapter && trained.kind === 'bottleneck'
            ? { bottleneck: trained.bottleneck, seed: 0, training: false }
            : null,
    onToken: (out: number[]) => {
      dec.push(out);
      events?.onToken(dec.text, out.length);
    },
  };
  const outcome = await guardGpuWork(core.gpu.require(), () =>
    req.useAdapter && trained.kind === 'prompt'
      ? generateWithPrompt(model, trained.tuning, promptIds, opts)
      : req.useAdapter && trained.kind === 'prefix'
        ? generateWithPrefix(model, trained.prefix, promptIds, opts)
        : generateIds(model, promptIds, opts),
  );
  const ids = unwrapGuarded(outcome, 'while generating', (f) => {
    // the KV cache and the decode buffers were the last to be allocated: give them back (the
    // workspace is shared with a run that may be training)
    if (!core.training) model.ws.release();
    return new Error(
      `The GPU ran out of memory while generating: “${f.label}” (${mib(f.size)}) could not be allocated with ${mib(f.liveBytes)} already in use. ` +
        `Lower Max new tokens (now ${req.sampling.maxTokens}) or shorten the prompt (${promptIds.length} tokens), or pause the training run that is using the GPU.`,
    );
  });
  return ids.length ? tokenizer.decode(ids, { skip_special_tokens: true }) : '';
}
