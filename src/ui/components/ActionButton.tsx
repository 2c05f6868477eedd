import { useId, type ReactNode } from 'react';

/**
 * A button that stays focusable when it cannot be used (aria-disabled instead of disabled) and
 * says why, so keyboard and screen-reader users find it and learn what to do first.
 */
export function ActionButton({
  children,
  onClick,
  blockedBy,
  busy,
  secondary,
  danger,
  small,
  testId,
  quietWhy,
  label,
}: {
  children: ReactNode;
  onClick: () => void;
  /** why the action cannot run now, in words; null/undefined when it can */
  blockedBy?: string | null;
  busy?: boolean;
  secondary?: boolean;
  danger?: boolean;
  small?: boolean;
  testId?: string;
  /** the reason is read by screen readers but not shown (a shared note nearby says it) */
  quietWhy?: boolean;
  /** accessible name when the visible text is not enough on its own */
  label?: string;
}) {
  const id = useId();
  const blocked = !!blockedBy || !!busy;
  return (
    <span className="action">
      <button
        type="button"
        className={[secondary && 'secondary', danger && 'danger', small && 'small'].filter(Boolean).join(' ') || undefined}
        aria-label={label}
        aria-disabled={blocked || undefined}
        aria-describedby={blockedBy ? `${id}-why` : undefined}
        aria-busy={busy || undefined}
        data-testid={testId}
        onClick={() => {
          if (!blocked) onClick();
        }}
      >
        {children}
      </button>
      {blockedBy && (
        <span id={`${id}-why`} className={quietWhy ? 'visually-hidden' : 'why'}>
          {blockedBy}
        </span>
      )}
    </span>
  );
}
