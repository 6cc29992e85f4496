drop table user_settings;
