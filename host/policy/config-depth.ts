// A plugin's config is JSON handed to the plugin as text. Nesting is bounded: the host serialises
// it recursively (JSON.stringify), and so do the SDK's parser and most plugins; a config nested
// 2e5 levels deep is a mistake or an attack, refused with a clear message instead of a stack overflow.

export const MAX_CONFIG_DEPTH = 64;

/** Why `v` is nested too deep ("nested more than N levels deep"), or undefined. Iterative: no recursion to overflow. */
export function configDepthProblem(v: unknown, max = MAX_CONFIG_DEPTH): string | undefined {
  const stack: [unknown, number][] = [[v, 1]];
  const seen = new Set<object>();
  while (stack.length) {
    const [x, depth] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (depth > max) return `is nested more than ${max} levels deep`;
    if (seen.has(x)) continue; // shared (or circular: JSON.stringify says so)
    seen.add(x);
    for (const child of Array.isArray(x) ? x : Object.values(x)) stack.push([child, depth + 1]);
  }
  return undefined;
}
