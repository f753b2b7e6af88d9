import type { Migration } from '@app/database';

/**
 * Global order is (transaction_id, global_position). Readers only see events whose transaction id is
 * below the oldest running transaction (pg_snapshot_xmin), so an event can never appear behind a
 * position a reader has already passed, even though transactions commit out of sequence order.
 */
export const eventStoreMigrations: Migration[] = [
  {
    id: 'event-store/001-init',
    sql: `
CREATE TABLE es_streams (
  stream_id text PRIMARY KEY,
  revision bigint NOT NULL
);
CREATE TABLE es_events (
  global_position bigint GENERATED ALWAYS AS IDENTITY,
  transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  event_id uuid NOT NULL,
  stream_id text NOT NULL,
  revision bigint NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT statement_timestamp(),
  PRIMARY KEY (transaction_id, global_position),
  UNIQUE (stream_id, revision),
  UNIQUE (event_id)
);
CREATE INDEX es_events_type ON es_events (type, transaction_id, global_position);

-- Appends a batch to one stream in a single round trip. Returns status 'ok', 'duplicate'
-- (exact retry of an earlier append) or 'wrong_expected' with the actual revision (-1 = no stream).
CREATE FUNCTION es_append(p_stream text, p_mode text, p_expected bigint, p_events jsonb)
RETURNS TABLE (status text, revision bigint, tx text, pos bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_current bigint;
  v_count int := jsonb_array_length(p_events);
  v_first uuid := (p_events->0->>'id')::uuid;
  v_dup_stream text;
  v_dup_rev bigint;
BEGIN
  -- Appenders to one stream queue here first. Waiting for the row lock (or losing the INSERT race)
  -- can hand a transaction its id before it owns the stream; appending later under that older id
  -- would put its events before earlier revisions of the stream in $all. An advisory lock takes no id.
  PERFORM pg_advisory_xact_lock(1702, hashtext(p_stream));
  SELECT s.revision INTO v_current FROM es_streams s WHERE s.stream_id = p_stream FOR UPDATE;
  IF NOT FOUND THEN
    IF p_mode IN ('no_stream', 'any') THEN
      INSERT INTO es_streams AS s (stream_id, revision) VALUES (p_stream, -1) ON CONFLICT DO NOTHING;
      IF NOT FOUND THEN
        -- Someone created it concurrently: lock it and decide against its real revision.
        SELECT s.revision INTO v_current FROM es_streams s WHERE s.stream_id = p_stream FOR UPDATE;
      ELSE
        v_current := -1;
      END IF;
    ELSE
      v_current := -1;
    END IF;
  END IF;

  -- Exact retry of an append that already happened: answer as the first time did.
  SELECT e.stream_id, e.revision INTO v_dup_stream, v_dup_rev FROM es_events e WHERE e.event_id = v_first;
  IF FOUND THEN
    IF v_dup_stream = p_stream AND (
      SELECT count(*) FROM es_events e
      JOIN jsonb_array_elements(p_events) WITH ORDINALITY AS n(ev, ord) ON e.event_id = (n.ev->>'id')::uuid
      WHERE e.stream_id = p_stream AND e.revision = v_dup_rev + n.ord - 1) = v_count THEN
      RETURN QUERY SELECT 'duplicate'::text, e.revision, e.transaction_id::text, e.global_position
        FROM es_events e WHERE e.stream_id = p_stream AND e.revision = v_dup_rev + v_count - 1;
      RETURN;
    END IF;
    RETURN QUERY SELECT 'id_conflict'::text, v_dup_rev, NULL::text, NULL::bigint;
    RETURN;
  END IF;

  IF (p_mode = 'no_stream' AND v_current <> -1)
     OR (p_mode = 'stream_exists' AND v_current = -1)
     OR (p_mode = 'exact' AND v_current <> p_expected) THEN
    RETURN QUERY SELECT 'wrong_expected'::text, v_current, NULL::text, NULL::bigint;
    RETURN;
  END IF;

  IF v_current = -1 AND p_mode NOT IN ('no_stream', 'any') THEN
    INSERT INTO es_streams (stream_id, revision) VALUES (p_stream, -1);
  END IF;

  RETURN QUERY
  WITH inserted AS (
    INSERT INTO es_events (event_id, stream_id, revision, type, data, metadata)
    SELECT (n.ev->>'id')::uuid, p_stream, v_current + n.ord, n.ev->>'type', n.ev->'data', n.ev->'metadata'
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS n(ev, ord)
    RETURNING es_events.global_position
  ), upd AS (
    UPDATE es_streams s SET revision = v_current + v_count WHERE s.stream_id = p_stream
  )
  SELECT 'ok'::text, v_current + v_count, pg_current_xact_id()::text, (SELECT max(i.global_position) FROM inserted i);
END;
$$;
`,
  },
];
