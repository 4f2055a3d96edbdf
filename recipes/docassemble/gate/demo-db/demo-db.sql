-- The `demo db` of docassemble's test server, for the release gate only (see ../README.md):
-- docassemble.demo's SQLObject examples (companydb.py, demodb.py, reldemodb.py) read their
-- database from the configuration key `demo db`; `[test.server] service-env` names this one,
-- and `[test.server] setup` runs this file as postgres once the services are ready.
-- The role's password is a TEST-ONLY value: the server's PostgreSQL is reachable only on the
-- loopback network of the gate's sandbox, and the database is gone when the run ends.
\set ON_ERROR_STOP on
CREATE ROLE demo LOGIN PASSWORD 'demo-TEST-ONLY';
CREATE DATABASE demo OWNER demo ENCODING 'UTF8';
\connect demo
SET ROLE demo;

-- The tables of demodb.py's models (Bank, Customer, BankCustomer), as SQLAlchemy's
-- create_all would make them; made here so that they can hold the rows below before the
-- interview first imports the module (create_all then leaves existing tables alone).
CREATE TABLE bank (
    id SERIAL PRIMARY KEY,
    routing VARCHAR(250) UNIQUE,
    name VARCHAR(250)
);
CREATE TABLE customer (
    id SERIAL PRIMARY KEY,
    ssn VARCHAR(250) UNIQUE,
    first_name VARCHAR(250),
    last_name VARCHAR(250),
    address VARCHAR(250),
    unit VARCHAR(250),
    city VARCHAR(250),
    state VARCHAR(250),
    zip VARCHAR(250)
);
CREATE TABLE bank_customer (
    id SERIAL PRIMARY KEY,
    bank_id INTEGER NOT NULL REFERENCES bank (id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL REFERENCES customer (id) ON DELETE CASCADE
);

-- What upstream's server already holds when "SQL Mirror" (testdatabase.yml) runs: the
-- scenario accepts the interview's default SSN and routing number and expects "The bank is
-- PSFS and the customer is John Smith." without being asked for names or an address, so both
-- records exist (upstream's suite does not make them; its server kept them from an earlier
-- session). The address is a placeholder.
INSERT INTO bank (routing, name) VALUES ('234234223', 'PSFS');
INSERT INTO customer (ssn, first_name, last_name, address, city, state, zip)
    VALUES ('023-43-2412', 'John', 'Smith', '123 Main Street', 'Philadelphia', 'PA', '19102');
