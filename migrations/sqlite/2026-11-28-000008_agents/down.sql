DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE agent_commands;
DROP TABLE agent_settings;
DROP TABLE agents;
