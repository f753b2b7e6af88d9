import { encode } from '@msgpack/msgpack';
import type { Pool } from '@app/database';

const SERVER_SIDE_EMIT = 9;
const PAYLOAD_THRESHOLD = 8000;

/**
 * Sends server-side events to every Socket.IO node that uses @socket.io/postgres-adapter, in the adapter's
 * own wire format (NOTIFY on `socket.io#/`, msgpack attachments for payloads over 8000 bytes).
 *
 * Why not @socket.io/postgres-emitter 0.1.1: its messages carry no `nsp`, and the cluster adapter of
 * socket.io-adapter 2.5 (used by postgres-adapter 0.5) drops messages for another namespace — nothing
 * arrives; and when a publish fails it emits an "error" event to every client, which publishes again.
 */
export class PostgresSocketEmitter {
  private readonly channel: string;

  constructor(private readonly pool: Pool, private readonly options: { namespace?: string; tableName?: string } = {}) {
    this.channel = `socket.io#${options.namespace ?? '/'}`;
  }

  async serverSideEmit(event: string, payload: unknown): Promise<void> {
    const message = { uid: 'emitter', nsp: this.options.namespace ?? '/', type: SERVER_SIDE_EMIT, data: { packet: [event, payload] } };
    const json = JSON.stringify(message);
    if (Buffer.byteLength(json) <= PAYLOAD_THRESHOLD) {
      await this.pool.query('SELECT pg_notify($1, $2)', [this.channel, json]);
      return;
    }
    const table = this.options.tableName ?? 'socket_io_attachments';
    const { rows } = await this.pool.query<{ id: string }>(`INSERT INTO ${table} (payload) VALUES ($1) RETURNING id`, [Buffer.from(encode(message))]);
    await this.pool.query('SELECT pg_notify($1, $2)', [this.channel, JSON.stringify({ uid: 'emitter', type: SERVER_SIDE_EMIT, attachmentId: rows[0].id })]);
  }
}
