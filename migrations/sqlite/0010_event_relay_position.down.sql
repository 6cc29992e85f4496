update events set published_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    where published_at is null and seq <= (select published_through from event_relay);
create index events_created_at_idx on events (created_at);
drop index events_unnumbered_idx;
drop table event_relay;
