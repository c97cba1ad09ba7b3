-- hems collect: decoded records for analysts (docs/fleet.md "PostgreSQL schema"). Every stored
-- record that is not a 1 s window is also kept decoded, as JSON (journal_record_to_json)
-- (with "hash" and "prev"), written by the collector in the transaction that stores the record;
-- windows (the bulk: about 8 of every 10 records) stay in `records` only, as exact bytes.

CREATE TABLE record_types (type smallint PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO record_types (type, name) VALUES
  (1, 'boot'), (2, 'config'), (3, 'note'), (4, 'window'), (5, 'pq_event'), (6, 'request'),
  (7, 'command'), (8, 'refusal'), (9, 'actuation'), (10, 'sense_back'), (11, 'trip_tap'),
  (12, 'der'), (13, 'fault'), (14, 'seal'), (15, 'key'), (16, 'retention'), (17, 'witness'),
  (18, 'pq_aggregate'), (19, 'rollup'), (20, 'copy');

CREATE TABLE events (
  device_id text NOT NULL,
  seq       bigint NOT NULL,
  type      smallint NOT NULL,
  wall_time timestamptz,
  body      jsonb NOT NULL,
  PRIMARY KEY (device_id, seq),
  FOREIGN KEY (device_id, seq) REFERENCES records (device_id, seq) ON DELETE CASCADE
);
CREATE INDEX events_type_time ON events (type, wall_time);

-- Events by name, newest first per device: SELECT * FROM event_log WHERE device_id = … ORDER BY seq DESC.
CREATE VIEW event_log AS
  SELECT e.device_id, e.seq, t.name AS type, e.wall_time, e.body -> 'body' AS body, e.body -> 'source' AS source
  FROM events e JOIN record_types t USING (type);

-- How many records of each type a device has, and its time span (windows included).
CREATE VIEW record_counts AS
  SELECT r.device_id, t.name AS type, count(*) AS records, min(r.wall_time) AS first_time, max(r.wall_time) AS last_time,
         sum(octet_length(r.bytes)) AS bytes
  FROM records r JOIN record_types t USING (type)
  GROUP BY r.device_id, t.name;
