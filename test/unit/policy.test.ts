// Manifest and policy parsing, grant = manifest ∩ policy (over-asking is an error with a clear
// message), and the enforcement helpers the worker uses on every dump, create and update.
import { test } from 'uvu';
import { kernelFiltersDeleteByZone } from '../../host/conntrack/conntrack.js';
import * as assert from 'uvu/assert';
import { ScopeMatcher, checkCreate, checkMarkUpdate, planDump } from '../../host/policy/enforce.js';
import { computeGrant } from '../../host/policy/grant.js';
import { DEFAULT_LIMITS } from '../../host/policy/limits.js';
import { parseManifest } from '../../host/policy/manifest.js';
import { parsePolicy } from '../../host/policy/policy.js';
import { abi } from '../../host/policy/abi.js';
import { GrantError, ManifestError, PolicyError } from '../../host/policy/errors.js';
import { OPERATIONS } from '../../host/policy/capabilities.js';

const base = { name: 'zone-gc', version: '1.0.0', abi: 1, module: 'zone-gc.wasm', sha256: 'ab'.repeat(32) };
const manifest = (capabilities: object, extra: object = {}) => parseManifest({ ...base, capabilities, ...extra });

function throwsExactly(fn: () => unknown, cls: Function, message: string) {
  try {
    fn();
  } catch (e) {
    assert.instance(e, cls);
    assert.is((e as Error).message, message);
    return;
  }
  assert.unreachable(`should have thrown: ${message}`);
}

test('manifest: a full manifest parses, zones are normalised, missing scope keys mean any', () => {
  const m = manifest({ operations: ['read', 'delete'], scope: { zones: [7, 5, { from: 4097, to: 65535 }, 6], families: ['ipv4'], mark: { value: 1, mask: 0xff } } },
    { limits: { timeout_ms: 500 }, config: { zone: { type: 'number' } }, description: 'GC' });
  assert.equal(m.capabilities.scope.zones, [{ from: 5, to: 7 }, { from: 4097, to: 65535 }]);
  assert.is(m.capabilities.scope.protocols, 'any');
  assert.equal(m.capabilities.scope.mark, { value: 1, mask: 255 });
  assert.is(m.capabilities.scope.markBits, null);
  assert.equal(m.limits, { timeout_ms: 500 });
});

test('manifest: strict validation names the plugin and the bad value', () => {
  throwsExactly(() => manifest({ operations: ['read'], scope: { zones: [70000] } }), ManifestError,
    'plugin "zone-gc" manifest: capabilities.scope.zones[0] must be an integer zone in 0..65535, got 70000');
  throwsExactly(() => manifest({ operations: ['read'], scope: { zones: [-1] } }), ManifestError,
    'plugin "zone-gc" manifest: capabilities.scope.zones[0] must be an integer zone in 0..65535, got -1');
  throwsExactly(() => manifest({ operations: ['read'], scope: { zones: [1.5] } }), ManifestError,
    'plugin "zone-gc" manifest: capabilities.scope.zones[0] must be an integer zone in 0..65535, got 1.5');
  throwsExactly(() => manifest({ operations: ['read'], scope: { zones: [{ from: 9, to: 3 }] } }), ManifestError,
    'plugin "zone-gc" manifest: capabilities.scope.zones[0]: from 9 is greater than to 3');
  throwsExactly(() => manifest({ operations: ['read', 'raw'] }), ManifestError,
    'plugin "zone-gc" manifest: capabilities.operations[1]: unknown operation "raw" (known: read, delete, update, flush, create, events)');
  throwsExactly(() => manifest({ operation: ['read'] }), ManifestError,
    'plugin "zone-gc" manifest: capabilities: unknown key "operation" (allowed: operations, scope)');
  throwsExactly(() => manifest({ operations: ['read'], scope: { protocols: ['sctp'] } }), ManifestError,
    'plugin "zone-gc" manifest: capabilities.scope.protocols[0]: unknown value "sctp" (known: tcp, udp, icmp, icmpv6)');
  throwsExactly(() => manifest({ operations: ['read'], scope: { mark: { value: 3, mask: 1 } } }), ManifestError,
    'plugin "zone-gc" manifest: capabilities.scope.mark.value 0x3 has bits outside mask 0x1');
  throwsExactly(() => manifest({ operations: ['read'] }, { abi: 2 }), ManifestError,
    'plugin "zone-gc" manifest: targets ctplug ABI 2; this host speaks v1');
  throwsExactly(() => manifest({ operations: ['read'] }, { module: '../../etc/x.wasm' }), ManifestError,
    'plugin "zone-gc" manifest: "module" must be a relative path to a .wasm file next to the manifest, got "../../etc/x.wasm"');
  throwsExactly(() => manifest({ operations: ['read'] }, { limits: { timeout_ms: 0 } }), ManifestError,
    'plugin "zone-gc" manifest: limits.timeout_ms must be an integer in 1..600000, got 0');
  throwsExactly(() => parseManifest({ ...base, name: 'a b' }, 'x.json'), ManifestError,
    'plugin "x.json" manifest: "name" must match /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/ (letters, digits, . _ -), got "a b"');
});

test('policy: strict parsing; per-plugin entry replaces the default; limits layer over the defaults', () => {
  throwsExactly(() => parsePolicy({ defaults: {} }), PolicyError, 'policy: top level: unknown key "defaults" (allowed: default, plugins, $comment)');
  throwsExactly(() => parsePolicy({ plugins: { x: { capabilities: { operations: ['read'] }, limits: { memory_max_pages: 70000 } } } }), PolicyError,
    'policy: plugins.x.limits.memory_max_pages must be an integer in 1..32768, got 70000');
  const p = parsePolicy({ default: { capabilities: { operations: ['read'] }, limits: { timeout_ms: 2000 } } });
  assert.equal(parsePolicy(p), p, 'parsing is idempotent (loadPlugin accepts parsed or raw policies)');
});

const policy = parsePolicy({
  default: { capabilities: { operations: ['read'], scope: { zones: [5, 7] } } },
  plugins: {
    'zone-gc': {
      capabilities: { operations: ['read', 'delete'], scope: { zones: [5, 7, { from: 4097, to: 65535 }], families: ['ipv4', 'ipv6'], mark: { value: 0x100, mask: 0xf00 }, markBits: 0xff } },
      limits: { timeout_ms: 3000 },
    },
  },
});

test('grant: within the policy, the grant is what the manifest asks; "any" takes the policy scope', () => {
  const g = computeGrant(manifest({ operations: ['read', 'delete'], scope: { zones: [5, { from: 5000, to: 6000 }], families: ['ipv4'] } }), policy);
  assert.equal(g.operations, ['read', 'delete']);
  assert.equal(g.scope.zones, [{ from: 5, to: 5 }, { from: 5000, to: 6000 }]);
  assert.equal(g.scope.families, ['ipv4']);
  assert.is(g.scope.protocols, 'any');
  assert.equal(g.scope.mark, { value: 0x100, mask: 0xf00 }, 'policy mark filter applies when the manifest has none');
  assert.equal(g.limits, { ...DEFAULT_LIMITS, timeout_ms: 3000 });
  const any = computeGrant(manifest({ operations: ['read'] }), policy);
  assert.equal(any.scope.zones, policy.plugins['zone-gc'].capabilities.scope.zones);
});

test('grant: asking for more than the policy allows is an error naming plugin, ask and allowance', () => {
  throwsExactly(() => computeGrant(manifest({ operations: ['read', 'delete', 'flush'], scope: { zones: [5, 9], protocols: ['tcp'], markBits: 0x1ff } }, { limits: { timeout_ms: 5000 } }), policy), GrantError,
    'plugin "zone-gc" asks for more than the policy entry "zone-gc" allows: ' +
    'operations: asks [read, delete, flush], allows [read, delete]; ' +
    'zones: asks [5, 9], allows [5, 7, 4097-65535]; ' +
    'markBits: asks 0x1ff, allows 0xff; ' +
    'limits.timeout_ms: asks 5000, allows at most 3000');
  throwsExactly(() => computeGrant(manifest({ operations: ['read'], scope: { mark: { value: 0, mask: 0xff } } }), policy), GrantError,
    'plugin "zone-gc" asks for more than the policy entry "zone-gc" allows: mark: asks 0x0/0xff, allows 0x100/0xf00');
  const other = manifest({ operations: ['read', 'delete'] }, { name: 'other' });
  throwsExactly(() => computeGrant(other, policy), GrantError,
    'plugin "other" asks for more than the policy default allows: operations: asks [read, delete], allows [read]');
  throwsExactly(() => computeGrant(other, parsePolicy({})), GrantError,
    'plugin "other" is not listed in the policy and the policy has no default: nothing is allowed');
  throwsExactly(() => computeGrant(manifest({ operations: ['read'], scope: { families: ['ipv6'] } }), parsePolicy({ default: { capabilities: { operations: ['read'], scope: { families: ['ipv4'] } } } })), GrantError,
    'plugin "zone-gc" asks for more than the policy default allows: families: asks [ipv6], allows [ipv4]');
});

test('grant: a stricter manifest mark is fine; embedder limits cap the policy', () => {
  const g = computeGrant(manifest({ operations: ['read'], scope: { mark: { value: 0x1100, mask: 0xff00 } } }), policy, { timeout_ms: 100 });
  assert.equal(g.scope.mark, { value: 0x1100, mask: 0xff00 });
  assert.is(g.limits.timeout_ms, 100);
  throwsExactly(() => computeGrant(manifest({ operations: ['read'] }, { limits: { timeout_ms: 200 } }), policy, { timeout_ms: 100 }), GrantError,
    'plugin "zone-gc" asks for more than the policy entry "zone-gc" allows: limits.timeout_ms: asks 200, allows at most 100');
});

test('every hostcall capability in abi.json is an operation a manifest can name', () => {
  for (const [name, def] of Object.entries(abi.imports)) {
    if (def.needs !== null) assert.ok(OPERATIONS.includes(def.needs as never), `ctplug.${name} needs ${def.needs}`);
  }
});

const scope = (s: object) => parseManifest({ ...base, capabilities: { operations: ['read'], scope: s } }).capabilities.scope;

test('planDump: "all zones" becomes one kernel dump per granted zone (<= 16)', () => {
  const p = planDump({ family: 0, protocol: 0 }, scope({ zones: [5, 7, { from: 10, to: 12 }] }));
  assert.ok(p.ok);
  if (!p.ok) return;
  assert.equal(p.filters, [{ zone: 5 }, { zone: 7 }, { zone: 10 }, { zone: 11 }, { zone: 12 }]);
  assert.ok(p.kernelExact);
  const entry = { family: 2, protocol: 6, zone: 7, mark: 0 };
  assert.ok(p.matcher.matches(entry));
  assert.not.ok(p.matcher.matches({ ...entry, zone: 8 }));
});

test('planDump: more than 16 zones is one full dump re-checked by the scanner', () => {
  const p = planDump({ family: 0, protocol: 0 }, scope({ zones: [{ from: 4097, to: 65535 }] }));
  assert.ok(p.ok && p.filters.length === 1 && p.filters[0].zone === undefined && !p.kernelExact);
  if (p.ok) assert.is(p.matcher.why({ family: 2, protocol: 6, zone: 5, mark: 0 }), 'zone 5 is outside the grant');
});

test('planDump: explicit requests outside the grant are refused; inside ones narrow', () => {
  const s = scope({ zones: [5, 7], families: ['ipv4'], protocols: ['udp'], mark: { value: 0x10, mask: 0xf0 } });
  assert.equal(planDump({ family: 0, protocol: 0, zone: 9 }, s), { ok: false, reason: 'zone 9 is outside the grant' });
  assert.equal(planDump({ family: 10, protocol: 0 }, s), { ok: false, reason: 'family ipv6 is outside the grant' });
  assert.equal(planDump({ family: 3, protocol: 0 }, s), { ok: false, reason: 'unknown family 3' });
  assert.equal(planDump({ family: 0, protocol: 6 }, s), { ok: false, reason: 'protocol tcp is outside the grant' });
  assert.equal(planDump({ family: 0, protocol: 0, mark: { value: 0x20, mask: 0x30 } }, s), { ok: false, reason: 'mark 0x20/0x30 cannot match the grant\'s mark 0x10/0xf0' });
  const p = planDump({ family: 2, protocol: 17, zone: 7, mark: { value: 0x1, mask: 0xf } }, s);
  assert.ok(p.ok);
  if (!p.ok) return;
  assert.equal(p.filters, [{ family: 'ipv4', zone: 7, mark: 0x11, markMask: 0xff }]);
  assert.not.ok(p.kernelExact, 'protocol narrowing is the scanner\'s job');
  assert.ok(p.matcher.matches({ family: 2, protocol: 17, zone: 7, mark: 0x11 }));
  assert.not.ok(p.matcher.matches({ family: 2, protocol: 17, zone: 7, mark: 0x12 }));
  assert.not.ok(p.matcher.matches({ family: 2, protocol: 17, zone: 5, mark: 0x11 }));
});

test('checkCreate and checkMarkUpdate', () => {
  const s = scope({ zones: [5], protocols: ['tcp'], mark: { value: 0x100, mask: 0xf00 }, markBits: 0xff });
  const m = ScopeMatcher.of(s);
  assert.is(checkCreate({ family: 2, protocol: 6, zone: 5, mark: 0x101 }, m), null);
  assert.is(checkCreate({ family: 2, protocol: 6, mark: 0x100 }, m), 'zone 0 is outside the grant');
  assert.is(checkCreate({ family: 2, protocol: 17, zone: 5, mark: 0x100 }, m), 'protocol udp is outside the grant');
  assert.is(checkCreate({ family: 2, protocol: 6, zone: 5 }, m), 'mark 0x0 is outside the grant');
  assert.is(checkMarkUpdate(0x1aa, { value: 0x55, mask: 0xff }, s, m), 0x155);
  assert.is(checkMarkUpdate(0x1aa, { value: 0x200, mask: 0xf00 }, s, m), 'mark bits 0xf00 may not be changed (grant allows 0xff)');
  const none = scope({ markBits: null });
  assert.is(checkMarkUpdate(0, { value: 1, mask: 1 }, none, ScopeMatcher.of(none)), 'mark bits 0x1 may not be changed (grant allows none)');
});

test('checkMarkUpdate: the new mark must stay inside the grant\'s mark filter (mark 0x10/0xf0, markBits 0xff overlap in 0xf0)', () => {
  const s = scope({ mark: { value: 0x10, mask: 0xf0 }, markBits: 0xff });
  const m = ScopeMatcher.of(s);
  assert.is(checkMarkUpdate(0x10, { value: 0x0f, mask: 0x0f }, s, m), 0x1f, 'bits outside the filter: fine');
  assert.is(checkMarkUpdate(0x1a, { value: 0x15, mask: 0xff }, s, m), 0x15, 'filter bits kept: fine');
  assert.is(checkMarkUpdate(0x10, { value: 0x20, mask: 0xf0 }, s, m), 'new mark 0x20 would be outside the grant');
  assert.is(checkMarkUpdate(0x1a, { value: 0x2a, mask: 0xff }, s, m), 'new mark 0x2a would be outside the grant');
});

test('checkMarkUpdate with conntrack\'s rule (xor): the value\'s bits outside the mask are toggled, so they must be grantable too', () => {
  const s = scope({ markBits: 0xff00 }), m = ScopeMatcher.of(s);
  // conntrack -U -m 0x301/0xff00 on mark 0x200: (0x200 & ~0xff00) ^ 0x301 = 0x301
  assert.is(checkMarkUpdate(0x200, { value: 0x301, mask: 0xff00, xor: true }, s, m), 'mark bits 0x1 may not be changed (grant allows 0xff00)');
  const all = scope({ markBits: 0xffffffff });
  assert.is(checkMarkUpdate(0x200, { value: 0x301, mask: 0xff00, xor: true }, all, ScopeMatcher.of(all)), 0x301);
  assert.is(checkMarkUpdate(0x201, { value: 0x301, mask: 0xff00, xor: true }, all, ScopeMatcher.of(all)), 0x300);
  assert.is(checkMarkUpdate(0x201, { value: 0x301, mask: 0xff00 }, all, ScopeMatcher.of(all)), 0x301, 'the v1 rule: the masked bits replace');
});

test('the kernel-version gate of zone-filtered deletes: 6.8 and later only', () => {
  assert.equal(['5.15.0', '6.7.12', '6.8.0', '6.18.44-fc', '7.0.1'].map((r) => kernelFiltersDeleteByZone(r)), [false, false, true, true, true]);
});

test.run();
