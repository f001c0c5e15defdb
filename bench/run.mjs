#!/usr/bin/env node
// `npm run bench`: every benchmark in bench/, one after the other (root; each makes and removes
// its own netns). Each prints ctplug's numbers next to `conntrack`'s, measured in the same run.
//   npm run bench                 all, at their default sizes
//   npm run bench -- netlink 1000000   one benchmark, with its arguments
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (process.getuid?.() !== 0) {
  console.error('bench: needs root (it creates network namespaces and conntrack entries)');
  process.exit(3);
}
const [only, ...args] = process.argv.slice(2);
const benches = readdirSync(join(root, 'bench')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));
let failed = 0;
for (const b of only ? [only] : benches) {
  if (!benches.includes(b)) {
    console.error(`bench: no bench/${b}.ts (have: ${benches.join(', ')})`);
    process.exit(2);
  }
  console.log(`\n== bench/${b}.ts ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', './scripts/ts-register.mjs', `bench/${b}.ts`, ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
