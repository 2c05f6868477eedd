import type { ReactNode } from 'react';

/** An error in words, announced to screen readers, with an optional way out. */
export function Alert({ children, action, testId }: { children: ReactNode; action?: ReactNode; testId?: string }) {
  return (
    <div role="alert" className="alert" data-testid={testId}>
      <span className="alert-text">{children}</span>
      {action}
    </div>
  );
}
