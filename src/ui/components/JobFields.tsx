import { useState } from 'react';
import { bottleneckOf, HELP, prefixTuningOf, promptTuningOf, typicalLearningRate, type BottleneckSettings, type LrSchedule, type TrainMethod } from '../../train/config';
import { getField, issuesByField, type FieldKey } from '../lib/configEdit';
import { parseNumberInput } from '../lib/parseNumber';
import { setJobBottleneck, setJobField, setJobMethod, setJobPrefixTuning, setJobPromptTuning, useJobStore, type TargetSets } from '../stores/jobStore';
import { CheckboxField, NumberField, RadioGroup, SelectField, TextField } from './Field';
import { MethodComparison } from './MethodComparison';

// Settings config.ts has no help line for (the optimizer's internals).
const EXTRA_HELP: Partial<Record<FieldKey, string>> = {
  beta1: 'AdamW’s decay of the running mean of gradients. 0.9 almost always.',
  beta2: 'AdamW’s decay of the running mean of squared gradients. 0.999 usually; 0.99–0.995 for short runs.',
  eps: 'Added to the denominator of AdamW for numerical safety. Leave at 1e-8.',
};

type Kind = 'int' | 'float' | 'bool';
interface Spec {
  key: FieldKey;
  label: string;
  kind: Kind;
}

const GROUPS: { legend: string; advanced?: boolean; only?: TrainMethod; fields: Spec[] }[] = [
  {
    legend: 'LoRA adapter',
    only: 'lora',
    fields: [
      { key: 'rank', label: 'Rank (r)', kind: 'int' },
      { key: 'alpha', label: 'Alpha', kind: 'float' },
      { key: 'dropout', label: 'LoRA dropout', kind: 'float' },
      { key: 'useRslora', label: 'Rank-stabilised LoRA (rsLoRA)', kind: 'bool' },
      { key: 'useDora', label: 'DoRA (weight-decomposed LoRA)', kind: 'bool' },
      { key: 'useLoraPlus', label: 'LoRA+ (larger learning rate for B)', kind: 'bool' },
      { key: 'loraPlusRatio', label: 'LoRA+ ratio (B’s lr / lr)', kind: 'float' },
    ],
  },
  {
    legend: 'Learning rate',
    fields: [
      { key: 'learningRate', label: 'Learning rate', kind: 'float' },
      { key: 'warmupSteps', label: 'Warm-up steps', kind: 'int' },
    ],
  },
  {
    legend: 'Length of the run',
    fields: [
      { key: 'maxSteps', label: 'Max steps', kind: 'int' },
      { key: 'epochs', label: 'Epochs', kind: 'int' },
      { key: 'evalEvery', label: 'Evaluate every (steps)', kind: 'int' },
      { key: 'checkpointEvery', label: 'Checkpoint every (steps)', kind: 'int' },
      { key: 'validationFraction', label: 'Validation fraction', kind: 'float' },
    ],
  },
  {
    legend: 'Batches and memory',
    fields: [
      { key: 'batchSize', label: 'Batch size', kind: 'int' },
      { key: 'gradAccumulation', label: 'Gradient accumulation', kind: 'int' },
      { key: 'seqLen', label: 'Sequence length', kind: 'int' },
      { key: 'pack', label: 'Pack short examples together', kind: 'bool' },
      { key: 'activationCheckpointing', label: 'Activation checkpointing', kind: 'bool' },
    ],
  },
  {
    legend: 'Optimizer (AdamW) and reproducibility',
    advanced: true,
    fields: [
      { key: 'weightDecay', label: 'Weight decay', kind: 'float' },
      { key: 'beta1', label: 'Beta 1', kind: 'float' },
      { key: 'beta2', label: 'Beta 2', kind: 'float' },
      { key: 'eps', label: 'Epsilon', kind: 'float' },
      { key: 'maxGradNorm', label: 'Max gradient norm', kind: 'float' },
      { key: 'labelSmoothing', label: 'Label smoothing', kind: 'float' },
      { key: 'seed', label: 'Seed', kind: 'int' },
    ],
  },
];

function help(key: FieldKey): string | undefined {
  return HELP[key] ?? EXTRA_HELP[key];
}

export function JobFields() {
  const config = useJobStore((s) => s.config);
  const issues = useJobStore((s) => s.issues);
  const targets = useJobStore((s) => s.targets);
  const byField = issuesByField(issues);

  const method = config.method ?? 'lora';
  const field = (f: Spec) =>
    f.kind === 'bool' ? (
      <CheckboxField key={f.key} label={f.label} help={help(f.key)} error={byField[f.key]} checked={getField(config, f.key) as boolean} onChange={(v) => setJobField(f.key, v)} />
    ) : (
      <NumberField key={f.key} label={f.label} help={help(f.key)} error={byField[f.key]} integer={f.kind === 'int'} value={getField(config, f.key) as number} onChange={(v) => setJobField(f.key, v)} />
    );

  return (
    <div className="job-fields">
      <fieldset className="group method">
        <legend>What to train</legend>
        <RadioGroup<TrainMethod>
          legend="Method"
          value={method}
          onChange={setJobMethod}
          help={HELP.method}
          options={[
            { value: 'lora', label: 'LoRA adapter (recommended)' },
            { value: 'prompt', label: 'Prompt tuning (smallest)' },
            { value: 'full', label: 'Full fine-tuning (every weight)' },
            { value: 'ia3', label: '(IA)³ scaling vectors (tiniest adapter)' },
            { value: 'bottleneck', label: 'Bottleneck adapters (Houlsby / Pfeiffer)' },
            { value: 'prefix', label: 'Prefix tuning (trained keys/values in every layer)' },
          ]}
        />
        {method === 'ia3' && <p className="hint method-hint">{HELP.ia3}</p>}
        {method === 'bottleneck' && <BottleneckFields byField={byField} />}
        {method === 'prefix' && <PrefixFields byField={byField} />}
        {byField.method && <span className="field-error">{byField.method}</span>}
        <TypicalLearningRate method={method} lr={config.learningRate} typical={typicalLearningRate(config)} />
        {method === 'prompt' && <PromptTuningFields byField={byField} />}
      </fieldset>
      {GROUPS.filter((g) => !g.only || g.only === method).map((g) => {
        const body = (
          <div className="field-grid">
            {g.fields.map(field)}
            {g.legend === 'Batches and memory' && <BudgetField value={config.deviceBudgetBytes} error={byField.deviceBudgetBytes} />}
            {g.legend === 'LoRA adapter' && <TargetModules sets={targets} selected={config.lora.targetModules} error={byField.targetModules} />}
            {g.legend === 'Learning rate' && (
              <SelectField<LrSchedule>
                label="Schedule"
                help={HELP.schedule}
                value={config.schedule}
                onChange={(v) => setJobField('schedule', v)}
                options={[
                  { value: 'cosine', label: 'Cosine decay' },
                  { value: 'linear', label: 'Linear decay' },
                  { value: 'constant', label: 'Constant' },
                ]}
              />
            )}
          </div>
        );
        if (g.advanced) {
          const hasIssue = g.fields.some((f) => byField[f.key]);
          return (
            <details key={g.legend} className="group" open={hasIssue || undefined}>
              <summary>{g.legend}</summary>
              {body}
            </details>
          );
        }
        return (
          <fieldset key={g.legend} className="group">
            <legend>{g.legend}</legend>
            {body}
          </fieldset>
        );
      })}
      <MethodComparison />
    </div>
  );
}

function PromptTuningFields({ byField }: { byField: Partial<Record<string, string>> }) {
  const stored = useJobStore((s) => s.config.promptTuning);
  const p = promptTuningOf({ promptTuning: stored });
  return (
    <div className="field-grid">
      <NumberField label="Virtual tokens" integer help={HELP.numVirtualTokens} error={byField.numVirtualTokens} value={p.numVirtualTokens} onChange={(v) => setJobPromptTuning({ numVirtualTokens: v })} />
      <SelectField<'random' | 'text'>
        label="Start the virtual tokens from"
        help={HELP.promptInit}
        error={byField.promptInit}
        value={p.init}
        onChange={(v) => setJobPromptTuning({ init: v })}
        options={[
          { value: 'random', label: 'Random values' },
          { value: 'text', label: 'A text describing the task' },
        ]}
      />
      {p.init === 'text' && (
        <div className="wide">
          <TextField label="Init text" help={HELP.initText} error={byField.initText} value={p.initText ?? ''} placeholder="Answer questions about Bob the robot." onChange={(v) => setJobPromptTuning({ initText: v })} />
        </div>
      )}
      <p className="help wide">Packing is off for prompt tuning: the virtual tokens start every sequence.</p>
    </div>
  );
}

const METHOD_NAME: Record<TrainMethod, string> = { lora: 'LoRA', prompt: 'Prompt tuning', full: 'Full fine-tuning', ia3: '(IA)³', bottleneck: 'Bottleneck adapters', prefix: 'Prefix tuning' };

/** The method's usual learning rate when the job's is far from it (a factor of 3), with a button to take it. */
function TypicalLearningRate({ method, lr, typical }: { method: TrainMethod; lr: number; typical: number }) {
  if (!(lr > 0) || (lr / typical < 3 && typical / lr < 3)) return null;
  return (
    <p className="hint" data-testid="typical-lr">
      {METHOD_NAME[method]} usually {method === 'bottleneck' ? 'train' : 'trains'} with a learning rate near {typical.toExponential(0)} (this job has {lr.toExponential(0)}).{' '}
      <button type="button" className="link" onClick={() => setJobField('learningRate', typical)}>
        Use {typical.toExponential(0)}
      </button>
    </p>
  );
}

function PrefixFields({ byField }: { byField: Partial<Record<string, string>> }) {
  const stored = useJobStore((s) => s.config.prefixTuning);
  const p = prefixTuningOf({ prefixTuning: stored });
  return (
    <div className="field-grid">
      <p className="hint method-hint wide">{HELP.prefix}</p>
      <NumberField label="Prefix positions" integer help={HELP.prefixVirtualTokens} error={byField.prefixVirtualTokens} value={p.numVirtualTokens} onChange={(v) => setJobPrefixTuning({ numVirtualTokens: v })} />
      <CheckboxField
        label="Train through an MLP (PEFT prefix_projection)"
        help={HELP.prefixProjection}
        checked={!!p.projection}
        onChange={(on) => setJobPrefixTuning(on ? { projection: true, init: 'random' } : { projection: false })}
      />
      {p.projection ? (
        <TextField
          label="MLP hidden size (optional)"
          help={HELP.prefixHidden}
          error={byField.prefixHidden}
          value={p.encoderHiddenSize === undefined ? '' : String(p.encoderHiddenSize)}
          placeholder="the key/value width"
          onChange={(v) => setJobPrefixTuning({ encoderHiddenSize: v.trim() === '' ? undefined : parseNumberInput(v) })}
        />
      ) : (
        <SelectField<'text' | 'random'>
          label="Start the prefix from"
          help={HELP.prefixInit}
          error={byField.prefixInit}
          value={p.init ?? 'text'}
          onChange={(v) => setJobPrefixTuning({ init: v })}
          options={[
            { value: 'text', label: 'Keys/values of a text (recommended)' },
            { value: 'random', label: 'Random values (PEFT’s default)' },
          ]}
        />
      )}
      {!p.projection && p.init !== 'random' && (
        <div className="wide">
          <TextField label="Prefix text" help={HELP.prefixInitText} error={byField.prefixInitText} value={p.initText ?? ''} onChange={(v) => setJobPrefixTuning({ initText: v })} />
        </div>
      )}
      <p className="help wide">Packing is off for prefix tuning: each example gets the prefix once, at its start.</p>
    </div>
  );
}

function BottleneckFields({ byField }: { byField: Partial<Record<string, string>> }) {
  const stored = useJobStore((s) => s.config.bottleneck);
  const b = bottleneckOf({ bottleneck: stored });
  return (
    <div className="field-grid">
      <p className="hint method-hint wide">{HELP.bottleneck}</p>
      <SelectField<BottleneckSettings['variant']>
        label="Adapter placement"
        help={HELP.bottleneckVariant}
        error={byField.bottleneckVariant}
        value={b.variant}
        onChange={(v) => setJobBottleneck({ variant: v })}
        options={[
          { value: 'pfeiffer', label: 'Pfeiffer: after each MLP' },
          { value: 'houlsby', label: 'Houlsby: after attention and after each MLP' },
        ]}
      />
      <NumberField label="Reduction factor" help={HELP.reductionFactor} error={byField.reductionFactor} value={b.reductionFactor} onChange={(v) => setJobBottleneck({ reductionFactor: v })} />
    </div>
  );
}

const GIB = 2 ** 30;

/** The memory budget in GiB; empty leaves it to the engine (its default applies to full fine-tuning). */
function BudgetField({ value, error }: { value: number | undefined; error?: string }) {
  const [text, setText] = useState(value === undefined ? '' : String(+(value / GIB).toFixed(3)));
  const [shown, setShown] = useState(value);
  if (!Object.is(value, shown)) {
    // Reset or a preset changed it from outside.
    setShown(value);
    setText(value === undefined ? '' : String(+(value / GIB).toFixed(3)));
  }
  const own = text.trim() !== '' && !(parseNumberInput(text) > 0) ? 'Enter a size in GiB above 0, or leave it empty for the default.' : undefined;
  return (
    <TextField
      label="GPU memory budget (GiB, optional)"
      help={HELP.deviceBudgetBytes}
      error={own ?? error}
      value={text}
      placeholder="default"
      onChange={(t) => {
        setText(t);
        const v = t.trim() === '' ? undefined : parseNumberInput(t) * GIB;
        setShown(v);
        setJobField('deviceBudgetBytes', v);
      }}
    />
  );
}

function TargetModules({ sets, selected, error }: { sets: TargetSets; selected: string[]; error?: string }) {
  const toggle = (m: string, on: boolean) => setJobField('targetModules', on ? sets.all.filter((x) => x === m || selected.includes(x)) : selected.filter((x) => x !== m));
  return (
    <fieldset className={`targets field wide${error ? ' invalid' : ''}`} aria-describedby="targets-help">
      <legend>Target modules</legend>
      <div className="row">
        {sets.all.map((m) => (
          <label key={m} className="chip">
            <input type="checkbox" checked={selected.includes(m)} onChange={(e) => toggle(m, e.currentTarget.checked)} />
            <code>{m}</code>
          </label>
        ))}
      </div>
      <div className="row">
        <button type="button" className="secondary small" onClick={() => setJobField('targetModules', sets.all)}>
          All linear layers
        </button>
        <button type="button" className="secondary small" onClick={() => setJobField('targetModules', sets.attention)}>
          Attention only
        </button>
      </div>
      <span id="targets-help" className="help">
        {HELP.targetModules}
      </span>
      {error && <span className="field-error">{error}</span>}
    </fieldset>
  );
}
