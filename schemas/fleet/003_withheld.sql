-- hems collect: withheld records (hems ship --withhold; docs/fleet.md "Privacy"). A withheld
-- record arrives as its RFC 9162 leaf hash only (SHA-256(0x00 || record)): its row has that in
-- `leaf` and no bytes, no type and no wall time (the collector never saw them). Every row holds
-- exactly one of the two. A later copy of the same seq (redelivery, backfill) must be the same
-- record: equal bytes, equal leaf, or bytes whose leaf hash is the stored leaf (the row is left
-- as it is); anything else is a fork.

ALTER TABLE records ALTER COLUMN bytes DROP NOT NULL;
ALTER TABLE records ALTER COLUMN type DROP NOT NULL;
ALTER TABLE records ADD COLUMN leaf bytea;
ALTER TABLE records ADD CONSTRAINT records_bytes_or_leaf
  CHECK ((bytes IS NULL) <> (leaf IS NULL) AND (leaf IS NULL OR octet_length(leaf) = 32) AND
         (bytes IS NOT NULL OR type IS NULL));
