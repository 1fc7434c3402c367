DROP TABLE chain_responses;
DROP TABLE chain_steps;
DROP TABLE chains;
