-- Ledger: a transaction posts to one shard of a sharded (platform) account, whatever the
-- number of its transfers, instead of the shard each transfer's id hashed to. A batch of a
-- thousand transfers from one issuance account hashed onto every one of its sixteen shards
-- and locked them all until its commit, so two batches from that account (the daily
-- conversion's units, the group-committing poster's flushes) always waited for each other;
-- now they wait only when their transactions pick the same shard. The shard follows the
-- transaction's id: transactions running at once have ids close together, which fall on
-- different shards. Every lock is still taken in the global order (account, then shard).

CREATE FUNCTION ledger_shard_key() RETURNS integer LANGUAGE sql STABLE
AS $$ SELECT (txid_current() % 2147483647)::integer $$;

CREATE OR REPLACE FUNCTION ledger_post_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  h integer := ledger_shard_key();  -- picks the shard of a sharded account
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
  -- from inside its trigger, for the transaction (or the group) it marked. Anything else is posted here.
  IF NEW.seq > 0 AND pg_trigger_depth() > 1
     AND current_setting('gullak.batch', true) IN (NEW.transaction_id::text, 'group') THEN
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

CREATE OR REPLACE FUNCTION ledger_post_batch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  shard_key integer := ledger_shard_key();  -- picks the shard of a sharded account
  n integer := cardinality(NEW.ids);
  latest timestamptz;
  ok boolean;
  d_shards smallint[]; c_shards smallint[];
  -- numeric until checked: a sum out of bigint's range takes the per-row path, which says so.
  d_after numeric[]; c_after numeric[];
  c_lots boolean[];  -- which credits make a lot (their account's balance row has lots)
  seqs bigint[];
  -- A group of standalone transfers (ledger_post_each) gives each its own transaction.
  txs uuid[] := coalesce(NEW.txs, array_fill(NEW.transaction_id, ARRAY[n]));
  mark text := CASE WHEN NEW.txs IS NULL THEN NEW.transaction_id::text ELSE 'group' END;
  -- Named again beside each join on the balances: an index scan whatever the table's size
  -- (a small table is otherwise read whole by a hash join, in every statement).
  accounts uuid[] := NEW.debits || NEW.credits;
BEGIN
  -- Lock every balance row of the batch in the global order (account, then shard).
  PERFORM 1 FROM ledger_balances b
    WHERE b.account_id = ANY(accounts) AND b.shard = shard_key % b.shards
    ORDER BY b.account_id, b.shard
    FOR UPDATE OF b;
  -- Their last times, read by a statement of its own once all are locked: its snapshot
  -- holds every earlier posting to them, and no later one can come while the locks are held.
  -- (Read by the locking statement itself, a time could come from before a posting that
  -- committed while it waited: tests/ledger/test_bank.py caught entry times out of order.)
  SELECT max(b.last_posted_at) INTO latest FROM ledger_balances b
    WHERE b.account_id = ANY(accounts) AND b.shard = shard_key % b.shards;
  -- One time for the batch: not earlier than the last transfer on any of its rows (0013).
  NEW.at := greatest(NEW.at, latest);

  -- The rows are locked: the running balances read here are the ones posting would see.
  WITH u AS (
    SELECT * FROM unnest(NEW.ids, NEW.assets, NEW.debits, NEW.credits, NEW.amounts, NEW.kinds,
                         NEW.lexps)
      WITH ORDINALITY AS u(id, asset, debit, credit, amount, kind, lexp, ord)
  ), s AS (
    SELECT u.ord, true AS dr, u.debit AS acc, -u.amount AS delta, u.asset,
           shard_key AS h
    FROM u
    UNION ALL
    SELECT u.ord, false, u.credit, u.amount, u.asset, shard_key
    FROM u
  ), e AS (
    SELECT s.ord, s.dr, b.shard,
           b.balance + sum(s.delta) OVER (PARTITION BY b.account_id, b.shard ORDER BY s.ord)
             AS after,
           b.account_id IS NOT NULL AND b.asset_code = s.asset
             AND (NOT s.dr OR (NOT b.lots AND NOT b.frozen AND NOT b.limited)) AS fits,
           b.allow_negative, b.held, b.lots
    FROM s LEFT JOIN ledger_balances b ON b.account_id = s.acc AND b.shard = s.h % b.shards
      AND b.account_id = ANY(accounts)
  )
  SELECT bool_and(e.fits AND e.after BETWEEN -9223372036854775808 AND 9223372036854775807
                   AND (NOT e.dr OR e.allow_negative OR e.after - e.held >= 0))
           AND (SELECT bool_and(u.amount > 0 AND u.debit <> u.credit
                                AND (u.lexp IS NULL OR u.lexp > NEW.at)
                                AND u.kind ~ '^[a-z][a-z_]{1,31}$'
                                AND u.kind NOT IN ('reversal', 'expire'))
                FROM u),
         array_agg(e.shard ORDER BY e.ord) FILTER (WHERE e.dr),
         array_agg(e.shard ORDER BY e.ord) FILTER (WHERE NOT e.dr),
         array_agg(e.after ORDER BY e.ord) FILTER (WHERE e.dr),
         array_agg(e.after ORDER BY e.ord) FILTER (WHERE NOT e.dr),
         array_agg(e.lots ORDER BY e.ord) FILTER (WHERE NOT e.dr)
    INTO ok, d_shards, c_shards, d_after, c_after, c_lots
    FROM e;

  IF NOT coalesce(ok, false) THEN
    -- The per-row path: the posting trigger checks and posts each row, and says why not.
    WITH posted AS (
      INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
          credit_account_id, amount, kind, reference_type, reference_id, metadata,
          debit_balance_after, credit_balance_after, lot_expires_at, created_at, actor_type,
          actor_id)
        SELECT u.id, 0, u.tx, u.asset, u.debit, u.credit, u.amount, u.kind,
               u.rtype, u.rid, u.meta::jsonb, 0, 0, u.lexp, NEW.at, NEW.actor_type,
               NEW.actor_id
        FROM unnest(NEW.ids, txs, NEW.assets, NEW.debits, NEW.credits, NEW.amounts, NEW.kinds,
                    NEW.rtypes, NEW.rids, NEW.metas, NEW.lexps)
             WITH ORDINALITY AS u(id, tx, asset, debit, credit, amount, kind, rtype, rid, meta,
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
    WHERE b.account_id = x.acc AND b.shard = x.shard AND b.account_id = ANY(accounts);

  PERFORM set_config('gullak.batch', mark, true);
  INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
      debit_shard, credit_account_id, credit_shard, amount, kind, reference_type,
      reference_id, metadata, debit_balance_after, credit_balance_after, lot_expires_at,
      created_at, actor_type, actor_id)
    SELECT u.id, u.seq, u.tx, u.asset, u.debit, u.d_shard, u.credit, u.c_shard,
           u.amount, u.kind, u.rtype, u.rid, u.meta::jsonb, u.d_after, u.c_after, u.lexp,
           NEW.at, NEW.actor_type, NEW.actor_id
    FROM unnest(NEW.ids, seqs, txs, NEW.assets, NEW.debits, d_shards, NEW.credits, c_shards,
                NEW.amounts, NEW.kinds, NEW.rtypes, NEW.rids, NEW.metas, NEW.debit_after,
                NEW.credit_after, NEW.lexps)
         AS u(id, seq, tx, asset, debit, d_shard, credit, c_shard, amount, kind, rtype, rid,
              meta, d_after, c_after, lexp);
  PERFORM set_config('gullak.batch', '', true);
  -- A credit to an account of expiring coins is a lot of its own, as the posting trigger
  -- makes it: expiring when the transfer says, or after the asset's lifetime.
  INSERT INTO ledger_lots (id, account_id, transfer_id, amount, remaining, expires_at,
      created_at)
    SELECT u.id, u.credit, u.id, u.amount, u.amount,
           coalesce(u.lexp, NEW.at + make_interval(days => a.lifetime_days)), NEW.at
    FROM unnest(NEW.ids, NEW.assets, NEW.credits, NEW.amounts, NEW.lexps, c_lots)
         AS u(id, asset, credit, amount, lexp, lots)
    JOIN ledger_assets a ON a.code = u.asset
    WHERE u.lots;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION ledger_post_each(
  p_ids uuid[], p_txs uuid[], p_assets text[], p_debits uuid[], p_credits uuid[],
  p_amounts bigint[], p_kinds text[], p_rtypes text[], p_rids text[], p_metas jsonb[],
  p_lexps timestamptz[], p_keys text[], p_hashes text[], p_at timestamptz)
RETURNS TABLE (i integer, status text, err_state text, err_constraint text, err_message text,
               seq bigint, debit_after bigint, credit_after bigint, replay jsonb,
               posted_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  shard_key integer := ledger_shard_key();  -- picks the shard of a sharded account
  n integer := cardinality(p_ids);
  stored record;
  v_seq bigint[]; v_da bigint[]; v_ca bigint[]; v_at timestamptz[];
  fast boolean := false;
BEGIN
  BEGIN
    -- A key seen before fails the insert (unique): the item-by-item path replays it.
    INSERT INTO ledger_idempotency (key, request_hash, transfer_id)
      SELECT k, h, id FROM unnest(p_keys, p_hashes, p_ids) AS u(k, h, id) WHERE k IS NOT NULL;
    INSERT INTO ledger_batch (transaction_id, ids, assets, debits, credits, amounts, kinds,
        rtypes, rids, metas, lexps, at, txs)
      VALUES (p_txs[1], p_ids, p_assets, p_debits, p_credits, p_amounts, p_kinds, p_rtypes,
              p_rids, p_metas::text[], p_lexps, p_at, p_txs)
      RETURNING ledger_batch.seqs, ledger_batch.debit_after, ledger_batch.credit_after,
                ledger_batch.ats
      INTO v_seq, v_da, v_ca, v_at;
    fast := true;
  EXCEPTION WHEN OTHERS THEN
    fast := false;  -- something in the group was refused: post it again item by item below
  END;
  IF fast THEN
    RETURN QUERY SELECT u.i::integer, 'ok'::text, NULL::text, NULL::text, NULL::text, u.s,
                        u.da, u.ca, NULL::jsonb, u.pa
                 FROM unnest(v_seq, v_da, v_ca, v_at) WITH ORDINALITY AS u(s, da, ca, pa, i);
    RETURN;
  END IF;

  -- The set was refused and gave back its locks: every row in the global order first, so
  -- the item-by-item path cannot deadlock either.
  PERFORM 1 FROM ledger_balances b
    WHERE b.account_id = ANY(p_debits || p_credits) AND b.shard = shard_key % b.shards
    ORDER BY b.account_id, b.shard
    FOR UPDATE OF b;

  FOR k IN 1 .. n LOOP
    i := k; status := 'ok'; err_state := NULL; err_constraint := NULL; err_message := NULL;
    seq := NULL; debit_after := NULL; credit_after := NULL; replay := NULL; posted_at := NULL;
    BEGIN
      IF p_keys[k] IS NOT NULL THEN
        INSERT INTO ledger_idempotency (key, request_hash) VALUES (p_keys[k], p_hashes[k])
          ON CONFLICT (key) DO NOTHING;
        IF NOT FOUND THEN
          SELECT request_hash, result INTO stored FROM ledger_idempotency WHERE key = p_keys[k];
          IF stored.request_hash <> p_hashes[k] THEN
            status := 'error'; err_state := 'GL012';
            err_message := 'idempotency key was used with a different request';
          ELSE
            status := 'replay'; replay := ledger_replay(p_keys[k], p_hashes[k]);
          END IF;
          RETURN NEXT;
          CONTINUE;
        END IF;
      END IF;
      INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
          credit_account_id, amount, kind, reference_type, reference_id, metadata,
          debit_balance_after, credit_balance_after, lot_expires_at, created_at)
        VALUES (p_ids[k], 0, p_txs[k], p_assets[k], p_debits[k], p_credits[k], p_amounts[k],
                p_kinds[k], p_rtypes[k], p_rids[k], p_metas[k], 0, 0, p_lexps[k], p_at)
        RETURNING ledger_transfers.seq, debit_balance_after, credit_balance_after,
                  ledger_transfers.created_at
        INTO seq, debit_after, credit_after, posted_at;
      IF p_keys[k] IS NOT NULL THEN
        UPDATE ledger_idempotency SET result = jsonb_build_object(
            'id', p_ids[k], 'seq', seq, 'transaction_id', p_txs[k], 'asset_code', p_assets[k],
            'debit_account_id', p_debits[k], 'credit_account_id', p_credits[k],
            'amount', p_amounts[k], 'kind', p_kinds[k], 'reference_type', p_rtypes[k],
            'reference_id', p_rids[k], 'metadata', p_metas[k],
            'debit_balance_after', debit_after, 'credit_balance_after', credit_after,
            'reverses_id', NULL, 'hold_id', NULL, 'created_at', posted_at)
          WHERE key = p_keys[k];
      END IF;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_constraint = CONSTRAINT_NAME,
                              err_message = MESSAGE_TEXT;
      status := 'error'; seq := NULL; debit_after := NULL; credit_after := NULL;
      posted_at := NULL;
    END;
    RETURN NEXT;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION ledger_capture(
  p_key text, p_hash text, p_hold uuid, p_credit uuid, p_amount bigint, p_kind text,
  p_rtype text, p_rid text, p_meta jsonb, p_id uuid, p_tx uuid, p_at timestamptz,
  p_actor_type text, p_actor_id uuid,
  OUT o_replay boolean, OUT o_result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  shard_key integer := ledger_shard_key();  -- picks the shard of a sharded account
  h ledger_holds;
  t ledger_transfers;
  amount_ bigint;
BEGIN
  IF p_key IS NOT NULL THEN
    o_result := ledger_claim(p_key, p_hash);
    o_replay := o_result IS NOT NULL;
    IF o_replay THEN
      RETURN;
    END IF;
  END IF;
  h := ledger_pending_hold(p_hold, p_at);
  amount_ := COALESCE(p_amount, h.amount);
  IF amount_ > h.amount THEN
    RAISE EXCEPTION 'The hold is for %.', h.amount USING ERRCODE = 'GL019';
  END IF;
  IF h.account_id = p_credit THEN
    RAISE EXCEPTION 'Debit and credit accounts are the same' USING ERRCODE = 'GL020';
  END IF;
  -- Resolving the hold and posting its capture update the same balance rows: lock them
  -- first, in the global order (account, then shard).
  PERFORM 1 FROM ledger_balances b
    WHERE b.account_id IN (h.account_id, p_credit)
      AND b.shard = shard_key % b.shards
    ORDER BY b.account_id, b.shard
    FOR UPDATE;
  UPDATE ledger_holds SET status = 'captured', captured = amount_, resolved_at = p_at
    WHERE id = p_hold RETURNING * INTO h;
  INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
      credit_account_id, amount, kind, reference_type, reference_id, metadata,
      debit_balance_after, credit_balance_after, hold_id, created_at, actor_type, actor_id)
    VALUES (p_id, 0, p_tx, h.asset_code, h.account_id, p_credit, amount_, p_kind,
            COALESCE(p_rtype, h.reference_type), COALESCE(p_rid, h.reference_id), p_meta,
            0, 0, p_hold, p_at, p_actor_type, p_actor_id)
    RETURNING * INTO t;
  o_replay := false;
  o_result := jsonb_build_object('hold', to_jsonb(h), 'transfer', to_jsonb(t));
  IF p_key IS NOT NULL THEN
    UPDATE ledger_idempotency SET result = o_result WHERE key = p_key;
  END IF;
END $$;

ALTER FUNCTION ledger_post_batch() SET plan_cache_mode = force_generic_plan;
