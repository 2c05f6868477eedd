// Save bytes as a file through a temporary object URL. The name is always sanitized here, so no
// caller can pass a path or an invisible character to the browser's save dialog.
import { sanitizeFileName } from './fileName';

export function downloadBytes(name: string, bytes: Uint8Array | Blob, mime = 'application/octet-stream'): string {
  const safe = sanitizeFileName(name);
  const blob = bytes instanceof Blob ? bytes : new Blob([bytes as Uint8Array<ArrayBuffer>], { type: mime });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = safe;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  // The click starts the download synchronously; revoking later keeps slow browsers safe.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return safe;
}
