-- hems collect --decode-windows: the power entries of the 1 s windows, decoded, one row each
-- (docs/fleet.md "PostgreSQL schema"). Written by the collector from the record it verified, in
-- the transaction that stores the record; without --decode-windows (the default) nothing is
-- written here and windows stay in `records` only, as exact bytes. The values are the record's
-- fields as they are (integer fixed point: mW, mvar, mVA, milli-percent, µWh); no unit is changed.

CREATE TABLE window_powers (
  device_id   text NOT NULL,
  seq         bigint NOT NULL,
  idx         smallint NOT NULL,                  -- the entry's index in the window's powers
  afe         integer NOT NULL,                   -- the AFE that measured the window
  start_ns    bigint NOT NULL,                    -- wall time of the window's first sample, ns
  start_time  timestamptz NOT NULL GENERATED ALWAYS AS (to_timestamp(start_ns / 1e9::float8)) STORED,
  duration_us bigint NOT NULL,
  branch      integer NOT NULL,                   -- 0 = none (a main or unassigned channel)
  phase       text NOT NULL CHECK (phase IN ('A', 'B', 'C', 'N')),
  p_mw        bigint NOT NULL,                    -- active power, mW (negative: exported)
  q_mvar      bigint NOT NULL,
  s_mva       bigint NOT NULL,
  pf_mpct     integer NOT NULL,                   -- P/S, milli-percent
  import_uwh  bigint NOT NULL,                    -- energy completed in the window, µWh
  export_uwh  bigint NOT NULL,
  PRIMARY KEY (device_id, seq, idx),
  FOREIGN KEY (device_id, seq) REFERENCES records (device_id, seq) ON DELETE CASCADE
);

-- Per device, branch and UTC hour (of the windows' start): energy in and out, µWh; the branch's
-- mean active power, mW (its entries of a window summed, averaged over its windows in the hour).
CREATE VIEW branch_energy_hourly AS
  SELECT device_id, branch, date_trunc('hour', start_time, 'UTC') AS hour, count(DISTINCT seq) AS windows,
         sum(import_uwh) AS import_uwh, sum(export_uwh) AS export_uwh,
         round(sum(p_mw)::numeric / count(DISTINCT seq), 3) AS mean_p_mw
  FROM window_powers
  GROUP BY device_id, branch, date_trunc('hour', start_time, 'UTC');
