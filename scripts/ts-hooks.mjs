// Module hooks that let Node 20 run the TypeScript sources directly (tests, scripts):
// `.ts` is transpiled with esbuild on load; extensionless relative imports resolve to `.ts`.
import { transformSync } from 'esbuild';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export async function resolve(specifier, context, next) {
  if ((specifier.startsWith('.') || specifier.startsWith('/')) && specifier.endsWith('.js') && context.parentURL?.startsWith('file:')) {
    const ts = new URL(specifier.replace(/\.js$/, '.ts'), context.parentURL);
    if (existsSync(fileURLToPath(ts))) return next(ts.href, context);
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const path = fileURLToPath(url);
  const { code } = transformSync(readFileSync(path, 'utf8'), {
    loader: 'ts', format: 'esm', target: 'node20.10', sourcemap: 'inline', sourcefile: path,
  });
  return { format: 'module', source: code, shortCircuit: true };
}
