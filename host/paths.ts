// Where the package's own files are, whether running from source (host/...) or from the
// esbuild bundle (dist/...): walk up to the package.json named "ctplug".
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'ctplug') return (cached = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('ctplug: cannot find its package root');
    dir = up;
  }
}
