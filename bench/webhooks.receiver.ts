// Child process of the webhooks section: the receiver, on its own event loop so that neither the event
// writer nor the raw loop in the parent delays its answers. It stamps each arrival with the wall clock
// (performance.timeOrigin + now) and reports event → receipt latencies when asked.
//   parent → child: {type: 'reset'} | {type: 'until', n, timeoutMs}
//   child → parent: {type: 'ready', url} | {type: 'reset'} | {type: 'reached', latencies, lastAt} | {type: 'timeout', received}
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const now = () => performance.timeOrigin + performance.now();
let latencies: number[] = [];
let lastAt = 0;
let waiting: { n: number; timer: NodeJS.Timeout } | null = null;

const reply = (message: unknown) => process.send!(message);

function check(): void {
  if (waiting && latencies.length >= waiting.n) {
    clearTimeout(waiting.timer);
    waiting = null;
    reply({ type: 'reached', latencies, lastAt });
  }
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const at = now();
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { sentAt: number } };
    latencies.push(at - body.data.sentAt);
    lastAt = at;
    res.writeHead(204).end();
    check();
  });
});

process.on('message', (message: { type: 'reset' } | { type: 'until'; n: number; timeoutMs: number }) => {
  if (message.type === 'reset') {
    latencies = [];
    reply({ type: 'reset' });
  } else {
    waiting = { n: message.n, timer: setTimeout(() => ((waiting = null), reply({ type: 'timeout', received: latencies.length })), message.timeoutMs) };
    check();
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => reply({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
