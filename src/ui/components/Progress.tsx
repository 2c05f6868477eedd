/** A labelled progress bar; `value` null shows an indeterminate bar. */
export function Progress({ label, value, max = 1, text }: { label: string; value: number | null; max?: number; text?: string }) {
  return (
    <div className="progress">
      <progress aria-label={label} value={value ?? undefined} max={max} />
      {text && (
        <span className="progress-text">
          {text}
        </span>
      )}
    </div>
  );
}
