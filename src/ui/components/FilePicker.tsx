import { useEffect, useRef } from 'react';

/**
 * A file input that looks like a button. The input stays in the accessibility tree (visually
 * hidden, not display:none), so it is focusable, labelled by the text, and setInputFiles works.
 */
export function FilePicker({
  label,
  onFiles,
  accept,
  multiple,
  directory,
  disabled,
  secondary,
}: {
  label: string;
  onFiles: (files: File[]) => void;
  accept?: string;
  multiple?: boolean;
  directory?: boolean;
  disabled?: boolean;
  secondary?: boolean;
}) {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    // React has no typed prop for it; the DOM property is standard enough (Chrome, Edge, Firefox, Safari).
    if (ref.current) ref.current.webkitdirectory = !!directory;
  }, [directory]);
  return (
    <label className={`button file-button${secondary ? ' secondary' : ''}${disabled ? ' is-disabled' : ''}`}>
      <input
        ref={ref}
        type="file"
        className="visually-hidden"
        accept={accept}
        multiple={multiple || directory}
        disabled={disabled}
        onChange={(e) => {
          const files = Array.from(e.currentTarget.files ?? []);
          e.currentTarget.value = ''; // choosing the same file again must fire again
          if (files.length) onFiles(files);
        }}
      />
      {label}
    </label>
  );
}
