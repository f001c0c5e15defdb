// GET /metrics in the Prometheus text format on ADDR:PORT; anything else is 404. Plain HTTP: put it
// on a management address, or behind the scraper's own TLS proxy.
import { createServer, type Server } from 'node:http';
import type { AgentMetrics } from './metrics.js';

export interface Listen { host: string; port: number }

/** "ADDR:PORT", "[V6]:PORT" or ":PORT" (all addresses). */
export function parseListen(v: string): Listen | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  if (!m || Number(m[3]) > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

export async function serveMetrics(metrics: AgentMetrics, at: Listen): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('ctplug agent: only GET /metrics is served\n');
      return;
    }
    metrics.text().then((body) => {
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body);
    }, (e: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => { server.off('error', reject); resolve(); });
  });
  return server;
}
