-- One PostgreSQL database for every hotline node. Run once as the postgres superuser:
--   psql -v pw="'SECRET'" -f deploy/postgresql.sql
-- The schema is hotline's own migrations (migrations/postgres), applied by the first node
-- that starts (or by `hotline migrate` beforehand); nodes starting together wait for each
-- other on the migrator's advisory lock.
CREATE ROLE hotline LOGIN PASSWORD :pw;
CREATE DATABASE hotline OWNER hotline ENCODING 'UTF8' TEMPLATE template0;
-- Each node keeps [database] max_connections (10 by default) open: allow for all nodes plus
-- the backup and the console, e.g. 3 nodes × 10 + 10 ≤ max_connections in postgresql.conf.
