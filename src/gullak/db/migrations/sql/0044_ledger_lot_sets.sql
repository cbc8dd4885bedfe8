-- Ledger: credits to accounts of expiring coins (lots) take the set path of a batch (0015,
-- 0043) too. A bulk grant of expiring coins (a campaign's, a chunk of bonuses) credits a
-- thousand users at once, each credit a lot of its own, and took the per-row path. Each
-- lot is made as the posting trigger makes it (the transfer's expiry, or the asset's
-- lifetime from the transfer's time). Debits from such accounts still take the per-row path:
-- they spend lots earliest expiry first (ledger_consume_lots), one at a time.

CREATE OR REPLACE FUNCTION ledger_post_batch() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
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
    JOIN (SELECT u.id, u.acc FROM unnest(NEW.ids, NEW.debits) AS u(id, acc)
          UNION ALL
          SELECT u.id, u.acc FROM unnest(NEW.ids, NEW.credits) AS u(id, acc)) x
      ON x.acc = b.account_id
    WHERE b.shard = (hashtext(x.id::text) & 2147483647) % b.shards
      AND b.account_id = ANY(accounts)
    ORDER BY b.account_id, b.shard
    FOR UPDATE OF b;
  -- Their last times, read by a statement of its own once all are locked: its snapshot
  -- holds every earlier posting to them, and no later one can come while the locks are held.
  -- (Read by the locking statement itself, a time could come from before a posting that
  -- committed while it waited: tests/ledger/test_bank.py caught entry times out of order.)
  SELECT max(b.last_posted_at) INTO latest FROM ledger_balances b
    JOIN (SELECT u.id, u.acc FROM unnest(NEW.ids, NEW.debits) AS u(id, acc)
          UNION ALL
          SELECT u.id, u.acc FROM unnest(NEW.ids, NEW.credits) AS u(id, acc)) x
      ON x.acc = b.account_id
    WHERE b.shard = (hashtext(x.id::text) & 2147483647) % b.shards
      AND b.account_id = ANY(accounts);
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

-- CREATE OR REPLACE drops the function's settings: planned once, as 0043 set it.
ALTER FUNCTION ledger_post_batch() SET plan_cache_mode = force_generic_plan;
