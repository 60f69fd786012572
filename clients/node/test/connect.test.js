'use strict';
// Against a real server (PostgreSQL 14 from pytest, or the `make dev` host in the e2e test):
// the env file as written works, and a wrong CA, plaintext and a wrong password are refused
// with the real messages; 500 concurrent queries through the 20-connection pool; shutdown.
const assert = require('node:assert');
const test = require('node:test');
const { Client } = require('pg');
const db = require('../src');
const { dbStarEnv, envFile, required, sleep } = require('./helpers');

const quiet = { warn() {} };

async function refusal(env) {
  const pool = db.createPool(env, { log: quiet });
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    return err;
  } finally {
    await db.shutdown(pool);
  }
  throw new Error('the connection was accepted');
}

for (const [form, env] of [['DATABASE_URL', () => envFile()], ['DB_*', () => dbStarEnv()]]) {
  test(`the env file as written connects over verified TLS (${form})`, async () => {
    const pool = db.createPool(env());
    try {
      const health = await db.healthCheck(pool);
      assert.strictEqual(health.ok, true, health.error);
      assert.strictEqual(health.ssl, true);
      assert.strictEqual(health.user, envFile().DB_USER);
      assert.strictEqual(health.database, envFile().DB_NAME);
      assert.match(health.serverVersion, /^\d+/);
      assert.strictEqual(pool.coachdb.sslmode, 'verify-full');
    } finally {
      await db.shutdown(pool);
    }
  });
}

test('a CA that did not sign the server certificate is refused', async () => {
  const other = required('COACHDB_TEST_OTHER_CA');
  const expected = /^(self-signed certificate in certificate chain|unable to verify the first certificate)$/;
  const viaDbStar = await refusal(dbStarEnv({ DB_SSL_ROOT_CERT: other, PGSSLROOTCERT: other }));
  assert.match(viaDbStar.message, expected);
  const url = envFile().DATABASE_URL.replace(/sslrootcert=[^&]*/, `sslrootcert=${encodeURIComponent(other)}`);
  const viaUrl = await refusal(envFile({ DATABASE_URL: url }));
  assert.match(viaUrl.message, expected);
});

test('plaintext is refused by the server', async () => {
  const err = await refusal(dbStarEnv({ DB_SSL: 'false' }));
  // the deployed pg_hba.conf ends with `hostnossl all all all reject`
  assert.match(err.message, /^(pg_hba\.conf rejects connection|no pg_hba\.conf entry) for host ".+", user ".+", database ".+", no encryption$/);
});

test('a wrong password is refused', async () => {
  const err = await refusal(dbStarEnv({ DB_PASSWORD: `wrong-${Date.now()}` })); // pragma: allowlist secret
  assert.strictEqual(err.message, `password authentication failed for user "${envFile().DB_USER}"`);
  assert.strictEqual(err.code, '28P01');
});

test('500 concurrent queries through the 20-connection pool: 0 errors, never more than 20 connections', async () => {
  const name = `coachdb-node-load-${process.pid}`;
  const pool = db.createPool(envFile(), { applicationName: name });
  const watcher = new Client(db.loadConfig(envFile(), { applicationName: `${name}-watch` }).pool);
  await watcher.connect();
  let peakServer = 0;
  let peakPool = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const { rows } = await watcher.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [name]);
      peakServer = Math.max(peakServer, rows[0].n);
      peakPool = Math.max(peakPool, pool.totalCount);
      await sleep(10);
    }
  })();
  try {
    const results = await Promise.allSettled(
      Array.from({ length: 500 }, (_, i) => pool.query('SELECT $1::int AS n, pg_sleep(0.01)', [i])),
    );
    const errors = results.filter((r) => r.status === 'rejected');
    assert.strictEqual(errors.length, 0, errors[0] && errors[0].reason.message);
    assert.deepStrictEqual(results.map((r) => r.value.rows[0].n), Array.from({ length: 500 }, (_, i) => i));
  } finally {
    sampling = false;
    await sampler;
    await watcher.end();
    await db.shutdown(pool);
  }
  assert.ok(peakPool <= 20 && peakServer <= 20, `pool ${peakPool}, server ${peakServer}`);
  assert.ok(peakServer >= 10, `the load used the pool (server peak ${peakServer})`);
});

test('graceful shutdown: queries in flight finish, then every connection is closed', async () => {
  const name = `coachdb-node-shutdown-${process.pid}`;
  const pool = db.createPool(envFile(), { applicationName: name });
  const inFlight = Array.from({ length: 30 }, () => pool.query('SELECT pg_sleep(0.2) AS slept'));
  await sleep(50);
  let exitCode;
  const uninstall = db.installShutdown(pool, { signals: ['SIGUSR2'], exit: (code) => { exitCode = code; } });
  process.kill(process.pid, 'SIGUSR2');
  const settled = await Promise.allSettled(inFlight);
  assert.deepStrictEqual(settled.map((r) => r.status), Array(30).fill('fulfilled'));
  await db.shutdown(pool); // idempotent: the same promise
  for (let i = 0; i < 50 && exitCode === undefined; i += 1) await sleep(20);
  uninstall();
  assert.strictEqual(exitCode, 0);
  await assert.rejects(pool.query('SELECT 1'), /Cannot use a pool after calling end on the pool/);
  const watcher = db.createPool(envFile());
  try {
    const { rows } = await watcher.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [name]);
    assert.strictEqual(rows[0].n, 0);
  } finally {
    await db.shutdown(watcher);
  }
});

test('the health check reports a server that cannot be reached, without throwing', async () => {
  const pool = db.createPool(dbStarEnv({ DB_PASSWORD: 'wrong-password-for-health' }), { log: quiet });
  try {
    const health = await db.healthCheck(pool);
    assert.strictEqual(health.ok, false);
    assert.match(health.error, /password authentication failed/);
  } finally {
    await db.shutdown(pool);
  }
});

test("docs/deploy-railway.md: the old recipe (URL with sslmode + ssl: { ca }) fails, the fixed ones work", async () => {
  const { Pool } = require('pg');
  const fs = require('node:fs');
  const withCa = envFile().DATABASE_URL;
  const ca = fs.readFileSync(envFile().DB_SSL_ROOT_CERT, 'utf8');
  const bare = withCa.replace(/&sslrootcert=[^&]*/, '');
  const broken = new Pool({ connectionString: bare, ssl: { ca, rejectUnauthorized: true } });
  try {
    await assert.rejects(broken.query('SELECT 1'), /^Error: (self-signed certificate in certificate chain|unable to verify the first certificate)$/);
  } finally {
    await broken.end();
  }
  const plain = new Pool({ connectionString: withCa });
  const viaModule = db.createPool({ DATABASE_URL: bare, DB_SSL_ROOT_CERT: envFile().DB_SSL_ROOT_CERT });
  try {
    assert.strictEqual((await plain.query('SELECT 1 AS one')).rows[0].one, 1);
    assert.strictEqual((await viaModule.query('SELECT 1 AS one')).rows[0].one, 1);
  } finally {
    await plain.end();
    await db.shutdown(viaModule);
  }
});
