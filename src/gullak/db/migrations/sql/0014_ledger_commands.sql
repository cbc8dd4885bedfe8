-- Every value-moving ledger command is one function call: one round trip to the server for
-- the idempotency claim, the checks, the posting and the stored result. A transfer also
-- records who made it (the subject of an API call), instead of an audit row beside it.
-- Refusals raise SQLSTATEs of class GL that the service maps to problem codes.

ALTER TABLE ledger_transfers ADD COLUMN actor_type text, ADD COLUMN actor_id uuid;

-- A single transfer's key refers to its transfer (transfer_id) instead of storing a copy of
-- it: the claim row is then written once, with the transfer's id known up front.
ALTER TABLE ledger_idempotency ADD COLUMN transfer_id uuid;

-- The result stored under a key already claimed; refused when the request differs.
CREATE FUNCTION ledger_replay(p_key text, p_hash text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  stored record;
BEGIN
  SELECT request_hash, result, transfer_id INTO stored FROM ledger_idempotency WHERE key = p_key;
  IF stored.request_hash <> p_hash THEN
    RAISE EXCEPTION 'idempotency key was used with a different request' USING ERRCODE = 'GL012';
  END IF;
  IF stored.result IS NULL AND stored.transfer_id IS NOT NULL THEN
    SELECT to_jsonb(t) INTO stored.result FROM ledger_transfers t WHERE t.id = stored.transfer_id;
  END IF;
  RETURN COALESCE(stored.result, 'null'::jsonb);
END $$;

-- Claims an idempotency key for this transaction. NULL: claimed, run the command. Otherwise
-- the stored result of the request that claimed it first ('null' if it stored none). A
-- concurrent claim of the same key waits here until the first commits (its result is then
-- returned) or rolls back (the key is then ours).
CREATE FUNCTION ledger_claim(p_key text, p_hash text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger_idempotency (key, request_hash) VALUES (p_key, p_hash)
    ON CONFLICT (key) DO NOTHING;
  IF FOUND THEN
    RETURN NULL;
  END IF;
  RETURN ledger_replay(p_key, p_hash);
END $$;

-- One transfer. Returns the stored result of an earlier call with the same key (o_replay),
-- or what the posting trigger decided: seq, balances after and the transfer's time.
CREATE FUNCTION ledger_transfer(
  p_key text, p_hash text, p_id uuid, p_tx uuid, p_asset text, p_debit uuid, p_credit uuid,
  p_amount bigint, p_kind text, p_rtype text, p_rid text, p_meta jsonb, p_lexp timestamptz,
  p_at timestamptz, p_actor_type text, p_actor_id uuid,
  OUT o_replay jsonb, OUT o_seq bigint, OUT o_debit_after bigint, OUT o_credit_after bigint,
  OUT o_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  t ledger_transfers;
BEGIN
  IF p_key IS NOT NULL THEN
    INSERT INTO ledger_idempotency (key, request_hash, transfer_id) VALUES (p_key, p_hash, p_id)
      ON CONFLICT (key) DO NOTHING;
    IF NOT FOUND THEN
      o_replay := ledger_replay(p_key, p_hash);
      RETURN;
    END IF;
  END IF;
  INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
      credit_account_id, amount, kind, reference_type, reference_id, metadata,
      debit_balance_after, credit_balance_after, lot_expires_at, created_at, actor_type,
      actor_id)
    VALUES (p_id, 0, p_tx, p_asset, p_debit, p_credit, p_amount, p_kind, p_rtype, p_rid,
            p_meta, 0, 0, p_lexp, p_at, p_actor_type, p_actor_id)
    RETURNING * INTO t;
  o_seq := t.seq;
  o_debit_after := t.debit_balance_after;
  o_credit_after := t.credit_balance_after;
  o_at := t.created_at;
END $$;

-- A reversal of all or part of what is left of a transfer; the result is the reversing
-- transfer as JSON. The original's row lock serialises concurrent reversals of it.
CREATE FUNCTION ledger_reverse(
  p_key text, p_hash text, p_id uuid, p_tx uuid, p_original uuid, p_amount bigint,
  p_reason text, p_at timestamptz, p_actor_type text, p_actor_id uuid,
  OUT o_replay boolean, OUT o_result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  o ledger_transfers;
  t ledger_transfers;
  done bigint;
  left_ bigint;
  want bigint;
BEGIN
  IF p_key IS NOT NULL THEN
    o_result := ledger_claim(p_key, p_hash);
    o_replay := o_result IS NOT NULL;
    IF o_replay THEN
      RETURN;
    END IF;
  END IF;
  SELECT * INTO o FROM ledger_transfers WHERE id = p_original FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'No such transfer' USING ERRCODE = 'GL014';
  END IF;
  SELECT COALESCE(sum(amount), 0) INTO done FROM ledger_transfers WHERE reverses_id = p_original;
  left_ := o.amount - done;
  want := COALESCE(p_amount, left_);
  IF want <= 0 OR want > left_ THEN
    RAISE EXCEPTION '% of % is left to reverse.', left_, o.amount USING ERRCODE = 'GL015';
  END IF;
  INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
      credit_account_id, amount, kind, reference_type, reference_id, metadata,
      debit_balance_after, credit_balance_after, reverses_id, created_at, actor_type, actor_id)
    VALUES (p_id, 0, p_tx, o.asset_code, o.credit_account_id, o.debit_account_id, want,
            'reversal', o.reference_type, o.reference_id, jsonb_build_object('reason', p_reason),
            0, 0, p_original, p_at, p_actor_type, p_actor_id)
    RETURNING * INTO t;
  o_replay := false;
  o_result := to_jsonb(t);
  IF p_key IS NOT NULL THEN
    UPDATE ledger_idempotency SET result = o_result WHERE key = p_key;
  END IF;
END $$;

CREATE FUNCTION ledger_place_hold(
  p_key text, p_hash text, p_id uuid, p_account uuid, p_asset text, p_amount bigint,
  p_expires timestamptz, p_rtype text, p_rid text, p_meta jsonb, p_at timestamptz,
  OUT o_replay boolean, OUT o_result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  h ledger_holds;
BEGIN
  IF p_key IS NOT NULL THEN
    o_result := ledger_claim(p_key, p_hash);
    o_replay := o_result IS NOT NULL;
    IF o_replay THEN
      RETURN;
    END IF;
  END IF;
  IF p_expires <= p_at THEN
    RAISE EXCEPTION 'A hold must expire in the future.' USING ERRCODE = 'GL016';
  END IF;
  -- The hold's own trigger reserves the funds (and lots), or says why it cannot.
  INSERT INTO ledger_holds (id, account_id, asset_code, amount, expires_at, reference_type,
      reference_id, metadata, created_at)
    VALUES (p_id, p_account, p_asset, p_amount, p_expires, p_rtype, p_rid, p_meta, p_at)
    RETURNING * INTO h;
  o_replay := false;
  o_result := to_jsonb(h);
  IF p_key IS NOT NULL THEN
    UPDATE ledger_idempotency SET result = o_result WHERE key = p_key;
  END IF;
END $$;

-- A pending hold, locked; refused when it is missing, resolved or past its deadline.
CREATE FUNCTION ledger_pending_hold(p_hold uuid, p_at timestamptz) RETURNS ledger_holds
LANGUAGE plpgsql AS $$
DECLARE
  h ledger_holds;
BEGIN
  SELECT * INTO h FROM ledger_holds WHERE id = p_hold FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'No such hold' USING ERRCODE = 'GL017';
  END IF;
  IF h.status <> 'pending' THEN
    RAISE EXCEPTION 'Hold is %.', h.status USING ERRCODE = 'GL006';
  END IF;
  IF h.expires_at <= p_at THEN
    RAISE EXCEPTION 'Hold has expired' USING ERRCODE = 'GL018';
  END IF;
  RETURN h;
END $$;

-- Moves all or part of a held amount to p_credit; the rest is released. The result is
-- {"hold": ..., "transfer": ...}.
CREATE FUNCTION ledger_capture(
  p_key text, p_hash text, p_hold uuid, p_credit uuid, p_amount bigint, p_kind text,
  p_rtype text, p_rid text, p_meta jsonb, p_id uuid, p_tx uuid, p_at timestamptz,
  p_actor_type text, p_actor_id uuid,
  OUT o_replay boolean, OUT o_result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
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
      AND b.shard = (hashtext(p_id::text) & 2147483647) % b.shards
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

CREATE FUNCTION ledger_release(
  p_key text, p_hash text, p_hold uuid, p_at timestamptz,
  OUT o_replay boolean, OUT o_result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  h ledger_holds;
BEGIN
  IF p_key IS NOT NULL THEN
    o_result := ledger_claim(p_key, p_hash);
    o_replay := o_result IS NOT NULL;
    IF o_replay THEN
      RETURN;
    END IF;
  END IF;
  PERFORM ledger_pending_hold(p_hold, p_at);
  UPDATE ledger_holds SET status = 'released', captured = 0, resolved_at = p_at
    WHERE id = p_hold RETURNING * INTO h;
  o_replay := false;
  o_result := to_jsonb(h);
  IF p_key IS NOT NULL THEN
    UPDATE ledger_idempotency SET result = o_result WHERE key = p_key;
  END IF;
END $$;

-- Several transfers as one transaction, all or none. Several transfers lock every balance row
-- they touch up front in the global order, and share one time: not earlier than the last
-- transfer on any of those rows (0013). Returns seq and balances after in the given order.
CREATE FUNCTION ledger_post(
  p_key text, p_hash text, p_tx uuid, p_ids uuid[], p_assets text[], p_debits uuid[],
  p_credits uuid[], p_amounts bigint[], p_kinds text[], p_rtypes text[], p_rids text[],
  p_metas text[], p_lexps timestamptz[], p_at timestamptz, p_actor_type text, p_actor_id uuid,
  OUT o_replay jsonb, OUT o_seqs bigint[], OUT o_debit_after bigint[],
  OUT o_credit_after bigint[], OUT o_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  at_ timestamptz := p_at;
  latest timestamptz;
  result_ jsonb;
BEGIN
  IF p_key IS NOT NULL THEN
    o_replay := ledger_claim(p_key, p_hash);
    IF o_replay IS NOT NULL THEN
      RETURN;
    END IF;
  END IF;
  IF cardinality(p_ids) > 1 THEN
    SELECT max(l.last_posted_at) INTO latest FROM (
      SELECT b.last_posted_at FROM ledger_balances b
      JOIN (SELECT u.id, u.acc FROM unnest(p_ids, p_debits) AS u(id, acc)
            UNION ALL
            SELECT u.id, u.acc FROM unnest(p_ids, p_credits) AS u(id, acc)) x
        ON x.acc = b.account_id
      WHERE b.shard = (hashtext(x.id::text) & 2147483647) % b.shards
      ORDER BY b.account_id, b.shard
      FOR UPDATE OF b) l;
    at_ := greatest(at_, latest);
  END IF;
  WITH posted AS (
    INSERT INTO ledger_transfers (id, seq, transaction_id, asset_code, debit_account_id,
        credit_account_id, amount, kind, reference_type, reference_id, metadata,
        debit_balance_after, credit_balance_after, lot_expires_at, created_at, actor_type,
        actor_id)
      SELECT u.id, 0, p_tx, u.asset, u.debit, u.credit, u.amount, u.kind, u.rtype, u.rid,
             u.meta::jsonb, 0, 0, u.lexp, at_, p_actor_type, p_actor_id
      FROM unnest(p_ids, p_assets, p_debits, p_credits, p_amounts, p_kinds, p_rtypes, p_rids,
                  p_metas, p_lexps)
           WITH ORDINALITY AS u(id, asset, debit, credit, amount, kind, rtype, rid, meta, lexp,
                                ord)
      ORDER BY u.ord
      RETURNING *
  )
  -- Rows are posted in the given order, so seq follows it.
  SELECT array_agg(p.seq ORDER BY p.seq), array_agg(p.debit_balance_after ORDER BY p.seq),
         array_agg(p.credit_balance_after ORDER BY p.seq), max(p.created_at),
         jsonb_agg(to_jsonb(p) ORDER BY p.seq) FILTER (WHERE p_key IS NOT NULL)
    INTO o_seqs, o_debit_after, o_credit_after, o_at, result_
    FROM posted p;
  IF p_key IS NOT NULL THEN
    UPDATE ledger_idempotency
      SET result = jsonb_build_object('transaction_id', p_tx, 'transfers', result_)
      WHERE key = p_key;
  END IF;
END $$;

-- Group commit replays a key the way ledger_transfer stores it (a reference to its transfer).
CREATE OR REPLACE FUNCTION ledger_post_each(
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
