-- A transfer's time follows the order of entries on each balance row. The time is taken by the
-- client before the rows are locked and the seq after, so concurrent transfers on one row
-- could carry times out of seq order, and a read "as of T" then took in transfers made after
-- T. Each balance row now keeps the time of its last transfer, and the posting trigger, while
-- both rows are locked, moves a transfer's time forward to the later of the two rows' times.
-- On every row the entries up to any time T are then a prefix of its history in seq order.

ALTER TABLE ledger_balances ADD COLUMN last_posted_at timestamptz;

-- Entries already posted stay as they are (they are immutable); new ones start after them.
UPDATE ledger_balances b SET last_posted_at = x.at
FROM (
  SELECT account_id, shard, max(at) AS at FROM (
    SELECT debit_account_id AS account_id, debit_shard AS shard, max(created_at) AS at
    FROM ledger_transfers GROUP BY 1, 2
    UNION ALL
    SELECT credit_account_id, credit_shard, max(created_at) FROM ledger_transfers GROUP BY 1, 2
  ) sides GROUP BY 1, 2
) x
WHERE b.account_id = x.account_id AND b.shard = x.shard;

-- The last posted time moves, like the balance, only inside the posting trigger.
CREATE OR REPLACE FUNCTION ledger_guard_balances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'ledger balances cannot be deleted' USING ERRCODE = 'GL009';
  END IF;
  IF (NEW.balance, NEW.held, NEW.account_id, NEW.shard, NEW.asset_code, NEW.shards,
      NEW.allow_negative, NEW.lots, NEW.last_posted_at)
     IS DISTINCT FROM (OLD.balance, OLD.held, OLD.account_id, OLD.shard, OLD.asset_code, OLD.shards,
                       OLD.allow_negative, OLD.lots, OLD.last_posted_at)
     AND pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'balances change only through ledger transfers and holds' USING ERRCODE = 'GL009';
  END IF;
  RETURN NEW;
END $$;

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

-- Group commit returns each transfer's time as stored, which may be later than p_at.
DROP FUNCTION ledger_post_each(uuid[], uuid[], text[], uuid[], uuid[], bigint[], text[], text[],
                               text[], jsonb[], timestamptz[], text[], text[], timestamptz);
CREATE FUNCTION ledger_post_each(
  p_ids uuid[], p_txs uuid[], p_assets text[], p_debits uuid[], p_credits uuid[],
  p_amounts bigint[], p_kinds text[], p_rtypes text[], p_rids text[], p_metas jsonb[],
  p_lexps timestamptz[], p_keys text[], p_hashes text[], p_at timestamptz)
RETURNS TABLE (i integer, status text, err_state text, err_constraint text, err_message text,
               seq bigint, debit_after bigint, credit_after bigint, replay jsonb,
               posted_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  n integer := cardinality(p_ids);
  stored record;
  v_i integer[]; v_seq bigint[]; v_da bigint[]; v_ca bigint[]; v_at timestamptz[];
  fast boolean := false;
BEGIN
  PERFORM 1 FROM ledger_balances b
    JOIN (SELECT u.id, u.acc FROM unnest(p_ids, p_debits) AS u(id, acc)
          UNION ALL
          SELECT u.id, u.acc FROM unnest(p_ids, p_credits) AS u(id, acc)) x ON x.acc = b.account_id
    WHERE b.shard = (hashtext(x.id::text) & 2147483647) % b.shards
    ORDER BY b.account_id, b.shard
    FOR UPDATE OF b;

  BEGIN
    IF EXISTS (SELECT 1 FROM ledger_idempotency WHERE key = ANY(p_keys)) THEN
      RAISE EXCEPTION 'seen keys' USING ERRCODE = 'GL000';
    END IF;
    INSERT INTO ledger_idempotency (key, request_hash)
      SELECT k, h FROM unnest(p_keys, p_hashes) AS u(k, h) WHERE k IS NOT NULL;
    WITH posted AS (
        INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
            credit_account_id, amount, kind, reference_type, reference_id, metadata,
            debit_balance_after, credit_balance_after, lot_expires_at, created_at)
          SELECT u.id, 0, u.tx, u.asset, u.debit, u.credit, u.amount, u.kind, u.rtype, u.rid,
                 u.meta, 0, 0, u.lexp, p_at
          FROM unnest(p_ids, p_txs, p_assets, p_debits, p_credits, p_amounts, p_kinds, p_rtypes,
                      p_rids, p_metas, p_lexps)
               WITH ORDINALITY AS u(id, tx, asset, debit, credit, amount, kind, rtype, rid, meta,
                                    lexp, ord)
          ORDER BY u.ord
          RETURNING ledger_transfers.id, ledger_transfers.seq, debit_balance_after,
                    credit_balance_after, ledger_transfers.created_at
      )
    SELECT array_agg(array_position(p_ids, p.id)), array_agg(p.seq),
           array_agg(p.debit_balance_after), array_agg(p.credit_balance_after),
           array_agg(p.created_at)
      INTO v_i, v_seq, v_da, v_ca, v_at FROM posted p;
    UPDATE ledger_idempotency ik SET result = jsonb_build_object(
        'id', t.id, 'seq', t.seq, 'transaction_id', t.transaction_id,
        'asset_code', t.asset_code, 'debit_account_id', t.debit_account_id,
        'credit_account_id', t.credit_account_id, 'amount', t.amount, 'kind', t.kind,
        'reference_type', t.reference_type, 'reference_id', t.reference_id,
        'metadata', t.metadata, 'debit_balance_after', t.debit_balance_after,
        'credit_balance_after', t.credit_balance_after, 'reverses_id', NULL, 'hold_id', NULL,
        'created_at', t.created_at)
      FROM unnest(p_keys, p_ids) AS u(k, id) JOIN ledger_transfers t ON t.id = u.id
      WHERE ik.key = u.k;
    fast := true;
  EXCEPTION WHEN OTHERS THEN
    fast := false;  -- something in the group was refused: post it again item by item below
  END;
  IF fast THEN
    RETURN QUERY SELECT u.i, 'ok'::text, NULL::text, NULL::text, NULL::text, u.s, u.da, u.ca,
                        NULL::jsonb, u.pa
                 FROM unnest(v_i, v_seq, v_da, v_ca, v_at) AS u(i, s, da, ca, pa);
    RETURN;
  END IF;

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
            status := 'replay'; replay := stored.result;
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
