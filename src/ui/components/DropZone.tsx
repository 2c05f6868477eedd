import { useState, type ReactNode } from 'react';
import { filesFromDrop, type DroppedFiles } from '../lib/dropFiles';

/** A region that takes dropped files or folders; its buttons are the keyboard path. */
export function DropZone({ label, hint, onDrop, children, disabled }: { label: string; hint: ReactNode; onDrop: (d: DroppedFiles) => void; children?: ReactNode; disabled?: boolean }) {
  const [over, setOver] = useState(false);
  return (
    <div
      className={`dropzone${over ? ' over' : ''}`}
      role="group"
      aria-label={label}
      onDragOver={(e) => {
        if (disabled || !Array.from(e.dataTransfer.types).includes('Files')) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        if (disabled) return;
        void filesFromDrop(e.dataTransfer).then((d) => d.files.length && onDrop(d));
      }}
    >
      <p className="dropzone-hint">{hint}</p>
      <div className="row">{children}</div>
    </div>
  );
}
