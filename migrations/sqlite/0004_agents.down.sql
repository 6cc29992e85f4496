drop table agent_steps;
drop table agents;
