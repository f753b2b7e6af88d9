import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

export interface Reply {
  status: number;
  /** Answer after this long. */
  delayMs?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Send the status and headers, then one byte of body every this many ms, never finishing (until the sender hangs up). */
  trickleEveryMs?: number;
}

/** Decides the answer to one request; 'stall' never answers (until the receiver stops). */
export type Behaviour = (request: ReceivedRequest, index: number) => Reply | 'stall';

/**
 * A real HTTP server on loopback that records every request and answers as told: it can fail (any
 * status), stall (never answer), go down (connections refused) and come back on the same port.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly stalled = new Set<http.ServerResponse>();
  /** Requests being answered right now, per path (to check concurrency limits). */
  readonly open = new Map<string, number>();
  readonly maxOpen = new Map<string, number>();
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** How requests to `path` are answered (default 204); `index` counts the requests to that path. */
  on(path: string, behaviour: Behaviour): void {
    this.behaviours.set(path, behaviour);
  }

  /** Requests to one path (each endpoint in a test gets its own path). */
  at(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async up(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const request: ReceivedRequest = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), receivedAt: Date.now() };
        this.requests.push(request);
        const path = request.path;
        const open = (this.open.get(path) ?? 0) + 1;
        this.open.set(path, open);
        this.maxOpen.set(path, Math.max(open, this.maxOpen.get(path) ?? 0));
        res.on('close', () => this.open.set(path, (this.open.get(path) ?? 1) - 1));
        const behaviour: Behaviour = this.behaviours.get(path) ?? (() => ({ status: 204 }));
        const reply = behaviour(request, this.at(path).length - 1);
        if (reply === 'stall') {
          this.stalled.add(res);
          return;
        }
        const send = () => {
          res.writeHead(reply.status, reply.headers);
          if (!reply.trickleEveryMs) return res.end(reply.body);
          res.flushHeaders();
          const trickle = setInterval(() => res.write('.'), reply.trickleEveryMs);
          res.on('close', () => clearInterval(trickle));
          this.stalled.add(res);
        };
        if (reply.delayMs) setTimeout(send, reply.delayMs);
        else send();
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Down: stops listening and cuts every open connection, so senders see refused or reset connections. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.stalled.clear();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  async close(): Promise<void> {
    await this.down();
  }
}
