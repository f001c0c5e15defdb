// The shipped Grafana dashboard and alert rules use metrics the agent exports (names checked against
// its registry), and the registry renders the Prometheus text format with the host label.
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentMetrics } from '../../host/metrics/metrics.js';
import { censusKey } from '../../host/metrics/census.js';
import { parseListen } from '../../host/metrics/server.js';

const t = suite('fleet metrics');

async function exported(): Promise<{ names: Set<string>; text: string }> {
  const m = new AgentMetrics('edge-1');
  m.census('.', { counts: new Map([[censusKey(5, 'tcp', 'ESTABLISHED'), 3]]), total: 3, ms: 1 });
  m.publisher('ctplug.edge-1.flows', () => ({ records: 7, messages: 1, outageGaps: 1, overrunGaps: 0, restartGaps: 0, lostRecords: 2, lostMessages: 1, retries: 0, bufferedBytes: 0, bufferedMessages: 0, oldestUnackedMs: 0, lastLagMs: 1 }));
  m.publishLag.observe({ subject: 'ctplug.edge-1.flows' }, 0.01);
  const names = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
  for (const n of [...names]) if (String((await m.registry.getSingleMetric(n)!.get()).type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(n + s);
  return { names, text: await m.text() };
}

const used = (text: string) => new Set([...text.matchAll(/\b(ctplug_[a-z_]+)/g)].map((x) => x[1]));

t('the Grafana dashboard and the alert rules name only exported metrics', async () => {
  const { names } = await exported();
  const dash = readFileSync('host/metrics/grafana-dashboard.json', 'utf8');
  JSON.parse(dash);
  const alerts = readFileSync('host/metrics/prometheus-alerts.yml', 'utf8');
  for (const n of [...used(dash), ...used(alerts)]) assert.ok(names.has(n), `${n} is not exported`);
  assert.ok(used(dash).has('ctplug_conntrack_entries') && used(dash).has('ctplug_events_total') && used(dash).has('ctplug_nats_gaps_total') && used(dash).has('ctplug_plugin_failures_total'));
});

t('text format: census samples by zone/protocol/state, publisher counters, the host label', async () => {
  const { text } = await exported();
  assert.match(text, /^ctplug_conntrack_entries\{netns="\.",zone="5",protocol="tcp",state="ESTABLISHED",host="edge-1"\} 3$/m);
  assert.match(text, /^ctplug_nats_lost_records_total\{subject="ctplug\.edge-1\.flows",host="edge-1"\} 2$/m);
  assert.match(text, /^# TYPE ctplug_nats_gaps_total counter$/m);
});

t('--metrics ADDR:PORT', () => {
  assert.equal(parseListen('127.0.0.1:9477'), { host: '127.0.0.1', port: 9477 });
  assert.equal(parseListen(':9477'), { host: '0.0.0.0', port: 9477 });
  assert.equal(parseListen('[::1]:9477'), { host: '::1', port: 9477 });
  assert.is(parseListen('9477'), undefined);
  assert.is(parseListen('h:70000'), undefined);
});

t.run();
