import type { PreviewExample } from '../../workers/api';

/**
 * Rendered examples as the model will see them. Trained tokens (what the loss counts) are
 * highlighted and bold; prompt and template tokens are muted. Text is rendered as text.
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
          {examples.map((ex, i) => (
            <li key={`${ex.line}-${i}`} className="example">
              <span className="line-no">Line {ex.line}</span>
              <pre className="example-text">
                {ex.pieces.map((p, j) =>
                  p.trained ? (
                    <mark key={j} className="tok-trained">
                      {p.text}
                    </mark>
                  ) : (
                    <span key={j} className="tok-masked">
                      {p.text}
                    </span>
                  ),
                )}
              </pre>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
