drop table coalition_objectives;
drop table coalition_members;
drop table coalitions;
