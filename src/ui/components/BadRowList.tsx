import { badRowPlace, type BadRow } from '../../data/types';
import { formatInt } from '../lib/format';

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Every row that was not used, with its line and why: nothing is dropped silently. */
export function BadRowList({ rows }: { rows: BadRow[] }) {
  if (rows.length === 0) return <p className="ok">Every row could be used.</p>;
  return (
    <div className="bad-rows">
      <h3 id="bad-rows-title">
        Rows not used <span className="count">{formatInt(rows.length)}</span>
      </h3>
      {/* Focusable so keyboard users can scroll a long list. */}
      <ol className="scroll-list" aria-labelledby="bad-rows-title" tabIndex={0}>
        {rows.map((r, i) => (
          <li key={`${r.line}-${i}`}>
            <span className="line-no">{capitalize(badRowPlace(r))}</span> {r.reason}
          </li>
        ))}
      </ol>
    </div>
  );
}
