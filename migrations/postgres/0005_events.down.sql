drop sequence events_seq_seq;
drop table events;
