-- Monthly partitions by time-ordered id. A UUID version 7 starts with its Unix time in
-- milliseconds (48 bits), so the ids made in a month lie between the smallest UUID of the
-- month's first millisecond and that of the next month's. The id is the primary key, so every
-- unique key and foreign key keeps working, and a row's partition is fixed when its id is
-- made: a trigger may still change its time (the ledger's posting trigger moves created_at
-- forward), which a partition by created_at would forbid. gullak/db/partitions.py says more.
--
-- Partitions live in the schema `partitions`, one per table and UTC month:
-- partitions.<table>_pYYYY_MM. There is no default partition: an id of another UUID version
-- (v4's leading bits are random) or of a month without its partition is refused.

CREATE SCHEMA partitions;

-- The smallest UUID of the millisecond `at`: every v7 id made then or later sorts after it.
CREATE FUNCTION gullak_uuid7_floor(at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0')
        || repeat('0', 20))::uuid;

-- When a v7 id was made; NULL for a UUID of any other version or variant.
CREATE FUNCTION gullak_uuid7_time(id uuid) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN substr(id::text, 15, 1) = '7' AND substr(id::text, 20, 1) IN ('8', '9', 'a', 'b')
            THEN to_timestamp(('x' || left(replace(id::text, '-', ''), 12))::bit(48)::bigint
                              / 1000.0) END;

-- A v7 id of the time `at`: its milliseconds, the version, then a random v4's bits (its own
-- version digit left out). For ids made in SQL (scripts, the benchmarks); the application
-- makes its own (kit/ids.py). One expression, so the planner inlines it: a call costs about
-- what gen_random_uuid() does.
CREATE FUNCTION gullak_uuid7(at timestamptz DEFAULT clock_timestamp()) RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE
RETURN (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7'
        || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid;

-- The partition of `parent` for the ids of the UTC month of `at`, made if missing. Returns its
-- name when it made it, NULL when it existed.
CREATE FUNCTION gullak_create_partition(parent text, at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  month timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
  name text := parent || '_p' || to_char(month, 'YYYY_MM');
  trg record;
BEGIN
  -- One maker at a time (the daily job, a migration, a benchmark): the check below holds.
  PERFORM pg_advisory_xact_lock(hashtext('gullak_create_partition'));
  IF to_regclass(format('partitions.%I', name)) IS NOT NULL THEN
    RETURN NULL;
  END IF;
  -- Made apart, then attached: attaching locks the parent against writes only (and only
  -- because of a foreign key), where CREATE TABLE ... PARTITION OF would block reads too.
  EXECUTE format('CREATE TABLE partitions.%I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
                 ' INCLUDING STORAGE)', name, parent);
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION partitions.%I FOR VALUES FROM (%L) TO (%L)',
                 parent, name, gullak_uuid7_floor(month AT TIME ZONE 'UTC'),
                 gullak_uuid7_floor((month + interval '1 month') AT TIME ZONE 'UTC'));
  -- The parent's row triggers run on every partition; its TRUNCATE triggers only when the
  -- parent itself is truncated. Each partition gets its own copy of those.
  FOR trg IN SELECT t.tgname, p.proname, n.nspname FROM pg_trigger t
             JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE t.tgrelid = parent::regclass AND t.tgtype & 32 <> 0 AND NOT t.tgisinternal LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON partitions.%I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %I.%I()',
                   trg.tgname, name, trg.nspname, trg.proname);
  END LOOP;
  RETURN name;
END $$;

-- Every month's partition from the month of `since` through the month of `until`, made if
-- missing; returns the names made.
CREATE FUNCTION gullak_create_partitions(parent text, since timestamptz, until timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  month timestamp := date_trunc('month', since AT TIME ZONE 'UTC');
  made text;
BEGIN
  WHILE month <= until AT TIME ZONE 'UTC' LOOP
    made := gullak_create_partition(parent, month AT TIME ZONE 'UTC');
    IF made IS NOT NULL THEN
      RETURN NEXT made;
    END IF;
    month := month + interval '1 month';
  END LOOP;
END $$;
