-- The ledger's tables and the triggers that make them safe on their own: balances change only
-- through transfers and holds, user balances never go below zero, entries never change.
-- Errors raised here carry SQLSTATEs of class GL that the service maps to problem codes.

CREATE TABLE ledger_assets (
  code           text PRIMARY KEY CONSTRAINT ck_ledger_assets_code CHECK (code ~ '^[A-Z][A-Z0-9_]{1,31}$'),
  name           text NOT NULL,
  kind           text NOT NULL CONSTRAINT ck_ledger_assets_kind CHECK (kind IN ('coin', 'cash', 'points')),
  scale          smallint NOT NULL CONSTRAINT ck_ledger_assets_scale CHECK (scale BETWEEN 0 AND 6),
  expires        boolean NOT NULL DEFAULT false,
  lifetime_days  integer CONSTRAINT ck_ledger_assets_lifetime CHECK (lifetime_days > 0),
  merchant_id    uuid,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ck_ledger_assets_expiry CHECK (NOT expires OR lifetime_days IS NOT NULL)
);

CREATE TABLE ledger_accounts (
  id              uuid PRIMARY KEY,
  asset_code      text NOT NULL CONSTRAINT fk_ledger_accounts_asset_code_ledger_assets REFERENCES ledger_assets (code),
  owner_type      text NOT NULL CONSTRAINT ck_ledger_accounts_owner_type CHECK (owner_type IN ('user', 'merchant', 'platform')),
  owner_id        uuid,
  purpose         text NOT NULL DEFAULT 'main' CONSTRAINT ck_ledger_accounts_purpose CHECK (purpose ~ '^[a-z][a-z0-9_]{0,39}$'),
  allow_negative  boolean NOT NULL DEFAULT false,
  -- Hot platform accounts are split into shards so that they do not serialise all traffic.
  shards          smallint NOT NULL DEFAULT 1 CONSTRAINT ck_ledger_accounts_shards CHECK (shards BETWEEN 1 AND 64),
  -- Credits to this account are expiring lots (an expiring asset, owned by a user or merchant).
  lots            boolean NOT NULL DEFAULT false,
  frozen_reason   text,
  frozen_at       timestamptz,
  daily_limit     bigint CONSTRAINT ck_ledger_accounts_daily_limit CHECK (daily_limit > 0),
  monthly_limit   bigint CONSTRAINT ck_ledger_accounts_monthly_limit CHECK (monthly_limit > 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ck_ledger_accounts_owner CHECK ((owner_type = 'platform') = (owner_id IS NULL)),
  CONSTRAINT ck_ledger_accounts_negative CHECK (owner_type = 'platform' OR NOT allow_negative),
  CONSTRAINT ck_ledger_accounts_sharded CHECK (shards = 1 OR owner_type = 'platform'),
  CONSTRAINT uq_ledger_accounts_owner UNIQUE NULLS NOT DISTINCT (owner_type, owner_id, asset_code, purpose)
);

-- One row per account (per shard for sharded accounts). It repeats what posting needs from the
-- account, so that a transfer touches nothing but the two balance rows it updates.
CREATE TABLE ledger_balances (
  account_id      uuid NOT NULL CONSTRAINT fk_ledger_balances_account_id_ledger_accounts REFERENCES ledger_accounts (id),
  shard           smallint NOT NULL,
  balance         bigint NOT NULL DEFAULT 0,
  held            bigint NOT NULL DEFAULT 0 CONSTRAINT ck_ledger_balances_held CHECK (held >= 0),
  asset_code      text NOT NULL,
  shards          smallint NOT NULL,
  allow_negative  boolean NOT NULL,
  lots            boolean NOT NULL,
  limited         boolean NOT NULL DEFAULT false,
  frozen          boolean NOT NULL DEFAULT false,
  CONSTRAINT pk_ledger_balances PRIMARY KEY (account_id, shard),
  -- The last line of defence: whatever SQL runs, a user's available balance stays >= 0.
  CONSTRAINT ck_ledger_balances_available CHECK (allow_negative OR balance - held >= 0)
);

CREATE SEQUENCE ledger_transfer_seq AS bigint;

CREATE TABLE ledger_transfers (
  id                    uuid PRIMARY KEY,
  -- Taken after both accounts are locked, so it orders each account's entries as posted.
  seq                   bigint NOT NULL,
  transaction_id        uuid NOT NULL,
  asset_code            text NOT NULL,
  debit_account_id      uuid NOT NULL,
  debit_shard           smallint NOT NULL DEFAULT 0,
  credit_account_id     uuid NOT NULL,
  credit_shard          smallint NOT NULL DEFAULT 0,
  amount                bigint NOT NULL CONSTRAINT ck_ledger_transfers_amount CHECK (amount > 0),
  kind                  text NOT NULL CONSTRAINT ck_ledger_transfers_kind CHECK (kind ~ '^[a-z][a-z_]{1,31}$'),
  reference_type        text,
  reference_id          text,
  metadata              jsonb NOT NULL DEFAULT '{}'::jsonb,
  debit_balance_after   bigint NOT NULL,
  credit_balance_after  bigint NOT NULL,
  reverses_id           uuid CONSTRAINT fk_ledger_transfers_reverses_id_ledger_transfers REFERENCES ledger_transfers (id),
  hold_id               uuid,
  lot_id                uuid,
  lot_expires_at        timestamptz,
  created_at            timestamptz NOT NULL,
  CONSTRAINT ck_ledger_transfers_sides CHECK (debit_account_id <> credit_account_id),
  -- The kinds that bypass a freeze and spend limits are only what the ledger itself posts.
  CONSTRAINT ck_ledger_transfers_reversal CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL)),
  CONSTRAINT ck_ledger_transfers_expire CHECK ((kind = 'expire') = (lot_id IS NOT NULL))
);
CREATE UNIQUE INDEX uq_ledger_transfers_seq ON ledger_transfers (seq);
CREATE INDEX ix_ledger_transfers_debit ON ledger_transfers (debit_account_id, seq);
CREATE INDEX ix_ledger_transfers_credit ON ledger_transfers (credit_account_id, seq);
CREATE INDEX ix_ledger_transfers_reference ON ledger_transfers (reference_type, reference_id) WHERE reference_id IS NOT NULL;
CREATE INDEX ix_ledger_transfers_reverses ON ledger_transfers (reverses_id) WHERE reverses_id IS NOT NULL;

CREATE TABLE ledger_holds (
  id              uuid PRIMARY KEY,
  account_id      uuid NOT NULL CONSTRAINT fk_ledger_holds_account_id_ledger_accounts REFERENCES ledger_accounts (id),
  asset_code      text NOT NULL,
  amount          bigint NOT NULL CONSTRAINT ck_ledger_holds_amount CHECK (amount > 0),
  captured        bigint NOT NULL DEFAULT 0,
  status          text NOT NULL DEFAULT 'pending' CONSTRAINT ck_ledger_holds_status CHECK (status IN ('pending', 'captured', 'released', 'expired')),
  expires_at      timestamptz NOT NULL,
  reference_type  text,
  reference_id    text,
  metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL,
  resolved_at     timestamptz,
  CONSTRAINT ck_ledger_holds_captured CHECK (captured >= 0 AND captured <= amount),
  CONSTRAINT ck_ledger_holds_resolved CHECK ((status = 'pending') = (resolved_at IS NULL))
);
CREATE INDEX ix_ledger_holds_account ON ledger_holds (account_id, created_at);
CREATE INDEX ix_ledger_holds_pending_expiry ON ledger_holds (expires_at) WHERE status = 'pending';

CREATE TABLE ledger_lots (
  id           uuid PRIMARY KEY,
  account_id   uuid NOT NULL CONSTRAINT fk_ledger_lots_account_id_ledger_accounts REFERENCES ledger_accounts (id),
  transfer_id  uuid NOT NULL,
  amount       bigint NOT NULL CONSTRAINT ck_ledger_lots_amount CHECK (amount > 0),
  remaining    bigint NOT NULL,
  reserved     bigint NOT NULL DEFAULT 0,
  expires_at   timestamptz NOT NULL,
  created_at   timestamptz NOT NULL,
  CONSTRAINT ck_ledger_lots_remaining CHECK (remaining >= 0 AND remaining <= amount),
  CONSTRAINT ck_ledger_lots_reserved CHECK (reserved >= 0 AND reserved <= remaining)
);
CREATE INDEX ix_ledger_lots_open ON ledger_lots (account_id, expires_at, created_at) WHERE remaining > 0;
CREATE INDEX ix_ledger_lots_expiry ON ledger_lots (expires_at) WHERE remaining > 0;

-- Which lots a pending hold on an expiring asset has reserved.
CREATE TABLE ledger_hold_lots (
  hold_id  uuid NOT NULL CONSTRAINT fk_ledger_hold_lots_hold_id_ledger_holds REFERENCES ledger_holds (id),
  lot_id   uuid NOT NULL CONSTRAINT fk_ledger_hold_lots_lot_id_ledger_lots REFERENCES ledger_lots (id),
  amount   bigint NOT NULL CONSTRAINT ck_ledger_hold_lots_amount CHECK (amount > 0),
  CONSTRAINT pk_ledger_hold_lots PRIMARY KEY (hold_id, lot_id)
);

-- Spend per account and period, for daily and monthly limits.
CREATE TABLE ledger_spend (
  account_id    uuid NOT NULL,
  period        char(1) NOT NULL CONSTRAINT ck_ledger_spend_period CHECK (period IN ('d', 'm')),
  period_start  date NOT NULL,
  spent         bigint NOT NULL,
  CONSTRAINT pk_ledger_spend PRIMARY KEY (account_id, period, period_start)
);

CREATE TABLE ledger_idempotency (
  key           text PRIMARY KEY,
  request_hash  text NOT NULL,
  result        jsonb,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Balances move only inside the ledger's own triggers (depth >= 2 when a transfer or hold
-- statement fires them); any other statement that touches balance or held is refused.
CREATE FUNCTION ledger_guard_balances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'ledger balances cannot be deleted' USING ERRCODE = 'GL009';
  END IF;
  IF (NEW.balance, NEW.held, NEW.account_id, NEW.shard, NEW.asset_code, NEW.shards,
      NEW.allow_negative, NEW.lots)
     IS DISTINCT FROM (OLD.balance, OLD.held, OLD.account_id, OLD.shard, OLD.asset_code, OLD.shards,
                       OLD.allow_negative, OLD.lots)
     AND pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'balances change only through ledger transfers and holds' USING ERRCODE = 'GL009';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ledger_balances_guard BEFORE UPDATE OR DELETE ON ledger_balances
  FOR EACH ROW EXECUTE FUNCTION ledger_guard_balances();

CREATE FUNCTION ledger_guard_new_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.balance <> 0 OR NEW.held <> 0 THEN
    RAISE EXCEPTION 'a balance starts at zero' USING ERRCODE = 'GL009';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ledger_balances_start_at_zero BEFORE INSERT ON ledger_balances
  FOR EACH ROW EXECUTE FUNCTION ledger_guard_new_balance();

CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are immutable: post a reversing transfer instead', TG_TABLE_NAME
    USING ERRCODE = 'GL010';
END $$;
CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers
  FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();

-- Lots: consume up to `want` from the account's open lots, earliest expiry first, then oldest.
-- `hold` first takes what that hold reserved (even from lots expired since), then FIFO.
CREATE FUNCTION ledger_consume_lots(p_account uuid, p_want bigint, p_at timestamptz, p_hold uuid, p_lot uuid)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  left_ bigint := p_want;
  take  bigint;
  r     record;
BEGIN
  IF p_lot IS NOT NULL THEN  -- an expiry sweep takes exactly its lot's free remainder
    UPDATE ledger_lots SET remaining = remaining - p_want
      WHERE id = p_lot AND account_id = p_account AND remaining - reserved >= p_want;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'lot % cannot give %', p_lot, p_want USING ERRCODE = 'GL001';
    END IF;
    RETURN;
  END IF;
  IF p_hold IS NOT NULL THEN
    FOR r IN SELECT hl.lot_id, hl.amount, l.remaining - l.reserved AS free
             FROM ledger_hold_lots hl JOIN ledger_lots l ON l.id = hl.lot_id
             WHERE hl.hold_id = p_hold ORDER BY l.expires_at, l.created_at, l.id FOR UPDATE OF l LOOP
      EXIT WHEN left_ = 0;
      take := LEAST(left_, r.amount, r.free);
      IF take > 0 THEN
        UPDATE ledger_lots SET remaining = remaining - take WHERE id = r.lot_id;
        left_ := left_ - take;
      END IF;
    END LOOP;
  END IF;
  FOR r IN SELECT id, remaining - reserved AS free FROM ledger_lots
           WHERE account_id = p_account AND remaining > reserved AND expires_at > p_at
           ORDER BY expires_at, created_at, id FOR UPDATE LOOP
    EXIT WHEN left_ = 0;
    take := LEAST(left_, r.free);
    UPDATE ledger_lots SET remaining = remaining - take WHERE id = r.id;
    left_ := left_ - take;
  END LOOP;
  IF left_ > 0 THEN
    RAISE EXCEPTION 'insufficient unexpired funds: % short', left_ USING ERRCODE = 'GL001';
  END IF;
END $$;

-- Why a transfer cannot post, in a fixed order: a missing account, then a mismatched asset,
-- then a frozen debit account, then insufficient funds.
CREATE FUNCTION ledger_refuse(p_debit uuid, p_credit uuid, p_asset text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  d record;
  c record;
BEGIN
  SELECT asset_code, frozen INTO d FROM ledger_balances WHERE account_id = p_debit LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'debit account % does not exist', p_debit USING ERRCODE = 'GL003';
  END IF;
  SELECT asset_code INTO c FROM ledger_balances WHERE account_id = p_credit LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'credit account % does not exist', p_credit USING ERRCODE = 'GL003';
  END IF;
  IF d.asset_code <> p_asset OR c.asset_code <> p_asset THEN
    RAISE EXCEPTION 'accounts hold %/%, transfer is in %', d.asset_code, c.asset_code, p_asset
      USING ERRCODE = 'GL004';
  END IF;
  IF d.frozen THEN
    RAISE EXCEPTION 'account % is frozen', p_debit USING ERRCODE = 'GL002';
  END IF;
  RAISE EXCEPTION 'insufficient available funds in %', p_debit USING ERRCODE = 'GL001';
END $$;

CREATE FUNCTION ledger_post_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  h integer := hashtext(NEW.id::text) & 2147483647;  -- picks the shard of a sharded account
  d_lots boolean; d_limited boolean; c_lots boolean;
  d_ok boolean; c_ok boolean; sys_kind boolean;
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
    UPDATE ledger_balances SET balance = balance - NEW.amount
      WHERE account_id = NEW.debit_account_id AND shard = h % shards
        AND asset_code = NEW.asset_code AND (NOT frozen OR sys_kind)
        AND (allow_negative OR balance - held >= NEW.amount)
      RETURNING shard, balance, lots, limited
      INTO NEW.debit_shard, NEW.debit_balance_after, d_lots, d_limited;
    d_ok := FOUND;
    UPDATE ledger_balances SET balance = balance + NEW.amount
      WHERE account_id = NEW.credit_account_id AND shard = h % shards
        AND asset_code = NEW.asset_code
      RETURNING shard, balance, lots INTO NEW.credit_shard, NEW.credit_balance_after, c_lots;
    c_ok := FOUND;
  ELSE
    UPDATE ledger_balances SET balance = balance + NEW.amount
      WHERE account_id = NEW.credit_account_id AND shard = h % shards
        AND asset_code = NEW.asset_code
      RETURNING shard, balance, lots INTO NEW.credit_shard, NEW.credit_balance_after, c_lots;
    c_ok := FOUND;
    UPDATE ledger_balances SET balance = balance - NEW.amount
      WHERE account_id = NEW.debit_account_id AND shard = h % shards
        AND asset_code = NEW.asset_code AND (NOT frozen OR sys_kind)
        AND (allow_negative OR balance - held >= NEW.amount)
      RETURNING shard, balance, lots, limited
      INTO NEW.debit_shard, NEW.debit_balance_after, d_lots, d_limited;
    d_ok := FOUND;
  END IF;
  IF NOT (d_ok AND c_ok) THEN
    PERFORM ledger_refuse(NEW.debit_account_id, NEW.credit_account_id, NEW.asset_code);
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
CREATE TRIGGER ledger_transfers_post BEFORE INSERT ON ledger_transfers
  FOR EACH ROW EXECUTE FUNCTION ledger_post_transfer();

-- Holds: placing one reserves available funds (and, for expiring assets, the earliest lots).
CREATE FUNCTION ledger_place_hold() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  asset_ text; shards_ smallint; lots_ boolean; frozen_ boolean;
  left_ bigint := NEW.amount;
  take bigint;
  r record;
BEGIN
  IF NEW.status <> 'pending' OR NEW.captured <> 0 OR NEW.resolved_at IS NOT NULL THEN
    RAISE EXCEPTION 'a hold starts pending' USING ERRCODE = 'GL011';
  END IF;
  -- Applies only when the hold is acceptable; otherwise say why, in a fixed order.
  UPDATE ledger_balances SET held = held + NEW.amount
    WHERE account_id = NEW.account_id AND shard = 0 AND asset_code = NEW.asset_code
      AND shards = 1 AND NOT frozen AND (allow_negative OR balance - held >= NEW.amount)
    RETURNING lots INTO lots_;
  IF NOT FOUND THEN
    SELECT asset_code, shards, frozen INTO asset_, shards_, frozen_
      FROM ledger_balances WHERE account_id = NEW.account_id AND shard = 0;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'account % does not exist', NEW.account_id USING ERRCODE = 'GL003';
    ELSIF asset_ <> NEW.asset_code THEN
      RAISE EXCEPTION 'account holds %, hold is in %', asset_, NEW.asset_code USING ERRCODE = 'GL004';
    ELSIF shards_ > 1 THEN
      RAISE EXCEPTION 'holds are for user and merchant accounts' USING ERRCODE = 'GL011';
    ELSIF frozen_ THEN
      RAISE EXCEPTION 'account % is frozen', NEW.account_id USING ERRCODE = 'GL002';
    END IF;
    RAISE EXCEPTION 'insufficient available funds in %', NEW.account_id USING ERRCODE = 'GL001';
  END IF;
  IF lots_ THEN
    FOR r IN SELECT id, remaining - reserved AS free FROM ledger_lots
             WHERE account_id = NEW.account_id AND remaining > reserved AND expires_at > NEW.created_at
             ORDER BY expires_at, created_at, id FOR UPDATE LOOP
      EXIT WHEN left_ = 0;
      take := LEAST(left_, r.free);
      UPDATE ledger_lots SET reserved = reserved + take WHERE id = r.id;
      INSERT INTO ledger_hold_lots (hold_id, lot_id, amount) VALUES (NEW.id, r.id, take);
      left_ := left_ - take;
    END LOOP;
    IF left_ > 0 THEN
      RAISE EXCEPTION 'insufficient unexpired funds: % short', left_ USING ERRCODE = 'GL001';
    END IF;
  END IF;
  RETURN NEW;
END $$;
-- AFTER, so that the hold row exists when its lot reservations reference it.
CREATE TRIGGER ledger_holds_place AFTER INSERT ON ledger_holds
  FOR EACH ROW EXECUTE FUNCTION ledger_place_hold();

-- A hold resolves once: pending -> captured | released | expired; resolving frees what it held.
CREATE FUNCTION ledger_resolve_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'holds cannot be deleted' USING ERRCODE = 'GL010';
  END IF;
  IF OLD.status <> 'pending' OR NEW.status = 'pending'
     OR (NEW.id, NEW.account_id, NEW.asset_code, NEW.amount, NEW.expires_at, NEW.created_at)
        IS DISTINCT FROM (OLD.id, OLD.account_id, OLD.asset_code, OLD.amount, OLD.expires_at, OLD.created_at)
     OR (NEW.status <> 'captured' AND NEW.captured <> 0) THEN
    RAISE EXCEPTION 'hold % is %: it resolves once, pending to captured, released or expired', OLD.id, OLD.status
      USING ERRCODE = 'GL006';
  END IF;
  UPDATE ledger_balances SET held = held - OLD.amount WHERE account_id = OLD.account_id AND shard = 0;
  UPDATE ledger_lots l SET reserved = l.reserved - hl.amount
    FROM ledger_hold_lots hl WHERE hl.hold_id = OLD.id AND l.id = hl.lot_id;
  RETURN NEW;
END $$;
CREATE TRIGGER ledger_holds_resolve BEFORE UPDATE OR DELETE ON ledger_holds
  FOR EACH ROW EXECUTE FUNCTION ledger_resolve_hold();
