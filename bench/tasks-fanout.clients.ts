// Child process of the tasks bench: N Socket.IO clients on one server. Each records, for every event it
// receives, now − the event's timestamp. Talks to the parent over IPC: start → ready → done → latencies.
import { io, type Socket } from 'socket.io-client';

interface Start {
  url: string;
  token: string | null;
  clients: number;
  /** ours: subscribe to task.* and time task events; raw: time the bare server's `raw` broadcasts. */
  mode: 'ours' | 'raw';
}

const latencies: number[] = [];
const sockets: Socket[] = [];

async function connect(start: Start): Promise<void> {
  for (let i = 0; i < start.clients; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, start.clients - i) }, async () => {
        const socket = io(start.url, { auth: start.token ? { token: start.token } : {}, transports: ['websocket'], reconnection: false, forceNew: true });
        sockets.push(socket);
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        });
        if (start.mode === 'raw') {
          socket.on('raw', (payload: { timestamp: number }) => latencies.push(Date.now() - payload.timestamp));
        } else {
          socket.onAny((_name: string, payload: { timestamp: string; position: string | null }) => {
            if (payload.position !== null) latencies.push(Date.now() - Date.parse(payload.timestamp));
          });
          const ack = await socket.timeout(30_000).emitWithAck('subscribe', { types: ['task.*'] });
          if (ack.error) throw new Error(JSON.stringify(ack.error));
        }
      }),
    );
  }
}

process.on('message', (message: { start?: Start; done?: true }) => {
  if (message.start) {
    connect(message.start).then(
      () => process.send!({ ready: true }),
      (error: Error) => process.send!({ error: error.message }),
    );
  } else if (message.done) {
    for (const s of sockets) s.close();
    process.send!({ latencies }, () => process.exit(0));
  }
});
