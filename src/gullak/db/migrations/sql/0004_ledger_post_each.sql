-- Post many independent transfers in one database transaction (group commit): each item
-- succeeds or fails on its own, with its own idempotency key. The whole group is first tried
-- as one statement; only a group in which something is refused (or a key was seen before)
-- is posted again item by item, each in a subtransaction of its own.
-- Every balance row the items touch is locked first, in the global lock order (account,
-- then shard: the shard a transfer uses follows from its id, see ledger_post_transfer).
CREATE FUNCTION ledger_post_each(
  p_ids uuid[], p_txs uuid[], p_assets text[], p_debits uuid[], p_credits uuid[],
  p_amounts bigint[], p_kinds text[], p_rtypes text[], p_rids text[], p_metas jsonb[],
  p_lexps timestamptz[], p_keys text[], p_hashes text[], p_at timestamptz)
RETURNS TABLE (i integer, status text, err_state text, err_constraint text, err_message text,
               seq bigint, debit_after bigint, credit_after bigint, replay jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  n integer := cardinality(p_ids);
  stored record;
  v_i integer[]; v_seq bigint[]; v_da bigint[]; v_ca bigint[];
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
                    credit_balance_after
      )
    SELECT array_agg(array_position(p_ids, p.id)), array_agg(p.seq),
           array_agg(p.debit_balance_after), array_agg(p.credit_balance_after)
      INTO v_i, v_seq, v_da, v_ca FROM posted p;
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
                        NULL::jsonb
                 FROM unnest(v_i, v_seq, v_da, v_ca) AS u(i, s, da, ca);
    RETURN;
  END IF;

  FOR k IN 1 .. n LOOP
    i := k; status := 'ok'; err_state := NULL; err_constraint := NULL; err_message := NULL;
    seq := NULL; debit_after := NULL; credit_after := NULL; replay := NULL;
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
        RETURNING ledger_transfers.seq, debit_balance_after, credit_balance_after
        INTO seq, debit_after, credit_after;
      IF p_keys[k] IS NOT NULL THEN
        UPDATE ledger_idempotency SET result = jsonb_build_object(
            'id', p_ids[k], 'seq', seq, 'transaction_id', p_txs[k], 'asset_code', p_assets[k],
            'debit_account_id', p_debits[k], 'credit_account_id', p_credits[k],
            'amount', p_amounts[k], 'kind', p_kinds[k], 'reference_type', p_rtypes[k],
            'reference_id', p_rids[k], 'metadata', p_metas[k],
            'debit_balance_after', debit_after, 'credit_balance_after', credit_after,
            'reverses_id', NULL, 'hold_id', NULL, 'created_at', p_at)
          WHERE key = p_keys[k];
      END IF;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_constraint = CONSTRAINT_NAME,
                              err_message = MESSAGE_TEXT;
      status := 'error'; seq := NULL; debit_after := NULL; credit_after := NULL;
    END;
    RETURN NEXT;
  END LOOP;
END $$;
