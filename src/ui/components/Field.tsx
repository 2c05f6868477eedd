import { useId, useState, type ReactNode } from 'react';
import { numberToInput, parseNumberInput } from '../lib/parseNumber';

interface Common {
  label: string;
  help?: string;
  error?: string;
  disabled?: boolean;
}

function Describe({ id, help, error }: { id: string; help?: string; error?: string }) {
  return (
    <>
      {help && (
        <span id={`${id}-help`} className="help">
          {help}
        </span>
      )}
      {error && (
        <span id={`${id}-error`} className="field-error">
          {error}
        </span>
      )}
    </>
  );
}

function describedBy(id: string, help?: string, error?: string): string | undefined {
  return [help && `${id}-help`, error && `${id}-error`].filter(Boolean).join(' ') || undefined;
}

/**
 * A number typed as text: the text the user types is kept while it is being edited ("2e-"),
 * the parsed value (NaN when unreadable) goes to the store, where validation explains it.
 */
export function NumberField({ label, help, error, disabled, value, onChange, integer, min, testId }: Common & { value: number; onChange: (v: number) => void; integer?: boolean; min?: number; testId?: string }) {
  const id = useId();
  const [draft, setDraft] = useState(() => numberToInput(value));
  const [shown, setShown] = useState(value);
  // A preset or reset changed the value from outside: show it (adjusting state during render).
  if (!Object.is(value, shown)) {
    setShown(value);
    if (!Object.is(parseNumberInput(draft), value)) setDraft(numberToInput(value));
  }
  return (
    <div className={`field${error ? ' invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="text"
        inputMode={integer && (min ?? 0) >= 0 ? 'numeric' : 'decimal'}
        autoComplete="off"
        spellCheck={false}
        value={draft}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, help, error)}
        data-testid={testId}
        onChange={(e) => {
          const text = e.currentTarget.value;
          setDraft(text);
          const v = parseNumberInput(text);
          setShown(v);
          onChange(v);
        }}
      />
      <Describe id={id} help={help} error={error} />
    </div>
  );
}

export function TextField({ label, help, error, disabled, value, onChange, placeholder }: Common & { value: string; onChange: (v: string) => void; placeholder?: string }) {
  const id = useId();
  return (
    <div className={`field${error ? ' invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="text"
        autoComplete="off"
        spellCheck={false}
        value={value}
        placeholder={placeholder}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, help, error)}
        onChange={(e) => onChange(e.currentTarget.value)}
      />
      <Describe id={id} help={help} error={error} />
    </div>
  );
}

export function SelectField<T extends string>({ label, help, error, disabled, value, onChange, options }: Common & { value: T; onChange: (v: T) => void; options: { value: T; label: string }[] }) {
  const id = useId();
  return (
    <div className={`field${error ? ' invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} disabled={disabled} aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, help, error)} onChange={(e) => onChange(e.currentTarget.value as T)}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <Describe id={id} help={help} error={error} />
    </div>
  );
}

export function CheckboxField({ label, help, error, disabled, checked, onChange }: Common & { checked: boolean; onChange: (v: boolean) => void }) {
  const id = useId();
  return (
    <div className={`field checkbox${error ? ' invalid' : ''}`}>
      <input id={id} type="checkbox" checked={checked} disabled={disabled} aria-describedby={describedBy(id, help, error)} onChange={(e) => onChange(e.currentTarget.checked)} />
      <label htmlFor={id}>{label}</label>
      <Describe id={id} help={help} error={error} />
    </div>
  );
}

/** Radio buttons in a fieldset whose legend names the choice. */
export function RadioGroup<T extends string>({ legend, value, onChange, options, disabled, help }: { legend: string; value: T; onChange: (v: T) => void; options: { value: T; label: ReactNode }[]; disabled?: boolean; help?: string }) {
  const name = useId();
  return (
    <fieldset className="radio-group" disabled={disabled}>
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o.value} className="radio">
          <input type="radio" name={name} value={o.value} checked={value === o.value} onChange={() => onChange(o.value)} />
          {o.label}
        </label>
      ))}
      {help && <p className="help">{help}</p>}
    </fieldset>
  );
}
