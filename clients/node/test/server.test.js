'use strict';
// Needs a disposable server with the application schema deployed (pytest starts one):
// a restart survived with 0 acknowledged writes lost, and a host name the certificate does
// not name is refused.
const assert = require('node:assert');
const { execFile } = require('node:child_process');
const test = require('node:test');
const { promisify } = require('node:util');
const db = require('../src');
const { dbStarEnv, envFile, required, sleep } = require('./helpers');

const run = promisify(execFile);

test('a server restart is survived: 0 acknowledged writes lost', async () => {
  const restart = required('COACHDB_TEST_RESTART');
  const warnings = [];
  const pool = db.createPool(envFile(), { log: { warn: (m) => warnings.push(m) } });
  const runId = `${process.pid}-${Date.now()}`;
  const acknowledged = [];
  let failures = 0;
  let restarted = null;
  const started = async () => (await pool.query('SELECT pg_postmaster_start_time()::text AS t')).rows[0].t;
  const before = await started();
  // A second pool whose connections sit idle across the restart: their errors arrive as pool
  // 'error' events, which must be logged, not crash the process.
  const idleWarnings = [];
  const idle = db.createPool(envFile(), { log: { warn: (m) => idleWarnings.push(m) } });
  await Promise.all(Array.from({ length: 5 }, () => idle.query('SELECT pg_sleep(0.05)')));
  assert.strictEqual(idle.idleCount, 5);

  // Each write is idempotent (a unique address, ON CONFLICT DO NOTHING), so a retry after an
  // error whose commit may or may not have happened never counts twice.
  async function writer(worker) {
    for (let n = 0; acknowledged.length < 400; n += 1) {
      const email = `w${worker}-${n}-${runId}@restart.test`;
      for (;;) {
        try {
          await pool.query('INSERT INTO users (email) VALUES ($1) ON CONFLICT ((lower(email))) DO NOTHING', [email]);
          acknowledged.push(email);
          break;
        } catch (err) {
          if (!db.isConnectionError(err)) throw err;
          failures += 1;
          await sleep(100);
        }
      }
      if (acknowledged.length >= 40 && restarted === null) restarted = run(restart, [], { timeout: 90000 });
    }
  }
  try {
    await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
    await restarted;
    const after = await started();
    assert.notStrictEqual(after, before, 'the server really restarted');
    const { rows } = await pool.query("SELECT email FROM users WHERE email LIKE '%' || $1 || '@restart.test'", [runId]);
    const stored = new Set(rows.map((r) => r.email));
    const lost = acknowledged.filter((e) => !stored.has(e));
    assert.strictEqual(lost.length, 0, `${lost.length} acknowledged writes lost`);
    assert.ok(acknowledged.length >= 400);
    assert.ok(failures + warnings.length > 0, 'the restart was felt by the pool');
    for (let i = 0; i < 50 && idleWarnings.length === 0; i += 1) await sleep(20);
    assert.ok(idleWarnings.length > 0 && /idle connection to .* lost/.test(idleWarnings[0]), idleWarnings.join('\n'));
    assert.strictEqual((await idle.query('SELECT 1 AS one')).rows[0].one, 1, 'the idle pool reconnects');
    await pool.query("DELETE FROM users WHERE email LIKE '%@restart.test'");
  } finally {
    await db.shutdown(pool);
    await db.shutdown(idle);
  }
});

test('a host name the certificate does not name is refused (verify-full)', async () => {
  const pool = db.createPool(dbStarEnv({ DB_HOST: '127.0.0.1' }), { log: { warn() {} } });
  try {
    await assert.rejects(pool.query('SELECT 1'), /^Error \[ERR_TLS_CERT_ALTNAME_INVALID\]|Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.1 is not in the cert's list/);
  } finally {
    await db.shutdown(pool);
  }
});
