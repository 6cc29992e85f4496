-- The twin of migrations/postgres/0009 (an index and a compression setting SQLite never had):
-- nothing to change here; it keeps the two migration histories numbered alike.
select 1;
