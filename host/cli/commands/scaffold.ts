// `ctplug plugin new NAME`: a plugin folder that builds and passes its test with no edits:
//   NAME/assembly/NAME.ts   the plugin (AssemblyScript, against ctplug's SDK)
//   NAME/manifest.json      what it asks for (capabilities, limits, config keys)
//   NAME/asconfig.json      extends ctplug's plugin build config
//   NAME/build.mjs          compiles to build/NAME.wasm + build/NAME.manifest.json (with sha256)
//   NAME/test/NAME.test.mjs uvu test with ctplug's test kit (in-memory table, no root)
//   NAME/package.json       `npm install && npm test`
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { CtError } from '../../conntrack/errors.js';
import type { Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { EXIT, type ExitCode } from '../../exit-codes.js';
import { VERSION } from '../version.js';

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function scaffoldFiles(name: string, ctplugSpec: string): Record<string, string> {
  const manifest = {
    name,
    version: '0.1.0',
    description: `${name}: delete the entries that match the filter in its config`,
    abi: 1,
    capabilities: {
      operations: ['read', 'delete'],
      scope: { zones: 'any', families: ['ipv4', 'ipv6'], protocols: 'any', mark: null },
    },
    limits: { timeout_ms: 1000, memory_max_pages: 256 },
    config: {
      type: 'object',
      properties: {
        dry_run: { type: 'boolean', default: false, doc: 'print what would be deleted, delete nothing' },
        zone: { type: ['integer', 'array'], doc: 'conntrack zone(s); every ctplug filter key works (proto, src, dport, ...)' },
      },
    },
  };
  return {
    'package.json': JSON.stringify({
      name, version: '0.1.0', private: true, type: 'module',
      description: manifest.description,
      scripts: { build: 'node build.mjs', test: `node build.mjs && node test/${name}.test.mjs` },
      devDependencies: { assemblyscript: '0.28.20', ctplug: ctplugSpec, uvu: '0.5.6' },
    }, null, 2) + '\n',
    'manifest.json': JSON.stringify(manifest, null, 2) + '\n',
    'asconfig.json': JSON.stringify({ extends: './node_modules/ctplug/sdk/asconfig.json' }, null, 2) + '\n',
    [`assembly/${name}.ts`]: `// ${name}: delete the conntrack entries that match the filter in the config.
//   config: any ctplug filter keys ({"zone": 5, "proto": "udp", "dport": 53, "src": "10.0.0.0/8", ...})
//           plus {"dry_run": true} to print instead of deleting.
// The host only ever hands this plugin entries inside its grant, and re-checks every delete.
import { Entry, Verdict, Plugin, Filter, JsonValue, checkConfigKeys, renderText, logInfo } from "../node_modules/ctplug/sdk/assembly";
export * from "../node_modules/ctplug/sdk/assembly/exports";

let filter = new Filter();
let dryRun = false;
let matched: u64 = 0;

Plugin.init((cfg: JsonValue) => {
  // A typo ({"zon": 5}) must fail the run, not drop the zone and delete more widely.
  if (!checkConfigKeys(cfg, ["dry_run"])) return;
  filter = Filter.fromConfig(cfg);
  dryRun = cfg.getBool("dry_run", false);
  if (filter.empty) Plugin.fail("config: give at least one filter key (zone, proto, src, dport, ...)");
  // Ask the host for the dumps that cover the filter (zones, family, mark are filtered in the kernel).
  Plugin.dumpAll(filter.kernelRequests());
});

Plugin.onEntry((e: Entry): Verdict => {
  if (!filter.matches(e)) return Verdict.Keep;
  matched++;
  if (dryRun) { renderText(Plugin.out, e); return Verdict.Keep; }
  return Verdict.Delete;
});

Plugin.onFinish(() => {
  logInfo(matched.toString() + (dryRun ? " flow entries would be deleted." : " flow entries have been deleted."));
});
`,
    'build.mjs': `// Builds build/${name}.wasm and build/${name}.manifest.json (manifest.json + module + sha256).
import asc from 'assemblyscript/asc';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const name = ${JSON.stringify(name)};
mkdirSync('build', { recursive: true });
const { error, stderr } = await asc.main([\`assembly/\${name}.ts\`, '--config', 'asconfig.json', '--outFile', \`build/\${name}.wasm\`]);
if (error) {
  process.stderr.write(stderr.toString());
  process.exit(1);
}
const wasm = readFileSync(\`build/\${name}.wasm\`);
const manifest = JSON.parse(readFileSync('manifest.json', 'utf8'));
manifest.module = \`\${name}.wasm\`;
manifest.sha256 = createHash('sha256').update(wasm).digest('hex');
writeFileSync(\`build/\${name}.manifest.json\`, JSON.stringify(manifest, null, 2) + '\\n');
process.stderr.write(\`built build/\${name}.wasm (\${wasm.length} bytes)\\n\`);
`,
    [`test/${name}.test.mjs`]: `// Runs the plugin exactly as ctplug would (same checks, worker, hostcalls), against an in-memory
// conntrack table: no root, no kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { runPlugin } from 'ctplug/testkit';

const manifest = fileURLToPath(new URL('../build/${name}.manifest.json', import.meta.url));
const entries = [
  { protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 53, zone: 5, timeout: 30 },
  { protocol: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', sport: 40001, dport: 443, zone: 5, timeout: 300 },
  { protocol: 'udp', src: '10.0.0.3', dst: '10.0.0.4', sport: 40002, dport: 53, zone: 6, timeout: 30 },
];

test('deletes exactly the UDP entries of zone 5', async () => {
  const r = await runPlugin(manifest, { entries, config: { zone: 5, proto: 'udp' } });
  assert.equal(r.deleted, [entries[0]]);
});

test('dry_run prints and deletes nothing', async () => {
  const r = await runPlugin(manifest, { entries, config: { zone: 5, dry_run: true } });
  assert.equal(r.deleted, []);
  assert.equal(r.output.trim().split('\\n').length, 2);
});

test('a config typo fails in ctplug_init and deletes nothing', async () => {
  let error;
  try {
    await runPlugin(manifest, { entries, config: { zon: 5 } });
  } catch (e) {
    error = e;
  }
  assert.is(error?.name, 'PluginFailedError');
  assert.match(error.message, /unknown key "zon"/);
  assert.is(error.stats.deleted, 0);
});

test('refuses to run without a filter (fails in ctplug_init)', async () => {
  let error;
  try {
    await runPlugin(manifest, { entries, config: {} });
  } catch (e) {
    error = e;
  }
  assert.is(error?.name, 'PluginFailedError');
  assert.match(error.message, /ctplug_init/);
});

test.run();
`,
    '.gitignore': 'node_modules/\nbuild/\n',
    'README.md': `# ${name}

A ctplug plugin. \`npm install && npm test\` builds \`build/${name}.wasm\` and runs the tests against an
in-memory conntrack table, through \`ctplug/testkit\` (runPlugin, entryMessages, eventBatch). Run it for
real (as root):

    npx ctplug --plugin build/${name}.wasm --config '{"zone": 5, "proto": "udp"}' --policy policy.json

Edit \`assembly/${name}.ts\`; \`node_modules/ctplug/sdk/assembly/README.md\` documents Entry, Filter,
Plugin and JsonWriter, and \`npx ctplug plugin inspect build/${name}.wasm\` shows what it asks for.
`,
  };
}

export async function run(p: Parsed): Promise<ExitCode> {
  const name = p.positionals[0];
  if (!NAME_RE.test(name)) throw new UsageError(`${JSON.stringify(name)} is not a plugin name: use lowercase letters, digits, . _ - (up to 64)`, 'plugin new');
  const dir = resolve(name);
  if (existsSync(dir)) throw new CtError('plugin new', 'EEXIST', 'usage', `${dir} already exists`, { hint: 'choose another name or remove the folder' });
  // A version range of this ctplug, as a published package is depended on; --ctplug-spec for
  // anything else npm understands (a version, a packed tarball or a folder, given from here).
  const given = p.opts.ctplugSpec;
  const spec = given === undefined ? `^${VERSION}` : existsSync(given) ? `file:${resolve(given)}` : given;
  const files = scaffoldFiles(name, spec);
  for (const [rel, text] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  }
  process.stdout.write(`created ${relative(process.cwd(), dir) || dir}/ (${Object.keys(files).join(', ')})\nnext: cd ${name} && npm install && npm test\n`);
  return EXIT.OK;
}
