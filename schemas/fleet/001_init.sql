-- hems collect: the fleet head-end's store (docs/fleet.md "PostgreSQL schema").
-- Applied by `hems collect` at start, in one transaction, under an advisory lock, and recorded in
-- schema_version; never edit a migration once released: add 002_….sql.

CREATE TABLE devices (
  device_id     text PRIMARY KEY CHECK (device_id ~ '^[0-9a-f]{32}$'),
  pubkey        bytea NOT NULL CHECK (octet_length(pubkey) = 32),  -- the registered (pinned) key
  key_current   bytea NOT NULL CHECK (octet_length(key_current) = 32), -- the key in force after
                                                  -- the verified records (key rotation records)
  registered_at timestamptz NOT NULL DEFAULT now(),
  head_seq      bigint NOT NULL DEFAULT 0,        -- the last verified and stored seq
  head_hash     bytea,                            -- its chain hash (the next record's prev)
  tree_edge     bytea NOT NULL DEFAULT '',        -- the Merkle tree's right edge over 1..head_seq:
                                                  -- one 32-byte hash per set bit, lowest first
  quarantined   boolean NOT NULL DEFAULT false,
  updated_at    timestamptz
);

-- Exact record bytes keyed by (device, seq); hash partitions by device (see docs/fleet.md on why
-- not by month).
CREATE TABLE records (
  device_id   text NOT NULL REFERENCES devices,
  seq         bigint NOT NULL CHECK (seq >= 1),
  type        smallint NOT NULL,
  wall_time   timestamptz,
  bytes       bytea NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device_id, seq)
) PARTITION BY HASH (device_id);
CREATE TABLE records_p0 PARTITION OF records FOR VALUES WITH (MODULUS 8, REMAINDER 0);
CREATE TABLE records_p1 PARTITION OF records FOR VALUES WITH (MODULUS 8, REMAINDER 1);
CREATE TABLE records_p2 PARTITION OF records FOR VALUES WITH (MODULUS 8, REMAINDER 2);
CREATE TABLE records_p3 PARTITION OF records FOR VALUES WITH (MODULUS 8, REMAINDER 3);
CREATE TABLE records_p4 PARTITION OF records FOR VALUES WITH (MODULUS 8, REMAINDER 4);
CREATE TABLE records_p5 PARTITION OF records FOR VALUES WITH (MODULUS 8, REMAINDER 5);
CREATE TABLE records_p6 PARTITION OF records FOR VALUES WITH (MODULUS 8, REMAINDER 6);
CREATE TABLE records_p7 PARTITION OF records FOR VALUES WITH (MODULUS 8, REMAINDER 7);

-- Every verified seal's checkpoint (the device's signed note), and the collector's cosignature.
CREATE TABLE checkpoints (
  device_id   text NOT NULL REFERENCES devices,
  size        bigint NOT NULL,                    -- tree size = the sealed seq
  root        bytea NOT NULL,
  note        text NOT NULL,                      -- the device's signed note
  cosigned    text,                               -- note + the witness's cosignature line (NULL: no
                                                  -- --witness-key)
  verified_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device_id, size)
);

CREATE TABLE quarantine (
  id            bigserial PRIMARY KEY,
  device_id     text NOT NULL REFERENCES devices,
  at            timestamptz NOT NULL DEFAULT now(),
  reason        text NOT NULL,
  seq           bigint,                           -- the offending seq (0: none)
  stored_hash   bytea,                            -- chain hash of the stored record at seq
  received_hash bytea,                            -- chain hash of the received one
  received      bytea,                            -- the offending record's bytes
  evidence      text                              -- e.g. the cosigned and the conflicting checkpoint
);
