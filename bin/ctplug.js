#!/usr/bin/env node
// `ctplug` / `npx ctplug`: the bundled CLI. Built by `npm install` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('ctplug: dist/cli.js is missing (ctplug is not built); run `npm install` or `npm run build` in the ctplug folder\n');
  process.exit(4);
}
const { runCli } = await import(cli.href);
await runCli(process.argv.slice(2));
