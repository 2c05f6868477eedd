// Random-access byte sources, so that large model files are read a piece at a time instead of
// being loaded whole (a 1 GB safetensors file must not become a 1 GB ArrayBuffer).

/** A file or buffer that can be read at any offset. */
export interface ByteSource {
  /** Shown in error messages (a file name or path). */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes starting at `offset`; rejects when the range runs past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Thrown when a read asks for bytes a source does not have (usually a truncated file). */
export class ByteSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ByteSourceError';
  }
}

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new ByteSourceError(`${name}: invalid read of ${length} bytes at offset ${offset}.`);
  }
  if (offset + length > size) {
    throw new ByteSourceError(
      `${name}: read of ${length} bytes at offset ${offset} runs past the end of the file ` +
        `(${size} bytes). The file is probably truncated; download it again.`,
    );
  }
}

/** A Blob or File (browser `<input type=file>`, drag and drop, or Node's fs.openAsBlob). */
export function blobSource(blob: Blob, name?: string): ByteSource {
  const label = name ?? (typeof File !== 'undefined' && blob instanceof File ? blob.name : 'blob');
  return {
    name: label,
    size: blob.size,
    async read(offset, length) {
      checkRange(label, blob.size, offset, length);
      const bytes = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (bytes.length !== length) {
        // a File that changed on disk after it was opened reads short
        throw new ByteSourceError(
          `${label}: expected ${length} bytes at offset ${offset} but read ${bytes.length}. ` +
            'The file changed while it was being read; open it again.',
        );
      }
      return bytes;
    },
  };
}

/** Bytes already in memory (an ArrayBuffer, a Uint8Array or a Node Buffer). Reads return views. */
export function bufferSource(buffer: ArrayBuffer | Uint8Array, name = 'buffer'): ByteSource {
  // a plain Uint8Array view: a Node Buffer's slice() would not copy
  const bytes = buffer instanceof Uint8Array ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength) : new Uint8Array(buffer);
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      checkRange(name, bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}
