// Plugin files (manifests, modules) are read only when they are regular files. A FIFO (or a
// device) named as a plugin would block the read for ever: the file is opened non-blocking,
// judged by fstat on that same descriptor (no window to swap it) and only then read.
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';

export class NotRegularFileError extends Error {
  constructor(readonly path: string, why: string) {
    super(`${path} ${why}`);
    this.name = 'NotRegularFileError';
  }
}

/** Reads a regular file of at most `maxBytes`; throws NotRegularFileError for anything else (and fs errors as they are). */
export function readRegularFile(path: string, maxBytes = Infinity): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const what = st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a file';
      throw new NotRegularFileError(path, `is ${what}, not a regular file`);
    }
    if (st.size > maxBytes) throw new NotRegularFileError(path, `is ${st.size} bytes, more than the ${maxBytes} a plugin file may be`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
