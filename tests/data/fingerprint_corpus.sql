-- Corpus for tests/tests/suite/fingerprint_oracle.rs: every statement runs, in order, against a
-- throw-away cluster with pg_stat_statements; pgscope's grouping must equal the server's
-- queryid grouping except for the deliberate differences documented in
-- pgscope-fingerprint's crate docs. A statement preceded by `-- expect: CATEGORY` is one whose
-- pairing with others differs on purpose (categories are listed in the test).
-- Statements are separated by `;`. The file must keep running cleanly: each statement must
-- succeed, and tables that are queried are never dropped or altered before the end.

-- ===== schema (utility) =====
CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88));
CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84));
CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, name text, tenant_id int NOT NULL DEFAULT 1, active boolean DEFAULT true, created_at timestamptz DEFAULT now());
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint REFERENCES users (id), status text NOT NULL DEFAULT 'new', total numeric(12,2) NOT NULL DEFAULT 0, created_at timestamptz DEFAULT now());
CREATE TABLE items (id serial PRIMARY KEY, order_id bigint, sku text, qty int, price numeric(10,2));
CREATE TABLE events (id bigserial PRIMARY KEY, kind text, payload jsonb, tags text[], at timestamptz DEFAULT now());
CREATE TABLE jobs (id serial PRIMARY KEY, state text NOT NULL DEFAULT 'new', attempts int NOT NULL DEFAULT 0, run_at timestamptz);
CREATE TABLE counters (name text PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
CREATE TABLE "Audit" ("Id" serial PRIMARY KEY, "Action" text);
CREATE SCHEMA app;
CREATE TABLE app.settings (key text PRIMARY KEY, value text);
CREATE INDEX orders_user_idx ON orders (user_id);
CREATE INDEX CONCURRENTLY events_kind_idx ON events (kind);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));
CREATE VIEW active_users AS SELECT id, email FROM users WHERE active;
CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE sql AS $$ SELECT x + 1 $$;
CREATE PROCEDURE bump(c text) LANGUAGE sql AS $$ UPDATE counters SET n = n + 1 WHERE name = c $$;
CREATE FUNCTION sq(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x < 0 THEN 0 ELSE x * x END; END;

-- ===== data =====
INSERT INTO pgbench_branches (bid, bbalance) VALUES (1, 0);
INSERT INTO pgbench_branches (bid, bbalance) VALUES (2, 0);
INSERT INTO pgbench_tellers (tid, bid, tbalance) SELECT g, 1 + g % 2, 0 FROM generate_series(1, 10) g;
INSERT INTO pgbench_accounts (aid, bid, abalance) SELECT g, 1 + g % 2, 0 FROM generate_series(1, 1000) g;
INSERT INTO users (email, name, tenant_id) VALUES ('a@example.com', 'Ann', 1);
INSERT INTO users (email, name, tenant_id) VALUES ('b@example.com', 'Bob', 2);
INSERT INTO users (email, name) VALUES ('c@example.com', NULL);
-- expect: values-rows
INSERT INTO users (email, name, tenant_id) VALUES ('d@example.com', 'Dee', 1), ('e@example.com', 'Eve', 2);
-- expect: values-rows
INSERT INTO users (email, name, tenant_id) VALUES ('f@example.com', 'Fay', 1), ('g@example.com', 'Gus', 2), ('h@example.com', 'Hal', 3);
INSERT INTO orders (user_id, status, total) VALUES (1, 'paid', 10.50);
-- expect: constant-type
INSERT INTO orders (user_id, status, total) VALUES (2, 'new', 99);
-- expect: values-rows
INSERT INTO orders (user_id, status, total) VALUES (1, 'shipped', 5), (2, 'paid', 7.25), (3, 'new', 0);
INSERT INTO items (order_id, sku, qty, price) VALUES (1, 'SKU-1', 2, 3.50);
-- expect: values-rows
INSERT INTO items (order_id, sku, qty, price) VALUES (1, 'SKU-2', 1, 1.00), (2, 'SKU-3', 4, 2.00);
INSERT INTO events (kind, payload, tags) VALUES ('login', '{"user": 1, "ip": "10.0.0.1"}', ARRAY['web', 'eu']);
INSERT INTO events (kind, payload, tags) VALUES ('logout', '{"user": 2}', ARRAY['app']);
INSERT INTO jobs (state, run_at) VALUES ('new', now());
-- expect: values-rows
INSERT INTO jobs (state, run_at) VALUES ('new', now()), ('new', now()), ('new', now());
INSERT INTO counters (name) VALUES ('visits');
INSERT INTO "Audit" ("Action") VALUES ('created');
INSERT INTO app.settings (key, value) VALUES ('theme', 'dark');

-- ===== pgbench tpcb-like, many values =====
UPDATE pgbench_accounts SET abalance = abalance + 4711 WHERE aid = 1;
UPDATE pgbench_accounts SET abalance = abalance + -3 WHERE aid = 999;
update pgbench_accounts set abalance = abalance + 12 where aid = 77;
SELECT abalance FROM pgbench_accounts WHERE aid = 1;
SELECT abalance FROM pgbench_accounts WHERE aid = 500;
select abalance from pgbench_accounts where aid=42;
SELECT abalance
  FROM pgbench_accounts
 WHERE aid = 7 -- trailing comment
;
SELECT /* hint-like comment */ abalance FROM pgbench_accounts WHERE aid = 8;
SELECT abalance FROM pgbench_accounts WHERE aid = 9 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/;
UPDATE pgbench_tellers SET tbalance = tbalance + 4711 WHERE tid = 1;
UPDATE pgbench_tellers SET tbalance = tbalance + -50 WHERE tid = 3;
UPDATE pgbench_branches SET bbalance = bbalance + 4711 WHERE bid = 1;
UPDATE pgbench_branches SET bbalance = bbalance + 1 WHERE bid = 2;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 4711, CURRENT_TIMESTAMP);
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 2, 999, -3, CURRENT_TIMESTAMP);
SELECT count(*) FROM pgbench_branches;
SELECT count(*) FROM pgbench_accounts WHERE bid = 1;
SELECT count(*) FROM pgbench_accounts WHERE bid = 2;
SELECT sum(abalance) FROM pgbench_accounts;
SELECT sum(abalance) FROM pgbench_accounts WHERE abalance > 0;
SELECT sum(abalance) FROM pgbench_accounts WHERE abalance < 0;
SELECT sum(abalance) FROM pgbench_accounts WHERE abalance >= 0;

-- ===== simple lookups: literals of every kind =====
SELECT id, email FROM users WHERE id = 1;
SELECT id, email FROM users WHERE id = 2;
SELECT id, email FROM users WHERE id = -5;
SELECT id, email FROM users WHERE email = 'a@example.com';
SELECT id, email FROM users WHERE email = E'b@example.com';
SELECT id, email FROM users WHERE email = 'it''s@example.com';
SELECT id, email FROM users WHERE email = $$c@example.com$$;
SELECT id, email FROM users WHERE email = $q$d@example.com$q$;
SELECT id, email FROM users WHERE email = U&'\0061@example.com';
SELECT id, email FROM users WHERE email <> 'x';
SELECT id, email FROM users WHERE email != 'y';
SELECT id, email FROM users WHERE email LIKE 'a%';
SELECT id, email FROM users WHERE email ILIKE 'A%';
SELECT id, email FROM users WHERE lower(email) = lower('A@EXAMPLE.COM');
SELECT id, email FROM users WHERE active = true;
SELECT id, email FROM users WHERE active = false;
SELECT id, email FROM users WHERE active IS TRUE;
SELECT id, email FROM users WHERE active IS NOT TRUE;
SELECT id, email FROM users WHERE name IS NULL;
SELECT id, email FROM users WHERE name IS NOT NULL;
SELECT id, email FROM users WHERE created_at > '2024-01-01';
SELECT id, email FROM users WHERE created_at > '2023-06-30 12:00:00+00';
SELECT id, email FROM users WHERE created_at > DATE '2024-01-01';
SELECT id, email FROM users WHERE created_at > DATE '2020-02-29';
SELECT id, email FROM users WHERE created_at > now() - interval '1 day';
SELECT id, email FROM users WHERE created_at > now() - interval '7 days';
-- expect: equivalent-syntax
SELECT id, email FROM users WHERE created_at > now() - '1 hour'::interval;
-- expect: equivalent-syntax
SELECT id, email FROM users WHERE created_at > now() - '2 hours'::interval;
SELECT id, email FROM users WHERE tenant_id = '1'::int;
SELECT id, email FROM users WHERE tenant_id = '2'::int;
SELECT id, email FROM users WHERE tenant_id BETWEEN 1 AND 10;
SELECT id, email FROM users WHERE tenant_id BETWEEN 5 AND 6;
SELECT id, email FROM users WHERE tenant_id NOT BETWEEN 5 AND 6;
SELECT id FROM users WHERE tenant_id = 1 AND active;
SELECT id FROM users WHERE tenant_id = 1 OR active;
SELECT id FROM users WHERE tenant_id = 1 AND NOT active;
SELECT id FROM users WHERE tenant_id > 1;
SELECT id FROM users WHERE tenant_id >= 1;
SELECT id FROM users WHERE tenant_id + 1 = 3;
SELECT id FROM users WHERE tenant_id - 1 = 3;
SELECT id FROM users WHERE tenant_id * 2 = 4;
SELECT name FROM users WHERE id = 3;
SELECT name FROM users WHERE id = 4;
SELECT name, email FROM users WHERE id = 3;
SELECT email, name FROM users WHERE id = 3;
SELECT 1;
SELECT 2;
SELECT -1;
SELECT 1 + 1;
SELECT 1 + 2;
SELECT 1 - 2;
SELECT now();
SELECT current_date;
SELECT version();

-- ===== limits, offsets, ordering =====
SELECT id FROM users ORDER BY id LIMIT 10;
SELECT id FROM users ORDER BY id LIMIT 20;
SELECT id FROM users ORDER BY id LIMIT 10 OFFSET 20;
SELECT id FROM users ORDER BY id LIMIT 5 OFFSET 0;
SELECT id FROM users ORDER BY id DESC LIMIT 10;
SELECT id FROM users ORDER BY id ASC LIMIT 10;
SELECT id FROM users ORDER BY id DESC NULLS LAST LIMIT 3;
SELECT id, email FROM users ORDER BY 1;
SELECT id, email FROM users ORDER BY 2;
SELECT id, email FROM users ORDER BY 1 DESC, 2;
-- expect: equivalent-syntax
SELECT id FROM users ORDER BY id FETCH FIRST 5 ROWS ONLY;
-- expect: equivalent-syntax
SELECT id FROM users ORDER BY id FETCH FIRST 9 ROWS ONLY;
SELECT tenant_id, count(*) FROM users GROUP BY tenant_id;
-- expect: equivalent-syntax
SELECT tenant_id, count(*) FROM users GROUP BY 1;
SELECT tenant_id, count(*) FROM users GROUP BY tenant_id HAVING count(*) > 1;
SELECT tenant_id, count(*) FROM users GROUP BY tenant_id HAVING count(*) > 5;
SELECT DISTINCT tenant_id FROM users;
SELECT DISTINCT ON (tenant_id) tenant_id, id FROM users ORDER BY tenant_id, id;

-- ===== IN-lists and arrays =====
SELECT id FROM users WHERE id IN (1, 2);
SELECT id FROM users WHERE id IN (3, 4);
-- expect: in-list
SELECT id FROM users WHERE id IN (1, 2, 3);
-- expect: in-list
SELECT id FROM users WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
SELECT id FROM users WHERE id NOT IN (1, 2);
SELECT id FROM users WHERE email IN ('a@example.com', 'b@example.com');
-- expect: in-list
SELECT id FROM users WHERE email IN ('a@example.com', 'b@example.com', 'c@example.com');
SELECT id FROM users WHERE id IN (SELECT user_id FROM orders WHERE status = 'paid');
SELECT id FROM users WHERE id IN (SELECT user_id FROM orders WHERE status = 'new');
SELECT id FROM users WHERE id = ANY(ARRAY[1, 2]);
SELECT id FROM users WHERE id = ANY(ARRAY[5, 6]);
-- expect: in-list
SELECT id FROM users WHERE id = ANY(ARRAY[1, 2, 3, 4]);
SELECT id FROM users WHERE id = ANY('{1,2,3}');
SELECT id FROM users WHERE id = ANY('{1,2,3,4,5}');
-- expect: equivalent-syntax
SELECT id FROM users WHERE id = ANY('{7}'::bigint[]);
-- expect: equivalent-syntax
SELECT id FROM users WHERE id = ANY('{8,9}'::bigint[]);
SELECT id FROM users WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = users.id);
SELECT id FROM users WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = users.id);

-- ===== ORM-style joins =====
SELECT "users"."id", "users"."email", "orders"."total" FROM "users" INNER JOIN "orders" ON "orders"."user_id" = "users"."id" WHERE "users"."tenant_id" = 1 ORDER BY "orders"."created_at" DESC LIMIT 20;
SELECT "users"."id", "users"."email", "orders"."total" FROM "users" INNER JOIN "orders" ON "orders"."user_id" = "users"."id" WHERE "users"."tenant_id" = 2 ORDER BY "orders"."created_at" DESC LIMIT 50;
SELECT users.id, users.email, orders.total FROM users JOIN orders ON orders.user_id = users.id WHERE users.tenant_id = 3 ORDER BY orders.created_at DESC LIMIT 20;
SELECT users.id, users.email, orders.total FROM users LEFT JOIN orders ON orders.user_id = users.id WHERE users.tenant_id = 3 ORDER BY orders.created_at DESC LIMIT 20;
SELECT users.id, users.email, orders.total FROM users LEFT OUTER JOIN orders ON orders.user_id = users.id WHERE users.tenant_id = 4 ORDER BY orders.created_at DESC LIMIT 20;
SELECT users.id, users.email, orders.total FROM users RIGHT JOIN orders ON orders.user_id = users.id WHERE users.tenant_id = 3 ORDER BY orders.created_at DESC LIMIT 20;
SELECT users.id, users.email, orders.total FROM users FULL JOIN orders ON orders.user_id = users.id WHERE users.tenant_id = 3 ORDER BY orders.created_at DESC LIMIT 20;
SELECT u.id, count(o.id) FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id;
-- expect: alias
SELECT x.id, count(y.id) FROM users x LEFT JOIN orders y ON y.user_id = x.id GROUP BY x.id;
SELECT u.id, o.id, i.sku FROM users u JOIN orders o ON o.user_id = u.id JOIN items i ON i.order_id = o.id WHERE u.id = 1 AND o.status = 'paid';
SELECT u.id, o.id, i.sku FROM users u JOIN orders o ON o.user_id = u.id JOIN items i ON i.order_id = o.id WHERE u.id = 2 AND o.status = 'shipped';
SELECT u.id, o.id, i.sku FROM users u JOIN orders o USING (id) JOIN items i ON i.order_id = o.id WHERE u.id = 2;
SELECT u.id, o.id FROM users u, orders o WHERE o.user_id = u.id AND u.id = 1;
SELECT u.id, o.id FROM users u CROSS JOIN orders o WHERE u.id = 1;
SELECT o.id, o.total FROM orders o WHERE o.total > 10.5 AND o.status IN ('paid', 'shipped');
SELECT o.id, o.total FROM orders o WHERE o.total > 99.99 AND o.status IN ('new', 'paid');
SELECT o.id, o.total FROM orders o WHERE o.total > 10.5 AND o.status NOT IN ('paid', 'shipped');
SELECT "Id", "Action" FROM "Audit" WHERE "Id" = 1;
SELECT "Id", "Action" FROM "Audit" WHERE "Id" = 2;
SELECT key, value FROM app.settings WHERE key = 'theme';
SELECT key, value FROM app.settings WHERE key = 'lang';
-- expect: schema
SELECT id, email FROM public.users WHERE id = 1;
SELECT name, n FROM counters;
-- expect: star
SELECT * FROM counters;
SELECT name, n FROM counters WHERE name = 'visits';
-- expect: equivalent-syntax
SELECT id FROM users WHERE (tenant_id = 1);
-- expect: equivalent-syntax
SELECT id, email FROM users WHERE tenant_id = CAST('1' AS int);
-- expect: equivalent-syntax
SELECT id, email FROM users WHERE tenant_id = '1'::integer;
SELECT id FROM users WHERE tenant_id = 1;
-- expect: alias
SELECT id AS user_id FROM users WHERE tenant_id = 1;
-- expect: alias
SELECT id AS uid FROM users WHERE tenant_id = 1;
-- expect: constant-type
SELECT 'one';
-- expect: constant-type
SELECT 1.5;

-- ===== CTEs, subqueries, window functions =====
WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '30 days') SELECT user_id, sum(total) FROM recent GROUP BY user_id;
WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '90 days') SELECT user_id, sum(total) FROM recent GROUP BY user_id;
WITH recent AS MATERIALIZED (SELECT * FROM orders WHERE created_at > now() - interval '30 days') SELECT user_id, sum(total) FROM recent GROUP BY user_id;
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT sum(n) FROM r;
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 50) SELECT sum(n) FROM r;
WITH a AS (SELECT id FROM users WHERE tenant_id = 1), b AS (SELECT user_id FROM orders WHERE status = 'paid') SELECT count(*) FROM a JOIN b ON b.user_id = a.id;
SELECT id, total, rank() OVER (PARTITION BY user_id ORDER BY total DESC) FROM orders;
SELECT id, total, row_number() OVER (PARTITION BY user_id ORDER BY total DESC) FROM orders;
SELECT id, total, sum(total) OVER (ORDER BY created_at ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) FROM orders;
SELECT id, total, sum(total) OVER (ORDER BY created_at ROWS BETWEEN 7 PRECEDING AND CURRENT ROW) FROM orders;
SELECT id, lag(total) OVER w, lead(total) OVER w FROM orders WINDOW w AS (ORDER BY id);
SELECT user_id, total FROM (SELECT user_id, sum(total) AS total FROM orders GROUP BY user_id) s WHERE total > 10;
SELECT user_id, total FROM (SELECT user_id, sum(total) AS total FROM orders GROUP BY user_id) s WHERE total > 1000;
SELECT (SELECT count(*) FROM orders o WHERE o.user_id = u.id) AS n FROM users u WHERE u.tenant_id = 1;
SELECT u.id, l.total FROM users u, LATERAL (SELECT total FROM orders o WHERE o.user_id = u.id ORDER BY total DESC LIMIT 1) l;
SELECT u.id, l.total FROM users u, LATERAL (SELECT total FROM orders o WHERE o.user_id = u.id ORDER BY total DESC LIMIT 3) l;
SELECT id FROM users UNION SELECT user_id FROM orders;
SELECT id FROM users UNION ALL SELECT user_id FROM orders;
SELECT id FROM users EXCEPT SELECT user_id FROM orders;
SELECT id FROM users INTERSECT SELECT user_id FROM orders;
SELECT CASE WHEN total > 50 THEN 'big' WHEN total > 10 THEN 'mid' ELSE 'small' END FROM orders;
SELECT CASE WHEN total > 60 THEN 'huge' WHEN total > 20 THEN 'mid' ELSE 'tiny' END FROM orders;
SELECT CASE status WHEN 'paid' THEN 1 ELSE 0 END FROM orders;
SELECT coalesce(name, 'anonymous') FROM users;
SELECT coalesce(name, 'nobody') FROM users;
SELECT nullif(tenant_id, 0) FROM users;
SELECT greatest(total, 1), least(total, 100) FROM orders;
SELECT string_agg(email, ', ' ORDER BY email) FROM users;
SELECT array_agg(id) FILTER (WHERE active) FROM users;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders;
SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY total) FROM orders;
SELECT date_trunc('day', created_at), count(*) FROM orders GROUP BY 1 ORDER BY 1;
SELECT date_trunc('hour', created_at), count(*) FROM orders GROUP BY 1 ORDER BY 1;
SELECT extract(year FROM created_at) FROM orders;
SELECT substring(email FROM 1 FOR 3) FROM users;
SELECT substring(email FROM 2 FOR 5) FROM users;
SELECT add_one(41);
SELECT add_one(1);
SELECT sq(-3);
SELECT * FROM generate_series(1, 10) g;
SELECT * FROM generate_series(1, 100) g;
SELECT g FROM generate_series(1, 3) AS g WHERE g > 1;

-- ===== JSON =====
SELECT payload->>'user' FROM events WHERE kind = 'login';
SELECT payload->>'ip' FROM events WHERE kind = 'logout';
SELECT payload->'user' FROM events WHERE kind = 'login';
SELECT payload #>> '{user}' FROM events;
SELECT id FROM events WHERE payload @> '{"user": 1}';
SELECT id FROM events WHERE payload @> '{"user": 2}';
SELECT id FROM events WHERE payload ? 'ip';
SELECT id FROM events WHERE payload ? 'user';
SELECT id FROM events WHERE payload ?| ARRAY['ip', 'user'];
SELECT id FROM events WHERE tags && ARRAY['web'];
SELECT id FROM events WHERE 'web' = ANY(tags);
SELECT jsonb_build_object('id', id, 'kind', kind) FROM events;
SELECT jsonb_agg(payload) FROM events WHERE at > now() - interval '1 hour';
SELECT e.id, t.tag FROM events e, unnest(e.tags) AS t(tag);
SELECT jsonb_path_query(payload, '$.user') FROM events;

-- ===== writes =====
UPDATE users SET name = 'Ann B.' WHERE id = 1;
UPDATE users SET name = 'Bobby' WHERE id = 2;
UPDATE users SET name = 'Bobby', active = false WHERE id = 2;
UPDATE users SET active = true WHERE tenant_id = 2 RETURNING id;
UPDATE users SET active = false WHERE tenant_id = 3 RETURNING id;
UPDATE orders SET status = 'shipped' FROM users WHERE orders.user_id = users.id AND users.tenant_id = 1;
UPDATE counters SET n = n + 1 WHERE name = 'visits';
UPDATE counters SET n = n + 5 WHERE name = 'visits';
INSERT INTO counters (name, n) VALUES ('visits', 1) ON CONFLICT (name) DO UPDATE SET n = counters.n + 1;
INSERT INTO counters (name, n) VALUES ('clicks', 1) ON CONFLICT (name) DO UPDATE SET n = counters.n + 1;
INSERT INTO counters (name, n) VALUES ('clicks', 1) ON CONFLICT (name) DO NOTHING;
INSERT INTO counters (name) VALUES ('views') ON CONFLICT DO NOTHING;
INSERT INTO counters (name) VALUES ('x1') RETURNING n;
INSERT INTO counters (name) VALUES ('x2') RETURNING n;
INSERT INTO events (kind, payload) SELECT 'copy', payload FROM events WHERE kind = 'login';
INSERT INTO events (kind, payload) SELECT 'copy', payload FROM events WHERE kind = 'logout';
INSERT INTO pgbench_history (tid, bid, aid, delta) VALUES (1, 1, 1, 1), (2, 2, 2, DEFAULT);
DELETE FROM counters WHERE name = 'x1';
DELETE FROM counters WHERE name = 'x2';
DELETE FROM counters WHERE name LIKE 'x%' RETURNING name;
DELETE FROM events WHERE kind = 'copy' AND at < now() - interval '1 year';
DELETE FROM items USING orders WHERE items.order_id = orders.id AND orders.status = 'cancelled';
WITH moved AS (DELETE FROM jobs WHERE state = 'done' RETURNING id) SELECT count(*) FROM moved;
MERGE INTO counters c USING (SELECT 'visits' AS name) s ON c.name = s.name WHEN MATCHED THEN UPDATE SET n = c.n + 1 WHEN NOT MATCHED THEN INSERT (name, n) VALUES (s.name, 1);
MERGE INTO counters c USING (SELECT 'hits' AS name) s ON c.name = s.name WHEN MATCHED THEN UPDATE SET n = c.n + 10 WHEN NOT MATCHED THEN INSERT (name, n) VALUES (s.name, 5);

-- ===== job queue =====
SELECT id FROM jobs WHERE state = 'new' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED;
SELECT id FROM jobs WHERE state = 'retry' ORDER BY id LIMIT 5 FOR UPDATE SKIP LOCKED;
SELECT id FROM jobs WHERE state = 'new' ORDER BY id LIMIT 1 FOR UPDATE NOWAIT;
SELECT id FROM jobs WHERE state = 'new' ORDER BY id LIMIT 1 FOR UPDATE;
SELECT id FROM jobs WHERE state = 'new' ORDER BY id LIMIT 1 FOR SHARE;
SELECT id FROM jobs WHERE state = 'new' ORDER BY id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;
UPDATE jobs SET state = 'running', attempts = attempts + 1 WHERE id = 1;
UPDATE jobs SET state = 'running', attempts = attempts + 1 WHERE id = 2;
UPDATE jobs SET state = 'done' WHERE id = (SELECT id FROM jobs WHERE state = 'running' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id;

-- ===== transactions and session utility =====
BEGIN;
SELECT abalance FROM pgbench_accounts WHERE aid = 3;
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 3;
SAVEPOINT s1;
UPDATE pgbench_accounts SET abalance = abalance + 2 WHERE aid = 4;
ROLLBACK TO SAVEPOINT s1;
RELEASE SAVEPOINT s1;
COMMIT;
begin;
commit;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM orders;
ROLLBACK;
START TRANSACTION;
END;
SET work_mem = '64MB';
SET work_mem = '4MB';
set work_mem = '4MB';
SET statement_timeout = 5000;
SET statement_timeout = 0;
SET LOCAL lock_timeout = '1s';
SET search_path = public, app;
SET application_name = 'web';
SHOW work_mem;
SHOW search_path;
RESET work_mem;
RESET ALL;
SELECT set_config('application_name', 'worker', false);
SELECT current_setting('work_mem');
DISCARD ALL;
LISTEN jobs_channel;
NOTIFY jobs_channel, 'hello';
NOTIFY jobs_channel, 'bye';
UNLISTEN *;
DO $$ BEGIN PERFORM 1; END $$;
DO $$ BEGIN PERFORM 2; END $$;
CALL bump('visits');
CALL bump('clicks');
EXPLAIN SELECT id FROM users WHERE id = 1;
EXPLAIN SELECT id FROM users WHERE id = 2;
EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM orders;
VACUUM counters;
VACUUM (ANALYZE) counters;
ANALYZE users;
ANALYZE orders;
CHECKPOINT;
COPY users TO '/dev/null';
COPY (SELECT id, email FROM users WHERE tenant_id = 1) TO '/dev/null' WITH (FORMAT csv);
COPY (SELECT id, email FROM users WHERE tenant_id = 2) TO '/dev/null' WITH (FORMAT csv);
BEGIN;
LOCK TABLE counters IN SHARE MODE;
COMMIT;
TRUNCATE pgbench_history;
COMMENT ON TABLE users IS 'people';
GRANT SELECT ON users TO PUBLIC;
REVOKE SELECT ON users FROM PUBLIC;
CREATE MATERIALIZED VIEW order_totals AS SELECT user_id, sum(total) AS total FROM orders GROUP BY user_id;
REFRESH MATERIALIZED VIEW order_totals;
SELECT user_id, total FROM order_totals WHERE total > 5;

-- ===== DDL at the end (nothing below queries these tables) =====
ALTER TABLE items ADD COLUMN note text;
ALTER TABLE items ADD COLUMN discount numeric DEFAULT 0;
ALTER TABLE items ALTER COLUMN note SET DEFAULT 'none';
ALTER TABLE items RENAME COLUMN note TO remark;
CREATE SEQUENCE invoice_seq START 1000;
SELECT nextval('invoice_seq');
ALTER SEQUENCE invoice_seq RESTART WITH 5000;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
DROP INDEX orders_user_idx;
DROP INDEX CONCURRENTLY events_kind_idx;
DROP VIEW active_users;
DROP MATERIALIZED VIEW order_totals;
DROP FUNCTION sq(int);
DROP PROCEDURE bump(text);
DROP TYPE mood;
DROP DOMAIN posint;
DROP SEQUENCE invoice_seq;
DROP TABLE items;
DROP TABLE IF EXISTS items;
DROP TABLE IF EXISTS app.settings, "Audit";
DROP SCHEMA app;
