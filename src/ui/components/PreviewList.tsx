import type { PreviewExample } from '../../workers/api';

function plural(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? '' : 's'}`;
}

/**
 * Rendered examples as the model will see them, with exactly the tokens the loss counts marked:
 * trained runs (answers and their end-of-turn tokens) highlighted, prompt and template text
 * muted. Each run says how many tokens it holds; text is rendered as text.
 */
export function PreviewList({ examples }: { examples: PreviewExample[] }) {
  return (
    <div className="preview">
      <h3>Preview</h3>
      <p className="legend-row" aria-label="Legend">
        <span className="tok-trained">trained on</span> <span className="tok-masked">context only (not trained)</span>
      </p>
      {examples.length === 0 ? (
        <p className="muted">No examples to show.</p>
      ) : (
        <ol className="examples">
          {examples.map((ex, i) => {
            const counted = ex.pieces.every((p) => p.tokens !== undefined);
            const total = ex.pieces.reduce((n, p) => n + (p.tokens ?? 0), 0);
            const trained = ex.pieces.reduce((n, p) => n + (p.trained ? (p.tokens ?? 0) : 0), 0);
            return (
              <li key={`${ex.line}-${i}`} className="example">
                <span className="line-no">Line {ex.line}</span>
                {counted && (
                  <span className="muted" data-testid="trained-count">
                    {' '}
                    · {trained} of {plural(total, 'token')} trained
                  </span>
                )}
                <pre className="example-text">
                  {ex.pieces.map((p, j) => {
                    const title = p.tokens === undefined ? undefined : `${plural(p.tokens, 'token')}, ${p.trained ? 'trained' : 'not trained'}`;
                    return p.trained ? (
                      <mark key={j} className="tok-trained" title={title}>
                        {p.text}
                      </mark>
                    ) : (
                      <span key={j} className="tok-masked" title={title}>
                        {p.text}
                      </span>
                    );
                  })}
                </pre>
              </li>
            );
          })}
        </ol>
      )}
    </div>
  );
}
