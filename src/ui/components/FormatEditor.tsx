import { useState } from 'react';
import type { ColumnMapping, DetectedFormat, Role } from '../../data/types';
import { formatPercent } from '../lib/format';
import { setColumnMapping, useDatasetStore } from '../stores/datasetStore';
import { SelectField, TextField } from './Field';

const FORMAT_NAMES: Record<DetectedFormat['name'], string> = {
  text: 'Plain text rows',
  'text-file': 'One text document',
  alpaca: 'Alpaca (instruction / input / output)',
  'question-answer': 'Question and answer',
  'prompt-completion': 'Prompt and completion',
  'input-output': 'Input and output',
  'openai-chat': 'OpenAI chat messages',
  sharegpt: 'ShareGPT conversations',
  custom: 'Your column mapping',
};

const DEFAULTS: Record<ColumnMapping['kind'], ColumnMapping> = {
  text: { kind: 'text', text: 'text' },
  instruction: { kind: 'instruction', instruction: 'instruction', input: 'input', output: 'output' },
  chat: { kind: 'chat', messages: 'messages', role: 'role', content: 'content', roles: { system: 'system', user: 'user', assistant: 'assistant' } },
};

const ROLE_OPTIONS: { value: Role; label: string }[] = [
  { value: 'system', label: 'system' },
  { value: 'user', label: 'user' },
  { value: 'assistant', label: 'assistant' },
];

/** Detected format, and an override: pick the kind and say which columns hold what. */
export function FormatEditor({ format, disabled }: { format: DetectedFormat; disabled?: boolean }) {
  const userMapping = useDatasetStore((s) => s.mapping);
  return <MappingForm key={JSON.stringify(userMapping ?? format.mapping)} format={format} initial={userMapping ?? format.mapping} overridden={!!userMapping} disabled={disabled} />;
}

function MappingForm({ format, initial, overridden, disabled }: { format: DetectedFormat; initial: ColumnMapping; overridden: boolean; disabled?: boolean }) {
  const [draft, setDraft] = useState<ColumnMapping>(initial);
  const changed = JSON.stringify(draft) !== JSON.stringify(initial);
  const fileKind = format.name === 'text-file';

  return (
    <form
      className="format"
      aria-label="Dataset format"
      onSubmit={(e) => {
        e.preventDefault();
        if (!disabled) void setColumnMapping(draft);
      }}
    >
      <h3>Format</h3>
      <p>
        {overridden ? 'Using your mapping' : 'Detected'}: <strong data-testid="detected-format">{FORMAT_NAMES[format.name]}</strong>
        {!overridden && format.sampled > 0 && (
          <span className="muted">
            {' '}
            ({formatPercent(format.confidence * format.sampled, format.sampled)} of {format.sampled} sampled rows fit)
          </span>
        )}
      </p>
      {fileKind ? (
        <p className="help">A .txt file is read as one document and cut into sequences; there are no columns to map.</p>
      ) : (
        <>
          <SelectField
            label="Rows are"
            value={draft.kind}
            disabled={disabled}
            onChange={(k) => setDraft(k === initial.kind ? initial : DEFAULTS[k])}
            options={[
              { value: 'text', label: 'Plain text (train on all of it)' },
              { value: 'instruction', label: 'Instruction and answer' },
              { value: 'chat', label: 'Chat conversation' },
            ]}
          />
          <div className="mapping-fields">
            <MappingFields draft={draft} setDraft={setDraft} disabled={disabled} />
          </div>
          <div className="row">
            <button type="submit" className="secondary" aria-disabled={disabled || !changed || undefined}>
              Apply mapping
            </button>
            {overridden && (
              <button type="button" className="secondary" onClick={() => !disabled && void setColumnMapping(null)}>
                Use detected format
              </button>
            )}
          </div>
        </>
      )}
    </form>
  );
}

function MappingFields({ draft, setDraft, disabled }: { draft: ColumnMapping; setDraft: (m: ColumnMapping) => void; disabled?: boolean }) {
  if (draft.kind === 'text') {
    return <TextField label="Text column" value={draft.text} disabled={disabled} onChange={(v) => setDraft({ ...draft, text: v })} />;
  }
  if (draft.kind === 'instruction') {
    const opt = (v: string) => (v.trim() ? v : undefined);
    return (
      <>
        <TextField label="Instruction column" value={draft.instruction} disabled={disabled} onChange={(v) => setDraft({ ...draft, instruction: v })} />
        <TextField label="Input column (optional)" value={draft.input ?? ''} disabled={disabled} onChange={(v) => setDraft({ ...draft, input: opt(v) })} />
        <TextField label="Answer column" value={draft.output} disabled={disabled} onChange={(v) => setDraft({ ...draft, output: v })} />
        <TextField label="System column (optional)" value={draft.system ?? ''} disabled={disabled} onChange={(v) => setDraft({ ...draft, system: opt(v) })} />
      </>
    );
  }
  return <ChatMappingFields draft={draft} setDraft={setDraft} disabled={disabled} />;
}

function ChatMappingFields({ draft, setDraft, disabled }: { draft: Extract<ColumnMapping, { kind: 'chat' }>; setDraft: (m: ColumnMapping) => void; disabled?: boolean }) {
  // Rows are kept as a list while editing: two empty or equal names must not merge mid-typing.
  const [rows, setRows] = useState<[string, Role][]>(() => Object.entries(draft.roles));
  const update = (next: [string, Role][]) => {
    setRows(next);
    setDraft({ ...draft, roles: Object.fromEntries(next.filter(([name]) => name.trim() !== '')) });
  };
  return (
    <>
      <TextField label="Messages column" value={draft.messages} disabled={disabled} onChange={(v) => setDraft({ ...draft, messages: v })} />
      <TextField label="Role key" help="“role” (OpenAI) or “from” (ShareGPT)." value={draft.role} disabled={disabled} onChange={(v) => setDraft({ ...draft, role: v })} />
      <TextField label="Text key" help="“content” (OpenAI) or “value” (ShareGPT)." value={draft.content} disabled={disabled} onChange={(v) => setDraft({ ...draft, content: v })} />
      <fieldset className="roles">
        <legend>Role names in the file</legend>
        {rows.map(([name, role], i) => (
          <div className="row role-row" key={i}>
            <TextField label={`Name ${i + 1}`} value={name} disabled={disabled} onChange={(v) => update(rows.map((r, j) => (j === i ? [v, r[1]] : r)))} />
            <SelectField label={`Means ${i + 1}`} value={role} disabled={disabled} options={ROLE_OPTIONS} onChange={(v) => update(rows.map((r, j) => (j === i ? [r[0], v] : r)))} />
            <button type="button" className="secondary small" aria-label={`Remove role name ${i + 1}`} onClick={() => update(rows.filter((_, j) => j !== i))} disabled={disabled}>
              Remove
            </button>
          </div>
        ))}
        <button type="button" className="secondary small" onClick={() => update([...rows, ['', 'user']])} disabled={disabled}>
          Add role name
        </button>
      </fieldset>
    </>
  );
}
