// Run by scripts/adversarial-report.mjs: how long a looping plugin holds its worker when the host
// runs from the bundle (dist/index.js + dist/worker.js, as users run it), where worker start and
// termination carry no TypeScript loader. Prints one ADVERSARIAL line per stopped plugin.
import { existsSync } from 'node:fs';
import { wat, plugin, manifestFor } from './wasm.js';
import { record, settled, workers } from './workers.js';

const bundle = new URL('../../dist/index.js', import.meta.url);
if (!existsSync(bundle)) {
  process.stdout.write('SKIP bundle hold time: dist/index.js is not built (node scripts/build.mjs bundle)\n');
} else {
  const { loadPlugin } = await import(bundle.href);
  const cases: [string, string, string][] = [
    ['init', '(loop $l (br $l)) (i32.const 0)', '(i32.const 0)'],
    ['on_entries', '(drop (call $dump (i32.const 0) (i32.const 16))) (i32.const 0)', '(loop $l (br $l)) (i32.const 0)'],
    ['hostcall loop', '(loop $l (drop (call $log (i32.const 2) (i32.const 0) (i32.const 8))) (br $l)) (i32.const 0)', '(i32.const 0)'],
  ];
  const { FakeKernel, fakeBackend } = await import(new URL('../../dist/testkit.js', import.meta.url).href);
  const table = Buffer.concat(FakeKernel.fromSpecs([{ protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, timeout: 30 }]).messages());
  for (const [what, init, onEntries] of cases) {
    for (let i = 0; i < 3; i++) {
      const bytes = wat(plugin({ init, onEntries }));
      const from = workers.length;
      const p = await loadPlugin({ manifest: manifestFor('spin', bytes, { operations: ['read'] }), wasm: bytes },
        { policy: { default: { capabilities: { operations: ['read'] } } }, backend: fakeBackend(table) });
      let message = '';
      try { await p.run(); } catch (e) { message = (e as Error).message; }
      await settled();
      await p.close();
      const w = workers[from];
      record({ kind: 'hostile', case: `bundle: loop in ${what} (default 1000 ms deadline)`, outcome: message, contained: /exceeded 1000 ms/.test(message), heldMs: w?.heldMs, bundle: true, terminateCalledAfterMs: w?.terminateCalledAfterMs });
    }
  }
}
