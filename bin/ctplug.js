#!/usr/bin/env node
// `ctplug` / `npx ctplug`: the bundled CLI. Built by `npm install` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';

// `ctplug daemon` loads only the daemon's bundle (the privileged process holds no CLI, runtime or Wasm).
const daemon = process.argv[2] === 'daemon';
const entry = new URL(daemon ? '../dist/daemon.js' : '../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(`ctplug: dist/${daemon ? 'daemon' : 'cli'}.js is missing (ctplug is not built); run \`npm install\` or \`npm run build\` in the ctplug folder\n`);
  process.exit(4);
}
if (daemon) {
  const { runDaemon } = await import(entry.href);
  process.exitCode = await runDaemon(process.argv.slice(3));
  process.exit();
} else {
  const { runCli } = await import(entry.href);
  await runCli(process.argv.slice(2));
}
