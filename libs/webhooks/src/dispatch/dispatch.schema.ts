import type { Migration } from '@app/database';

/**
 * The process manager's delivery tables. webhook_queue is its work index of delivery streams: one row per
 * delivery not yet settled (settled ones are deleted or pruned), with the stream revision it reflects.
 * webhook_claim stores finished outcomes and reads due rows in one round trip. Since migration 104 each
 * endpoint has one owner at a time (webhook_endpoint_owners), which alone sends its deliveries, so its
 * concurrency limit is kept in the owner's memory; until then every row sent had a lease of its own.
 */
export const webhookDispatchMigrations: Migration[] = [
  {
    id: 'webhooks/100-dispatch',
    sql: `
CREATE TABLE webhook_router_checkpoint (
  name text PRIMARY KEY,
  position_commit bigint NOT NULL,
  position_prepare bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE webhook_queue (
  delivery_id uuid PRIMARY KEY,
  endpoint_id text NOT NULL,
  message_id text NOT NULL,
  correlation_id text NOT NULL,
  status text NOT NULL,
  revision bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  retry_base integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  claimed_until timestamptz NOT NULL DEFAULT '-infinity',
  claimed_by text,
  claims integer NOT NULL DEFAULT 0,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_queue_due ON webhook_queue (endpoint_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_queue_in_flight ON webhook_queue (endpoint_id) WHERE status = 'pending' AND claimed_until > '-infinity';
CREATE TABLE webhook_rate_buckets (
  endpoint_id text PRIMARY KEY,
  tokens double precision NOT NULL,
  refilled_at timestamptz NOT NULL
);
CREATE TABLE webhook_endpoint_failures (
  endpoint_id text PRIMARY KEY,
  failing_since timestamptz
);
CREATE TABLE webhook_replay_jobs (
  replay_id text PRIMARY KEY,
  endpoint_id text NOT NULL,
  since timestamptz NOT NULL,
  until timestamptz NOT NULL,
  position_commit bigint NOT NULL DEFAULT -1,
  position_prepare bigint NOT NULL DEFAULT -1,
  scheduled integer NOT NULL DEFAULT 0,
  done boolean NOT NULL DEFAULT false
);

CREATE FUNCTION webhook_claim(
  p_owner text,
  p_done_ids uuid[], p_done_status text[], p_done_revision bigint[], p_done_attempts integer[], p_done_next timestamptz[],
  p_endpoints text[], p_concurrency integer[], p_rate double precision[], p_lease_ms integer[], p_any_time boolean[]
) RETURNS TABLE (delivery_id uuid, endpoint_id text, message_id text, correlation_id text, revision bigint, attempts integer, retry_base integer, claims integer, payload jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now timestamptz := clock_timestamp();
  v_free integer;
  v_tokens double precision;
  v_burst double precision;
  v_taken integer;
  r record;
BEGIN
  -- Finished attempts first: their slots count as free below. Only the lease holder completes; a row that
  -- moved on meanwhile (a redelivery request) keeps its newer state and only loses the lease.
  UPDATE webhook_queue q SET
    status = CASE WHEN q.revision <= c.revision THEN c.status ELSE q.status END,
    attempts = CASE WHEN q.revision <= c.revision THEN c.attempts ELSE q.attempts END,
    next_attempt_at = CASE WHEN q.revision <= c.revision THEN coalesce(c.next_at, q.next_attempt_at) ELSE q.next_attempt_at END,
    revision = greatest(q.revision, c.revision),
    claimed_until = '-infinity',
    claimed_by = NULL
  FROM unnest(p_done_ids, p_done_status, p_done_revision, p_done_attempts, p_done_next) AS c(id, status, revision, attempts, next_at)
  WHERE q.delivery_id = c.id AND q.claimed_by = p_owner;

  FOR i IN 1 .. coalesce(array_length(p_endpoints, 1), 0) LOOP
    PERFORM pg_advisory_xact_lock(1703, hashtext(p_endpoints[i]));
    SELECT p_concurrency[i] - count(*) INTO v_free FROM webhook_queue q
      WHERE q.endpoint_id = p_endpoints[i] AND q.status = 'pending' AND q.claimed_until > '-infinity' AND q.claimed_until > v_now;
    CONTINUE WHEN v_free <= 0;
    IF p_rate[i] IS NOT NULL THEN
      v_burst := greatest(p_rate[i], 1);
      INSERT INTO webhook_rate_buckets AS b VALUES (p_endpoints[i], v_burst, v_now) ON CONFLICT DO NOTHING;
      SELECT least(v_burst, b.tokens + extract(epoch FROM v_now - b.refilled_at) * p_rate[i]) INTO v_tokens
        FROM webhook_rate_buckets b WHERE b.endpoint_id = p_endpoints[i];
      v_free := least(v_free, floor(v_tokens)::integer);
      CONTINUE WHEN v_free <= 0;
    END IF;
    v_taken := 0;
    FOR r IN
      UPDATE webhook_queue q SET claimed_until = v_now + p_lease_ms[i] * interval '1 millisecond', claimed_by = p_owner, claims = q.claims + 1
      FROM (SELECT w.delivery_id FROM webhook_queue w
            WHERE w.endpoint_id = p_endpoints[i] AND w.status = 'pending' AND (p_any_time[i] OR w.next_attempt_at <= v_now) AND w.claimed_until <= v_now
            ORDER BY w.next_attempt_at LIMIT v_free FOR UPDATE SKIP LOCKED) AS picked
      WHERE q.delivery_id = picked.delivery_id
      RETURNING q.delivery_id, q.endpoint_id, q.message_id, q.correlation_id, q.revision, q.attempts, q.retry_base, q.claims, q.payload
    LOOP
      delivery_id := r.delivery_id; endpoint_id := r.endpoint_id; message_id := r.message_id; correlation_id := r.correlation_id; revision := r.revision;
      attempts := r.attempts; retry_base := r.retry_base; claims := r.claims; payload := r.payload;
      v_taken := v_taken + 1;
      RETURN NEXT;
    END LOOP;
    IF p_rate[i] IS NOT NULL THEN
      UPDATE webhook_rate_buckets b SET tokens = v_tokens - v_taken, refilled_at = v_now WHERE b.endpoint_id = p_endpoints[i];
    END IF;
  END LOOP;
END;
$$;`,
  },
  {
    id: 'webhooks/101-queue-retention',
    sql: `CREATE INDEX webhook_queue_settled ON webhook_queue (created_at) WHERE status <> 'pending';`,
  },
  {
    // PL/pgSQL caches a generic plan per connection after a few calls. One made while webhook_queue was
    // small seq-scans the whole queue on every completion for the life of the connection (the bench saw
    // a claim round take 10 ms at 2k rows, growing with the table). Every statement in it has an index
    // path, so it plans each call afresh and never scans the table.
    id: 'webhooks/102-claim-plans',
    // The in-flight count reads only the leased rows: with claimed_until in the key it is an index condition,
    // so the planner no longer counts through an endpoint's whole backlog on the due index.
    sql: `DROP INDEX webhook_queue_in_flight;
CREATE INDEX webhook_queue_in_flight ON webhook_queue (endpoint_id, claimed_until) WHERE status = 'pending' AND claimed_until > '-infinity';
ALTER FUNCTION webhook_claim(text, uuid[], text[], bigint[], integer[], timestamptz[], text[], integer[], double precision[], integer[], boolean[])
  SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION webhook_claim(text, uuid[], text[], bigint[], integer[], timestamptz[], text[], integer[], double precision[], integer[], boolean[])
  SET enable_seqscan = off;`,
  },
  {
    // A delivery's stream starts with its first attempt: the router only stores the queue row (revision -1,
    // with what the Scheduled event will say in \`scheduled\`), in the transaction that moves its checkpoint;
    // the dispatcher appends Scheduled together with the first outcome. One append per delivery instead of two.
    id: 'webhooks/103-scheduled-with-first-attempt',
    // The api lists those rows beside the read model's (newest first, by the Scheduled event's time).
    // Plans are cached again (planning every statement on every call was half the claim's cost); with
    // sequential scans off for the function, the cached generic plans keep to the indexes.
    // p_sent: an endpoint's concurrency limits requests open at it, so a lease whose request has finished and
    // is being recorded frees its slot (the lease itself stays until the outcome is recorded). p_prefetch: a
    // caller may hold that many rows ready beyond what it may start (p_idle of them already), and start one
    // the moment one of its own requests finishes, without a round trip; the first row per endpoint, with no
    // delivery, says how many it may start now.
    sql: `ALTER TABLE webhook_queue ADD COLUMN scheduled jsonb;
CREATE INDEX webhook_queue_unrecorded ON webhook_queue (endpoint_id, created_at DESC, delivery_id DESC) WHERE revision < 0 AND status = 'pending';
DROP FUNCTION webhook_claim(text, uuid[], text[], bigint[], integer[], timestamptz[], text[], integer[], double precision[], integer[], boolean[]);
CREATE FUNCTION webhook_claim(
  p_owner text,
  p_done_ids uuid[], p_done_status text[], p_done_revision bigint[], p_done_attempts integer[], p_done_next timestamptz[],
  p_endpoints text[], p_concurrency integer[], p_rate double precision[], p_lease_ms integer[], p_any_time boolean[],
  p_sent integer[] DEFAULT '{}', p_idle integer[] DEFAULT '{}', p_prefetch integer[] DEFAULT '{}'
) RETURNS TABLE (delivery_id uuid, endpoint_id text, message_id text, correlation_id text, revision bigint, attempts integer, retry_base integer, claims integer, payload jsonb, scheduled jsonb,
  startable integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now timestamptz := clock_timestamp();
  v_free integer;
  v_start integer;
  v_others integer;
  v_tokens double precision;
  v_burst double precision;
  v_taken integer;
  r record;
BEGIN
  -- Finished attempts first: their slots count as free below. Only the lease holder completes; a row that
  -- moved on meanwhile (a redelivery request) keeps its newer state and only loses the lease.
  UPDATE webhook_queue q SET
    status = CASE WHEN q.revision <= c.revision THEN c.status ELSE q.status END,
    attempts = CASE WHEN q.revision <= c.revision THEN c.attempts ELSE q.attempts END,
    next_attempt_at = CASE WHEN q.revision <= c.revision THEN coalesce(c.next_at, q.next_attempt_at) ELSE q.next_attempt_at END,
    revision = greatest(q.revision, c.revision),
    claimed_until = '-infinity',
    claimed_by = NULL
  FROM unnest(p_done_ids, p_done_status, p_done_revision, p_done_attempts, p_done_next) AS c(id, status, revision, attempts, next_at)
  WHERE q.delivery_id = c.id AND q.claimed_by = p_owner;

  FOR i IN 1 .. coalesce(array_length(p_endpoints, 1), 0) LOOP
    PERFORM pg_advisory_xact_lock(1703, hashtext(p_endpoints[i]));
    -- Leases of the caller that hold no request open at the endpoint: p_sent (the request finished, its outcome
    -- is being recorded) and p_idle (claimed ahead, not started). Everyone else's leases count as open.
    SELECT p_concurrency[i] - count(*) + coalesce(p_sent[i], 0) + coalesce(p_idle[i], 0), count(*) FILTER (WHERE q.claimed_by <> p_owner)
      INTO v_free, v_others FROM webhook_queue q
      WHERE q.endpoint_id = p_endpoints[i] AND q.status = 'pending' AND q.claimed_until > '-infinity' AND q.claimed_until > v_now;
    -- v_start: requests the caller may open now; v_free: rows to lease, up to p_prefetch held ready beyond that.
    -- Only a caller alone at the endpoint claims ahead: rows held ready count as open for every other process,
    -- so two processes holding ready rows could each leave the other no slot. Alone, it can always start its own.
    v_start := greatest(v_free, 0);
    v_free := v_start + CASE WHEN v_others = 0 THEN coalesce(p_prefetch[i], 0) ELSE 0 END - coalesce(p_idle[i], 0);
    IF p_rate[i] IS NOT NULL AND v_free > 0 THEN
      v_burst := greatest(p_rate[i], 1);
      INSERT INTO webhook_rate_buckets AS b VALUES (p_endpoints[i], v_burst, v_now) ON CONFLICT DO NOTHING;
      SELECT least(v_burst, b.tokens + extract(epoch FROM v_now - b.refilled_at) * p_rate[i]) INTO v_tokens
        FROM webhook_rate_buckets b WHERE b.endpoint_id = p_endpoints[i];
      v_free := least(v_free, floor(v_tokens)::integer);
    END IF;
    v_start := least(v_start, greatest(v_free, 0) + coalesce(p_idle[i], 0));
    -- One row per endpoint without a delivery: how many requests the caller may start now.
    delivery_id := NULL; endpoint_id := p_endpoints[i]; message_id := NULL; correlation_id := NULL; revision := NULL;
    attempts := NULL; retry_base := NULL; claims := NULL; payload := NULL; scheduled := NULL; startable := v_start;
    RETURN NEXT;
    startable := NULL;
    CONTINUE WHEN v_free <= 0;
    v_taken := 0;
    FOR r IN
      UPDATE webhook_queue q SET claimed_until = v_now + p_lease_ms[i] * interval '1 millisecond', claimed_by = p_owner, claims = q.claims + 1
      FROM (SELECT w.delivery_id FROM webhook_queue w
            WHERE w.endpoint_id = p_endpoints[i] AND w.status = 'pending' AND (p_any_time[i] OR w.next_attempt_at <= v_now) AND w.claimed_until <= v_now
            ORDER BY w.next_attempt_at LIMIT v_free FOR UPDATE SKIP LOCKED) AS picked
      WHERE q.delivery_id = picked.delivery_id
      RETURNING q.delivery_id, q.endpoint_id, q.message_id, q.correlation_id, q.revision, q.attempts, q.retry_base, q.claims, q.payload, q.scheduled
    LOOP
      delivery_id := r.delivery_id; endpoint_id := r.endpoint_id; message_id := r.message_id; correlation_id := r.correlation_id; revision := r.revision;
      attempts := r.attempts; retry_base := r.retry_base; claims := r.claims; payload := r.payload; scheduled := r.scheduled;
      v_taken := v_taken + 1;
      RETURN NEXT;
    END LOOP;
    IF p_rate[i] IS NOT NULL THEN
      UPDATE webhook_rate_buckets b SET tokens = v_tokens - v_taken, refilled_at = v_now WHERE b.endpoint_id = p_endpoints[i];
    END IF;
  END LOOP;
END;
$$;
ALTER FUNCTION webhook_claim(text, uuid[], text[], bigint[], integer[], timestamptz[], text[], integer[], double precision[], integer[], boolean[], integer[], integer[], integer[]) SET enable_seqscan = off;`,
  },
  {
    // Endpoint ownership instead of row leases. One process manager at a time owns an endpoint (a lease row,
    // renewed by its claim rounds); it alone reads, sends and completes that endpoint's rows, so it keeps the
    // concurrency limit in memory and a claimed row is only read, never written, until its outcome is known.
    // (A row lease was a full new version of the row per claim: 40 % of a claim round's time.)
    id: 'webhooks/104-endpoint-ownership',
    sql: `CREATE TABLE webhook_endpoint_owners (
  endpoint_id text PRIMARY KEY,
  owner text,
  until timestamptz NOT NULL,
  renewed_at timestamptz NOT NULL
);
CREATE TABLE webhook_dispatchers (
  owner text PRIMARY KEY,
  seen_at timestamptz NOT NULL
);
-- claims now means "a previous owner may have sent it" (> 0). Until now it counted claims, so every row claimed
-- under the previous scheme, which a process manager that is gone may have sent, counts as such.
DROP INDEX webhook_queue_in_flight;
ALTER TABLE webhook_queue DROP COLUMN claimed_until, DROP COLUMN claimed_by;
DROP FUNCTION webhook_claim(text, uuid[], text[], bigint[], integer[], timestamptz[], text[], integer[], double precision[], integer[], boolean[], integer[], integer[], integer[]);
CREATE FUNCTION webhook_claim(
  p_owner text, p_heartbeat boolean,
  p_done_ids uuid[], p_done_status text[], p_done_revision bigint[], p_done_attempts integer[], p_done_next timestamptz[],
  p_endpoints text[], p_want integer[], p_rate double precision[], p_lease_ms integer[], p_renew boolean[], p_any_time boolean[],
  p_exclude uuid[], p_release text[]
) RETURNS TABLE (delivery_id uuid, endpoint_id text, message_id text, correlation_id text, revision bigint, attempts integer, retry_base integer, claims integer, payload jsonb, scheduled jsonb,
  owned boolean, surplus boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now timestamptz := clock_timestamp();
  v_live integer;
  v_fair integer;
  v_owned integer;
  v_mine text[];
  v_found boolean;
  v_has boolean;
  v_rank integer := 0;
  v_want integer;
  v_tokens double precision;
  v_burst double precision;
  v_taken integer;
  o record;
  r record;
BEGIN
  IF p_heartbeat THEN
    INSERT INTO webhook_dispatchers AS d VALUES (p_owner, v_now) ON CONFLICT (owner) DO UPDATE SET seen_at = v_now;
    DELETE FROM webhook_dispatchers d WHERE d.seen_at < v_now - interval '1 minute';
  END IF;

  -- Each statement costs a few tens of microseconds even with nothing to do, and rounds are frequent: the
  -- steps below run only when there is something for them.
  IF cardinality(p_done_ids) > 0 THEN
    -- Plans are cached per connection, and delivered rows are deleted: a plan made while the queue was nearly
    -- empty (after a vacuum) must still find rows by key when it holds 30,000. Hence the rows are looked up by
    -- their ids (delivery_id = ANY) as well as joined to their outcomes, and the caller's endpoints are a value,
    -- not a join: either way a cached plan read the whole queue on every call (7-15 ms a call in the bench).
    v_mine := ARRAY(SELECT w.endpoint_id FROM webhook_endpoint_owners w WHERE w.owner = p_owner);
    -- Outcomes first. Only the owner of a row's endpoint completes it: a process that lost the endpoint (its
    -- lease ran out) leaves the row to the new owner, which sends it again under the same webhook-id if need be.
    -- A row that moved on meanwhile (a redelivery request) keeps its newer state. A delivered row is deleted:
    -- the queue is an index of work, the delivery's record is in the event store, and a redelivery queues it
    -- again from there (as it does once a settled row is pruned).
    DELETE FROM webhook_queue q
    USING unnest(p_done_ids, p_done_status, p_done_revision) AS c(id, status, revision)
    WHERE q.delivery_id = ANY(p_done_ids) AND q.delivery_id = c.id AND c.status = 'succeeded' AND q.revision <= c.revision AND q.endpoint_id = ANY(v_mine);
    -- The rest (retries, failures, cancels, rows handed back). A success left here moved on: nothing to change.
    IF NOT ('succeeded' = ALL(p_done_status)) THEN
      UPDATE webhook_queue q SET
        status = CASE WHEN q.revision <= c.revision THEN c.status ELSE q.status END,
        attempts = CASE WHEN q.revision <= c.revision THEN c.attempts ELSE q.attempts END,
        next_attempt_at = CASE WHEN q.revision <= c.revision THEN coalesce(c.next_at, q.next_attempt_at) ELSE q.next_attempt_at END,
        revision = greatest(q.revision, c.revision)
      FROM unnest(p_done_ids, p_done_status, p_done_revision, p_done_attempts, p_done_next) AS c(id, status, revision, attempts, next_at)
      WHERE q.delivery_id = ANY(p_done_ids) AND q.delivery_id = c.id AND q.endpoint_id = ANY(v_mine);
    END IF;
  END IF;

  -- Endpoints the caller is done with (nothing of theirs held in memory, outcomes stored above).
  IF cardinality(p_release) > 0 THEN
    UPDATE webhook_endpoint_owners w SET owner = NULL WHERE w.endpoint_id = ANY(p_release) AND w.owner = p_owner;
  END IF;

  IF cardinality(p_endpoints) > 0 THEN
    -- A fair share of the endpoints asked for, among the process managers seen in the last few seconds.
    SELECT greatest(count(*), 1) INTO v_live FROM webhook_dispatchers d WHERE d.seen_at > v_now - interval '5 seconds' OR d.owner = p_owner;
    v_fair := ceil(cardinality(p_endpoints)::numeric / v_live);
  END IF;
  FOR i IN 1 .. coalesce(array_length(p_endpoints, 1), 0) LOOP
    v_has := false;
    SELECT w.owner, w.until INTO o FROM webhook_endpoint_owners w WHERE w.endpoint_id = p_endpoints[i];
    v_found := FOUND;
    -- Another process's valid lease: nothing to take, nothing to lock (every process manager's rounds pass every
    -- endpoint, and wake on every NOTIFY of new deliveries).
    IF NOT coalesce(v_found AND o.owner <> p_owner AND o.until > v_now, false) THEN
      -- The caller's own lease, valid and not to be renewed: nobody else can take it now, there is nothing to lock.
      -- (coalesce: a released lease has no owner, and NOT of a null comparison would skip the lock.)
      IF NOT coalesce(v_found AND o.owner = p_owner AND o.until > v_now AND NOT p_renew[i], false) THEN
        -- Callers pass endpoints in one order, so these row locks never deadlock.
        SELECT w.owner, w.until INTO o FROM webhook_endpoint_owners w WHERE w.endpoint_id = p_endpoints[i] FOR UPDATE;
        v_found := FOUND;
      END IF;
      IF v_found AND o.owner = p_owner AND o.until > v_now THEN
        v_has := true;
        IF p_renew[i] THEN
          UPDATE webhook_endpoint_owners w SET until = v_now + p_lease_ms[i] * interval '1 millisecond', renewed_at = v_now WHERE w.endpoint_id = p_endpoints[i];
          PERFORM set_config('synchronous_commit', 'on', true);
        END IF;
      ELSIF NOT v_found OR o.owner IS NULL OR o.until <= v_now THEN
        IF v_owned IS NULL THEN
          SELECT count(*) INTO v_owned FROM webhook_endpoint_owners w WHERE w.owner = p_owner AND w.until > v_now;
        END IF;
        IF o.owner = p_owner OR v_owned < v_fair THEN
          IF NOT v_found THEN
            -- Not found: nobody has had it yet. ON CONFLICT: taken by another process an instant ago.
            INSERT INTO webhook_endpoint_owners VALUES (p_endpoints[i], p_owner, v_now + p_lease_ms[i] * interval '1 millisecond', v_now) ON CONFLICT DO NOTHING;
            v_has := FOUND;
          ELSE
            -- A holder whose lease ran out may have sent rows it never handed back (its success may sit in a batch
            -- event): such rows are checked against the delivery history before they are sent again.
            IF o.owner IS NOT NULL AND o.owner <> p_owner THEN
              UPDATE webhook_queue q SET claims = q.claims + 1 WHERE q.endpoint_id = p_endpoints[i] AND q.status = 'pending' AND q.revision < 0;
            END IF;
            UPDATE webhook_endpoint_owners w SET owner = p_owner, until = v_now + p_lease_ms[i] * interval '1 millisecond', renewed_at = v_now WHERE w.endpoint_id = p_endpoints[i];
            v_has := true;
          END IF;
          IF v_has THEN
            -- Who owns an endpoint must survive a database crash (the claim pool commits asynchronously otherwise).
            PERFORM set_config('synchronous_commit', 'on', true);
            v_owned := v_owned + 1;
          END IF;
        END IF;
      END IF;
    END IF;

    -- One row per endpoint without a delivery: owned or not, and owned beyond the fair share (another process
    -- manager joined: the caller drains it and lets it go).
    IF v_has THEN v_rank := v_rank + 1; END IF;
    delivery_id := NULL; endpoint_id := p_endpoints[i]; owned := v_has; surplus := v_has AND v_rank > v_fair;
    RETURN NEXT;
    owned := NULL; surplus := NULL;
    v_want := p_want[i];
    CONTINUE WHEN NOT v_has OR v_want <= 0;
    IF p_rate[i] IS NOT NULL THEN
      v_burst := greatest(p_rate[i], 1);
      INSERT INTO webhook_rate_buckets AS b VALUES (p_endpoints[i], v_burst, v_now) ON CONFLICT DO NOTHING;
      SELECT least(v_burst, b.tokens + extract(epoch FROM v_now - b.refilled_at) * p_rate[i]) INTO v_tokens
        FROM webhook_rate_buckets b WHERE b.endpoint_id = p_endpoints[i];
      v_want := least(v_want, floor(v_tokens)::integer);
      CONTINUE WHEN v_want <= 0;
    END IF;
    v_taken := 0;
    -- Rows are read, not written: the owner keeps what it holds in memory (p_exclude) until its outcome.
    FOR r IN
      SELECT w.delivery_id, w.endpoint_id, w.message_id, w.correlation_id, w.revision, w.attempts, w.retry_base, w.claims, w.payload, w.scheduled
      FROM webhook_queue w
      WHERE w.endpoint_id = p_endpoints[i] AND w.status = 'pending' AND (p_any_time[i] OR w.next_attempt_at <= v_now) AND NOT (w.delivery_id = ANY(p_exclude))
      ORDER BY w.next_attempt_at LIMIT v_want
    LOOP
      delivery_id := r.delivery_id; endpoint_id := r.endpoint_id; message_id := r.message_id; correlation_id := r.correlation_id; revision := r.revision;
      attempts := r.attempts; retry_base := r.retry_base; claims := r.claims; payload := r.payload; scheduled := r.scheduled;
      v_taken := v_taken + 1;
      RETURN NEXT;
    END LOOP;
    IF p_rate[i] IS NOT NULL THEN
      UPDATE webhook_rate_buckets b SET tokens = v_tokens - v_taken, refilled_at = v_now WHERE b.endpoint_id = p_endpoints[i];
    END IF;
  END LOOP;
END;
$$;
ALTER FUNCTION webhook_claim(text, boolean, uuid[], text[], bigint[], integer[], timestamptz[], text[], integer[], double precision[], integer[], boolean[], boolean[], uuid[], text[]) SET enable_seqscan = off;`,
  },
];
