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
-- Tuned for the common case (see bench/event-store-appends.bench.ts): three statements — lock, one
-- read (stream revision and duplicate probe together), one write (stream row and events together) —
-- and one result row through OUT parameters instead of a set-returning function.
CREATE FUNCTION es_append(p_stream text, p_mode text, p_expected bigint, p_events jsonb,
  OUT status text, OUT revision bigint, OUT tx text, OUT pos bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_current bigint;
  v_count int := jsonb_array_length(p_events);
  v_first uuid := (p_events->0->>'id')::uuid;
  v_dup_stream text;
  v_dup_rev bigint;
  v_written int;
BEGIN
  -- Appenders to one stream queue here first. Waiting for the row lock (or losing the INSERT race)
  -- can hand a transaction its id before it owns the stream; appending later under that older id
  -- would put its events before earlier revisions of the stream in $all. An advisory lock takes no id.
  PERFORM pg_advisory_xact_lock(1702, hashtext(p_stream));
  -- Every writer of es_streams holds that lock, and it is released only after the holder's commit is
  -- visible, so this read (a new statement, a new snapshot) sees the stream's last committed revision
  -- without a row lock. The write below still checks it (revision = v_current) as a safety net.
  SELECT (SELECT s.revision FROM es_streams s WHERE s.stream_id = p_stream), d.stream_id, d.revision
    INTO v_current, v_dup_stream, v_dup_rev
    FROM (VALUES (1)) AS one (x) LEFT JOIN es_events d ON d.event_id = v_first;

  -- Exact retry of an append that already happened: answer as the first time did.
  IF v_dup_stream IS NOT NULL THEN
    IF v_dup_stream = p_stream AND (
      SELECT count(*) FROM es_events e
      JOIN jsonb_array_elements(p_events) WITH ORDINALITY AS n(ev, ord) ON e.event_id = (n.ev->>'id')::uuid
      WHERE e.stream_id = p_stream AND e.revision = v_dup_rev + n.ord - 1) = v_count THEN
      SELECT 'duplicate', e.revision, e.transaction_id::text, e.global_position INTO status, revision, tx, pos
        FROM es_events e WHERE e.stream_id = p_stream AND e.revision = v_dup_rev + v_count - 1;
      RETURN;
    END IF;
    status := 'id_conflict';
    revision := v_dup_rev;
    RETURN;
  END IF;

  -- A stream row at -1 (left by an append that answered id_conflict) counts as no stream.
  IF (p_mode = 'no_stream' AND coalesce(v_current, -1) <> -1)
     OR (p_mode = 'stream_exists' AND coalesce(v_current, -1) = -1)
     OR (p_mode = 'exact' AND coalesce(v_current, -1) <> p_expected) THEN
    status := 'wrong_expected';
    revision := coalesce(v_current, -1);
    RETURN;
  END IF;

  IF v_current IS NULL THEN
    WITH stream AS (
      INSERT INTO es_streams (stream_id, revision) VALUES (p_stream, v_count - 1) RETURNING 1
    ), inserted AS (
      INSERT INTO es_events (event_id, stream_id, revision, type, data, metadata)
      SELECT (n.ev->>'id')::uuid, p_stream, n.ord - 1, n.ev->>'type', n.ev->'data', n.ev->'metadata'
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS n(ev, ord)
      RETURNING es_events.global_position
    )
    SELECT max(i.global_position), (SELECT count(*) FROM stream), pg_current_xact_id()::text
      INTO pos, v_written, tx FROM inserted i;
    revision := v_count - 1;
  ELSE
    WITH stream AS (
      UPDATE es_streams s SET revision = v_current + v_count
      WHERE s.stream_id = p_stream AND s.revision = v_current RETURNING 1
    ), inserted AS (
      INSERT INTO es_events (event_id, stream_id, revision, type, data, metadata)
      SELECT (n.ev->>'id')::uuid, p_stream, v_current + n.ord, n.ev->>'type', n.ev->'data', n.ev->'metadata'
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS n(ev, ord)
      RETURNING es_events.global_position
    )
    SELECT max(i.global_position), (SELECT count(*) FROM stream), pg_current_xact_id()::text
      INTO pos, v_written, tx FROM inserted i;
    revision := v_current + v_count;
  END IF;
  IF v_written <> 1 THEN
    RAISE EXCEPTION 'es_append: stream % changed outside es_append', p_stream USING ERRCODE = 'serialization_failure';
  END IF;
  status := 'ok';
END;
$$;
`,
  },
  {
    // Many appends in one transaction (AppendBatcher): es_append per stream, in one lock order so that
    // concurrent batches cannot deadlock. Exact expected revisions or no_stream only (the batcher's
    // interface): then a stream written meanwhile is a wrong_expected, never an append that $all would
    // order before that write (this transaction may already hold an older id when it reaches the lock).
    id: 'event-store/002-append-many',
    sql: `
CREATE FUNCTION es_append_many(p_appends jsonb)
RETURNS TABLE (ord int, status text, revision bigint, tx text, pos bigint)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  a record;
BEGIN
  FOR r IN SELECT n.value AS v, n.ordinality::int AS o FROM jsonb_array_elements(p_appends) WITH ORDINALITY AS n
           ORDER BY hashtext(n.value->>'stream'), n.value->>'stream', n.ordinality
  LOOP
    IF r.v->>'mode' NOT IN ('exact', 'no_stream') THEN
      RAISE EXCEPTION 'es_append_many: mode % is not exact or no_stream', r.v->>'mode';
    END IF;
    SELECT * INTO a FROM es_append(r.v->>'stream', r.v->>'mode', (r.v->>'expected')::bigint, r.v->'events');
    ord := r.o;
    status := a.status;
    revision := a.revision;
    tx := a.tx;
    pos := a.pos;
    RETURN NEXT;
  END LOOP;
END;
$$;`,
  },
  {
    // Every append goes through groups now (GroupCommit), with any expected-revision mode. The group takes the
    // lock of every stream it writes before it writes any, in one order (so concurrent groups cannot deadlock):
    // its transaction id is assigned at its first write, when no other writer can still be ahead of it on any of
    // its streams, so $all keeps each stream's order for 'any' and 'stream_exists' appends as well.
    id: 'event-store/003-append-many-locks-first',
    sql: `
CREATE OR REPLACE FUNCTION es_append_many(p_appends jsonb)
RETURNS TABLE (ord int, status text, revision bigint, tx text, pos bigint)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  a record;
BEGIN
  FOR r IN SELECT DISTINCT hashtext(n.value->>'stream') AS h FROM jsonb_array_elements(p_appends) AS n ORDER BY 1
  LOOP
    PERFORM pg_advisory_xact_lock(1702, r.h);
  END LOOP;
  FOR r IN SELECT n.value AS v, n.ordinality::int AS o FROM jsonb_array_elements(p_appends) WITH ORDINALITY AS n
           ORDER BY hashtext(n.value->>'stream'), n.value->>'stream', n.ordinality
  LOOP
    IF r.v->>'mode' NOT IN ('any', 'no_stream', 'stream_exists', 'exact') THEN
      RAISE EXCEPTION 'es_append_many: unknown mode %', r.v->>'mode';
    END IF;
    SELECT * INTO a FROM es_append(r.v->>'stream', r.v->>'mode', (r.v->>'expected')::bigint, r.v->'events');
    ord := r.o;
    status := a.status;
    revision := a.revision;
    tx := a.tx;
    pos := a.pos;
    RETURN NEXT;
  END LOOP;
END;
$$;`,
  },
];
