-- A batch is posted as a set: each balance row is updated once with its net movement, and
-- every entry's balance after it comes from a running sum over the row's entries in batch
-- order. The same guards hold, checked over the whole set: asset, freeze, available >= 0 at
-- every step of the running balance. Rows with lots or spend limits, and any refusal, take
-- the per-row path, so a refusal raises exactly what the posting trigger raises.
--
-- Balance rows change only at trigger depth >= 2 (ledger_guard_balances), so the set path
-- runs in an INSTEAD OF trigger of the view ledger_batch: one row per batch, arrays in,
-- seqs and balances after out (RETURNING). A row the set path inserts already carries its
-- seq, shards and balances after; the posting trigger skips only such rows, only one level
-- below a trigger and only for the transaction the set path marked. A plain INSERT into
-- ledger_transfers is checked in full as before.

CREATE VIEW ledger_batch AS
SELECT NULL::uuid AS transaction_id, NULL::uuid[] AS ids, NULL::text[] AS assets,
       NULL::uuid[] AS debits, NULL::uuid[] AS credits, NULL::bigint[] AS amounts,
       NULL::text[] AS kinds, NULL::text[] AS rtypes, NULL::text[] AS rids,
       NULL::text[] AS metas, NULL::timestamptz[] AS lexps, NULL::timestamptz AS at,
       NULL::text AS actor_type, NULL::uuid AS actor_id, NULL::bigint[] AS seqs,
       NULL::bigint[] AS debit_after, NULL::bigint[] AS credit_after,
       NULL::timestamptz[] AS ats
WHERE false;

CREATE FUNCTION ledger_post_batch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n integer := cardinality(NEW.ids);
  latest timestamptz;
  ok boolean;
  d_shards smallint[]; c_shards smallint[];
  -- numeric until checked: a sum out of bigint's range takes the per-row path, which says so.
  d_after numeric[]; c_after numeric[];
  seqs bigint[];
BEGIN
  -- Lock every balance row of the batch in the global order (account, then shard).
  PERFORM 1 FROM ledger_balances b
    JOIN (SELECT u.id, u.acc FROM unnest(NEW.ids, NEW.debits) AS u(id, acc)
          UNION ALL
          SELECT u.id, u.acc FROM unnest(NEW.ids, NEW.credits) AS u(id, acc)) x
      ON x.acc = b.account_id
    WHERE b.shard = (hashtext(x.id::text) & 2147483647) % b.shards
    ORDER BY b.account_id, b.shard
    FOR UPDATE OF b;
  -- Their last times, read by a statement of its own once all are locked: its snapshot
  -- holds every earlier posting to them, and no later one can come while the locks are held.
  SELECT max(b.last_posted_at) INTO latest FROM ledger_balances b
    JOIN (SELECT u.id, u.acc FROM unnest(NEW.ids, NEW.debits) AS u(id, acc)
          UNION ALL
          SELECT u.id, u.acc FROM unnest(NEW.ids, NEW.credits) AS u(id, acc)) x
      ON x.acc = b.account_id
    WHERE b.shard = (hashtext(x.id::text) & 2147483647) % b.shards;
  -- One time for the batch: not earlier than the last transfer on any of its rows (0013).
  NEW.at := greatest(NEW.at, latest);

  -- The rows are locked: the running balances read here are the ones posting would see.
  WITH u AS (
    SELECT * FROM unnest(NEW.ids, NEW.assets, NEW.debits, NEW.credits, NEW.amounts, NEW.kinds,
                         NEW.lexps)
      WITH ORDINALITY AS u(id, asset, debit, credit, amount, kind, lexp, ord)
  ), s AS (
    SELECT u.ord, true AS dr, u.debit AS acc, -u.amount AS delta, u.asset,
           hashtext(u.id::text) & 2147483647 AS h
    FROM u
    UNION ALL
    SELECT u.ord, false, u.credit, u.amount, u.asset, hashtext(u.id::text) & 2147483647
    FROM u
  ), e AS (
    SELECT s.ord, s.dr, b.shard,
           b.balance + sum(s.delta) OVER (PARTITION BY b.account_id, b.shard ORDER BY s.ord)
             AS after,
           b.account_id IS NOT NULL AND b.asset_code = s.asset AND NOT b.lots
             AND (NOT s.dr OR (NOT b.frozen AND NOT b.limited)) AS fits,
           b.allow_negative, b.held
    FROM s LEFT JOIN ledger_balances b ON b.account_id = s.acc AND b.shard = s.h % b.shards
  )
  SELECT bool_and(e.fits AND e.after BETWEEN -9223372036854775808 AND 9223372036854775807
                   AND (NOT e.dr OR e.allow_negative OR e.after - e.held >= 0))
           AND (SELECT bool_and(u.amount > 0 AND u.debit <> u.credit AND u.lexp IS NULL
                                AND u.kind ~ '^[a-z][a-z_]{1,31}$'
                                AND u.kind NOT IN ('reversal', 'expire'))
                FROM u),
         array_agg(e.shard ORDER BY e.ord) FILTER (WHERE e.dr),
         array_agg(e.shard ORDER BY e.ord) FILTER (WHERE NOT e.dr),
         array_agg(e.after ORDER BY e.ord) FILTER (WHERE e.dr),
         array_agg(e.after ORDER BY e.ord) FILTER (WHERE NOT e.dr)
    INTO ok, d_shards, c_shards, d_after, c_after
    FROM e;

  IF NOT coalesce(ok, false) THEN
    -- The per-row path: the posting trigger checks and posts each row, and says why not.
    WITH posted AS (
      INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
          credit_account_id, amount, kind, reference_type, reference_id, metadata,
          debit_balance_after, credit_balance_after, lot_expires_at, created_at, actor_type,
          actor_id)
        SELECT u.id, 0, NEW.transaction_id, u.asset, u.debit, u.credit, u.amount, u.kind,
               u.rtype, u.rid, u.meta::jsonb, 0, 0, u.lexp, NEW.at, NEW.actor_type,
               NEW.actor_id
        FROM unnest(NEW.ids, NEW.assets, NEW.debits, NEW.credits, NEW.amounts, NEW.kinds,
                    NEW.rtypes, NEW.rids, NEW.metas, NEW.lexps)
             WITH ORDINALITY AS u(id, asset, debit, credit, amount, kind, rtype, rid, meta,
                                  lexp, ord)
        ORDER BY u.ord
        RETURNING *
    )
    -- Rows are posted in the given order, so seq follows it.
    -- Each row's own time, as stored: the posting trigger may have moved one forward.
    SELECT array_agg(p.seq ORDER BY p.seq), array_agg(p.debit_balance_after ORDER BY p.seq),
           array_agg(p.credit_balance_after ORDER BY p.seq), array_agg(p.created_at ORDER BY p.seq)
      INTO NEW.seqs, NEW.debit_after, NEW.credit_after, NEW.ats
      FROM posted p;
    RETURN NEW;
  END IF;

  -- Seqs are taken with the rows locked, in batch order, as the trigger takes them.
  SELECT array_agg(x.s ORDER BY x.s) INTO seqs
    FROM (SELECT nextval('ledger_transfer_seq') AS s FROM generate_series(1, n)) x;
  NEW.seqs := seqs;
  NEW.ats := array_fill(NEW.at, ARRAY[n]);
  NEW.debit_after := d_after;
  NEW.credit_after := c_after;

  UPDATE ledger_balances b SET balance = b.balance + x.net,
      last_posted_at = greatest(b.last_posted_at, NEW.at)
    FROM (SELECT m.acc, m.shard, sum(m.delta) AS net
          FROM (SELECT d.acc, d.shard, -d.a AS delta
                FROM unnest(NEW.debits, d_shards, NEW.amounts) AS d(acc, shard, a)
                UNION ALL
                SELECT c.acc, c.shard, c.a
                FROM unnest(NEW.credits, c_shards, NEW.amounts) AS c(acc, shard, a)) m
          GROUP BY m.acc, m.shard) x
    WHERE b.account_id = x.acc AND b.shard = x.shard;

  PERFORM set_config('gullak.batch', NEW.transaction_id::text, true);
  INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
      debit_shard, credit_account_id, credit_shard, amount, kind, reference_type,
      reference_id, metadata, debit_balance_after, credit_balance_after, created_at,
      actor_type, actor_id)
    SELECT u.id, u.seq, NEW.transaction_id, u.asset, u.debit, u.d_shard, u.credit, u.c_shard,
           u.amount, u.kind, u.rtype, u.rid, u.meta::jsonb, u.d_after, u.c_after, NEW.at,
           NEW.actor_type, NEW.actor_id
    FROM unnest(NEW.ids, seqs, NEW.assets, NEW.debits, d_shards, NEW.credits, c_shards,
                NEW.amounts, NEW.kinds, NEW.rtypes, NEW.rids, NEW.metas, NEW.debit_after,
                NEW.credit_after)
         AS u(id, seq, asset, debit, d_shard, credit, c_shard, amount, kind, rtype, rid, meta,
              d_after, c_after);
  PERFORM set_config('gullak.batch', '', true);
  RETURN NEW;
END $$;

CREATE TRIGGER ledger_batch_post INSTEAD OF INSERT ON ledger_batch
  FOR EACH ROW EXECUTE FUNCTION ledger_post_batch();

CREATE OR REPLACE FUNCTION ledger_post_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  h integer := hashtext(NEW.id::text) & 2147483647;  -- picks the shard of a sharded account
  d_lots boolean; d_limited boolean; c_lots boolean;
  d_ok boolean; c_ok boolean; sys_kind boolean;
  d_at timestamptz; c_at timestamptz;
  acc ledger_accounts;
  lifetime integer;
  day_start date;
  spent_d bigint;
  spent_m bigint;
BEGIN
  -- Already posted by the set path of a batch (ledger_post_batch): only rows it inserts,
  -- from inside its trigger, for the transaction it marked. Anything else is posted here.
  IF NEW.seq > 0 AND pg_trigger_depth() > 1
     AND current_setting('gullak.batch', true) = NEW.transaction_id::text THEN
    RETURN NEW;
  END IF;
  -- Lock the two balance rows in the one global order (by account, then shard) that every
  -- multi-row pre-lock follows too, so concurrent postings cannot deadlock. Each UPDATE only
  -- applies when its side is acceptable (asset, freeze, funds); a side that did not apply is
  -- diagnosed below, so the refusal is the same whichever side was locked first.
  sys_kind := NEW.reverses_id IS NOT NULL OR NEW.lot_id IS NOT NULL;
  IF NEW.debit_account_id < NEW.credit_account_id THEN
    UPDATE ledger_balances SET balance = balance - NEW.amount,
        last_posted_at = greatest(last_posted_at, NEW.created_at)
      WHERE account_id = NEW.debit_account_id AND shard = h % shards
        AND asset_code = NEW.asset_code AND (NOT frozen OR sys_kind)
        AND (allow_negative OR balance - held >= NEW.amount)
      RETURNING shard, balance, lots, limited, last_posted_at
      INTO NEW.debit_shard, NEW.debit_balance_after, d_lots, d_limited, d_at;
    d_ok := FOUND;
    UPDATE ledger_balances SET balance = balance + NEW.amount,
        last_posted_at = greatest(last_posted_at, NEW.created_at)
      WHERE account_id = NEW.credit_account_id AND shard = h % shards
        AND asset_code = NEW.asset_code
      RETURNING shard, balance, lots, last_posted_at
      INTO NEW.credit_shard, NEW.credit_balance_after, c_lots, c_at;
    c_ok := FOUND;
  ELSE
    UPDATE ledger_balances SET balance = balance + NEW.amount,
        last_posted_at = greatest(last_posted_at, NEW.created_at)
      WHERE account_id = NEW.credit_account_id AND shard = h % shards
        AND asset_code = NEW.asset_code
      RETURNING shard, balance, lots, last_posted_at
      INTO NEW.credit_shard, NEW.credit_balance_after, c_lots, c_at;
    c_ok := FOUND;
    UPDATE ledger_balances SET balance = balance - NEW.amount,
        last_posted_at = greatest(last_posted_at, NEW.created_at)
      WHERE account_id = NEW.debit_account_id AND shard = h % shards
        AND asset_code = NEW.asset_code AND (NOT frozen OR sys_kind)
        AND (allow_negative OR balance - held >= NEW.amount)
      RETURNING shard, balance, lots, limited, last_posted_at
      INTO NEW.debit_shard, NEW.debit_balance_after, d_lots, d_limited, d_at;
    d_ok := FOUND;
  END IF;
  IF NOT (d_ok AND c_ok) THEN
    PERFORM ledger_refuse(NEW.debit_account_id, NEW.credit_account_id, NEW.asset_code);
  END IF;

  -- Not earlier than the last transfer on either row. Usually both rows already hold this
  -- time; when one was moved by a later clock, the other row catches up here, so both end
  -- with the transfer's final time. Limits, lots and the entry all use that time.
  NEW.created_at := greatest(d_at, c_at);
  IF d_at < NEW.created_at THEN
    UPDATE ledger_balances SET last_posted_at = NEW.created_at
      WHERE account_id = NEW.debit_account_id AND shard = NEW.debit_shard;
  ELSIF c_at < NEW.created_at THEN
    UPDATE ledger_balances SET last_posted_at = NEW.created_at
      WHERE account_id = NEW.credit_account_id AND shard = NEW.credit_shard;
  END IF;

  -- Every debit counts as spend, except corrections and expiry sweeps.
  IF d_limited AND NEW.reverses_id IS NULL AND NEW.lot_id IS NULL THEN
    SELECT * INTO acc FROM ledger_accounts WHERE id = NEW.debit_account_id;
    day_start := (NEW.created_at AT TIME ZONE 'UTC')::date;
    INSERT INTO ledger_spend AS s VALUES (NEW.debit_account_id, 'd', day_start, NEW.amount)
      ON CONFLICT (account_id, period, period_start) DO UPDATE SET spent = s.spent + EXCLUDED.spent
      RETURNING spent INTO spent_d;
    INSERT INTO ledger_spend AS s VALUES (NEW.debit_account_id, 'm', date_trunc('month', day_start)::date, NEW.amount)
      ON CONFLICT (account_id, period, period_start) DO UPDATE SET spent = s.spent + EXCLUDED.spent
      RETURNING spent INTO spent_m;
    IF spent_d > acc.daily_limit OR spent_m > acc.monthly_limit THEN
      RAISE EXCEPTION 'spend limit of account % exceeded', NEW.debit_account_id USING ERRCODE = 'GL005';
    END IF;
  END IF;

  IF d_lots THEN
    PERFORM ledger_consume_lots(NEW.debit_account_id, NEW.amount, NEW.created_at, NEW.hold_id, NEW.lot_id);
  END IF;
  IF NEW.lot_expires_at IS NOT NULL AND NEW.lot_expires_at <= NEW.created_at THEN
    RAISE EXCEPTION 'a grant must expire after it is made' USING ERRCODE = 'GL013';
  END IF;
  IF c_lots THEN
    SELECT lifetime_days INTO lifetime FROM ledger_assets WHERE code = NEW.asset_code;
    INSERT INTO ledger_lots (id, account_id, transfer_id, amount, remaining, expires_at, created_at)
      VALUES (NEW.id, NEW.credit_account_id, NEW.id, NEW.amount, NEW.amount,
              COALESCE(NEW.lot_expires_at, NEW.created_at + make_interval(days => lifetime)),
              NEW.created_at);
  END IF;
  NEW.seq := nextval('ledger_transfer_seq');
  RETURN NEW;
END $$;

-- A batch posts through the view ledger_batch (above).
-- The time of each transfer comes back with it (the OUT columns change: drop, then create).
DROP FUNCTION ledger_post(text, text, uuid, uuid[], text[], uuid[], uuid[], bigint[], text[],
                          text[], text[], text[], timestamptz[], timestamptz, text, uuid);
CREATE FUNCTION ledger_post(
  p_key text, p_hash text, p_tx uuid, p_ids uuid[], p_assets text[], p_debits uuid[],
  p_credits uuid[], p_amounts bigint[], p_kinds text[], p_rtypes text[], p_rids text[],
  p_metas text[], p_lexps timestamptz[], p_at timestamptz, p_actor_type text, p_actor_id uuid,
  OUT o_replay jsonb, OUT o_seqs bigint[], OUT o_debit_after bigint[],
  OUT o_credit_after bigint[], OUT o_ats timestamptz[])
LANGUAGE plpgsql AS $$
DECLARE
  result_ jsonb;
BEGIN
  IF p_key IS NOT NULL THEN
    o_replay := ledger_claim(p_key, p_hash);
    IF o_replay IS NOT NULL THEN
      RETURN;
    END IF;
  END IF;
  INSERT INTO ledger_batch (transaction_id, ids, assets, debits, credits, amounts, kinds, rtypes,
      rids, metas, lexps, at, actor_type, actor_id)
    VALUES (p_tx, p_ids, p_assets, p_debits, p_credits, p_amounts, p_kinds, p_rtypes, p_rids,
            p_metas, p_lexps, p_at, p_actor_type, p_actor_id)
    RETURNING seqs, debit_after, credit_after, ats
    INTO o_seqs, o_debit_after, o_credit_after, o_ats;
  IF p_key IS NOT NULL THEN
    SELECT jsonb_build_object('transaction_id', p_tx,
                              'transfers', jsonb_agg(to_jsonb(t) ORDER BY t.seq))
      INTO result_ FROM ledger_transfers t WHERE t.id = ANY(p_ids);
    UPDATE ledger_idempotency SET result = result_ WHERE key = p_key;
  END IF;
END $$;
