-- `seq` is unique, and the index of that constraint serves every read by seq: this partial copy
-- of it only made each publish write one index entry more.
drop index events_seq_idx;

-- An agent's state (its beliefs: several KiB for a 20x20 grid) is rewritten and read whole on
-- every step; lz4 compresses and expands it several times faster than the default pglz. A server
-- built without lz4 keeps pglz.
do $$
begin
    alter table agents alter column state set compression lz4;
exception when feature_not_supported then
    null;
end
$$;
