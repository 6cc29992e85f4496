drop table refresh_tokens;
