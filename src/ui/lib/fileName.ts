// File names for downloads. Names come from the worker, the model folder or the user's run name,
// so they are untrusted: no path separators (a name must not pick its folder), no control or
// bidirectional-override characters (a name must read as what it is), nothing Windows refuses.

// C0 and C1 control characters, DEL, and the Unicode bidi controls (U+202A-E, U+2066-9) and
// zero-width/BOM characters that make "gguf.exe" look like "exe.gguf".
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;
// Path separators and the characters Windows forbids in names.
const FORBIDDEN = /[/\\:*?"<>|]/g;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
const MAX_LENGTH = 120;

function clean(name: string): string {
  let s = String(name ?? '')
    .normalize('NFC')
    .replace(INVISIBLE, '')
    .replace(FORBIDDEN, '_')
    .replace(/\s+/g, ' ')
    .trim();
  s = s.replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  if (/^[_\s.]*$/.test(s)) return '';
  if (WINDOWS_RESERVED.test(s)) s = `_${s}`;
  if (s.length > MAX_LENGTH) {
    const dot = s.lastIndexOf('.');
    const ext = dot > 0 && s.length - dot <= 16 ? s.slice(dot) : '';
    s = s.slice(0, MAX_LENGTH - ext.length).replace(/[.\s]+$/, '') + ext;
  }
  return s;
}

/**
 * A safe file name: separators and forbidden characters become "_", invisible ones are removed,
 * leading dots and trailing dots/spaces are dropped, the length is capped (keeping the
 * extension), and `fallback` is used when nothing is left.
 */
export function sanitizeFileName(name: string, fallback = 'download'): string {
  return clean(name) || clean(fallback) || 'download';
}

/** A part to build file names from ("my run" -> "my-run"). */
export function fileNameStem(name: string, fallback: string): string {
  return sanitizeFileName(name, fallback).replace(/ /g, '-');
}
