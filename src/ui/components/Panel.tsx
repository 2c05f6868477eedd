import type { ReactNode } from 'react';

/** One numbered step of the studio: a landmark section named by its heading. */
export function Panel({ id, step, title, lede, children }: { id: string; step: number; title: string; lede: ReactNode; children: ReactNode }) {
  return (
    <section id={id} className="panel step" aria-labelledby={`${id}-title`} tabIndex={-1}>
      <header className="step-head">
        <span className="step-num" aria-hidden="true">
          {step}
        </span>
        <div>
          <h2 id={`${id}-title`}>{title}</h2>
          <p className="lede">{lede}</p>
        </div>
      </header>
      {children}
    </section>
  );
}
