'use strict';
// The environment is read like coachdb reads it (docs/env-vars.md); no database needed.
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const test = require('node:test');
const { ConfigError, loadConfig, readEnvFile } = require('../src');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coachdb-node-'));
const ca = path.join(dir, 'ca.crt');
fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nnot parsed here\n-----END CERTIFICATE-----\n');

function refused(env, variable, pattern) {
  assert.throws(() => loadConfig(env), (err) => {
    assert.ok(err instanceof ConfigError, err);
    assert.strictEqual(err.variable, variable);
    assert.match(err.message, pattern);
    return true;
  });
}

test('DATABASE_URL as make dev writes it: verify-full with the CA, password decoded', () => {
  const url = `postgresql://trading_coach_user:p%40ss%2Fw0rd@localhost:5432/elite_trading_coach_ai?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`; // pragma: allowlist secret (test value)
  const { pool, sslmode, source } = loadConfig({ DATABASE_URL: url, DB_HOST: 'ignored', DB_USER: 'ignored' });
  assert.strictEqual(source, 'DATABASE_URL');
  assert.strictEqual(sslmode, 'verify-full');
  assert.strictEqual(pool.connectionString, undefined, 'never handed to pg as connectionString');
  assert.deepStrictEqual(
    [pool.host, pool.port, pool.user, pool.password, pool.database],
    ['localhost', 5432, 'trading_coach_user', 'p@ss/w0rd', 'elite_trading_coach_ai'],
  );
  assert.strictEqual(pool.ssl.ca, fs.readFileSync(ca, 'utf8'));
  assert.strictEqual(pool.ssl.rejectUnauthorized, true);
  assert.strictEqual(pool.ssl.servername, 'localhost');
});

test('hostaddr (as libpq): dial the address, verify-full still checks the host name', () => {
  const url = `postgresql://u:x@db.example.test:5000/d?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}&hostaddr=127.0.0.1`; // pragma: allowlist secret (test value)
  const { pool, describe } = loadConfig({ DATABASE_URL: url });
  assert.strictEqual(pool.host, '127.0.0.1');
  assert.strictEqual(pool.ssl.servername, 'db.example.test');
  assert.strictEqual(pool.ssl.checkServerIdentity, require('node:tls').checkServerIdentity);
  assert.match(describe(), /@db\.example\.test:5000\//);
  refused({ DATABASE_URL: url.replace('127.0.0.1', 'localhost') }, 'DATABASE_URL', /hostaddr must be a numeric IP address, got 'localhost'/);
});

test('pool settings: max 20, idle 30 s, connect timeout 2 s, and their variables', () => {
  const base = { DB_PASSWORD: 'x', DB_SSL: 'true', DB_SSL_ROOT_CERT: ca };
  const { pool } = loadConfig(base);
  assert.deepStrictEqual([pool.max, pool.idleTimeoutMillis, pool.connectionTimeoutMillis], [20, 30000, 2000]);
  const tuned = loadConfig({ ...base, DB_POOL_MAX: '5', DB_POOL_IDLE_TIMEOUT: '0.5', DB_CONNECT_TIMEOUT: '4' }).pool;
  assert.deepStrictEqual([tuned.max, tuned.idleTimeoutMillis, tuned.connectionTimeoutMillis], [5, 500, 4000]);
  refused({ ...base, DB_POOL_MAX: '0' }, 'DB_POOL_MAX', /at least 1/);
  refused({ ...base, DB_CONNECT_TIMEOUT: 'soon' }, 'DB_CONNECT_TIMEOUT', /whole number/);
});

test('DB_* form: DB_SSL=true means verify-full; PGSSLROOTCERT is accepted', () => {
  const { pool, sslmode } = loadConfig({ DB_HOST: 'db.internal', DB_PASSWORD: 'x', DB_SSL: 'true', PGSSLROOTCERT: ca });
  assert.strictEqual(sslmode, 'verify-full');
  assert.strictEqual(pool.host, 'db.internal');
  assert.strictEqual(pool.ssl.servername, 'db.internal');
  assert.strictEqual(pool.database, 'elite_trading_coach_ai');
  assert.strictEqual(pool.user, 'trading_coach_user');
});

test('verify-ca keeps the chain check, skips only the name', () => {
  const { pool } = loadConfig({ DB_PASSWORD: 'x', DB_SSLMODE: 'verify-ca', DB_SSL_ROOT_CERT: ca });
  assert.strictEqual(pool.ssl.rejectUnauthorized, true);
  assert.strictEqual(pool.ssl.checkServerIdentity('localhost', {}), undefined);
});

test('refusals name the variable to fix', () => {
  refused({ DB_PASSWORD: 'x', DB_SSL: 'true' }, 'DB_SSL_ROOT_CERT', /needs the CA certificate/);
  refused({ DB_PASSWORD: 'x', DB_SSL: 'true', DB_SSL_ROOT_CERT: path.join(dir, 'missing.crt') }, 'DB_SSL_ROOT_CERT', /does not exist/);
  refused({ DB_SSL: 'true', DB_SSL_ROOT_CERT: ca }, 'DB_PASSWORD', /no password/);
  refused({ DB_PASSWORD: 'x', DB_SSLMODE: 'require' }, 'DB_SSLMODE', /rejectUnauthorized:false; use verify-full/);
  refused({ DB_PASSWORD: 'x', DB_SSLMODE: 'sometimes' }, 'DB_SSLMODE', /unknown sslmode/);
  refused({ DB_PASSWORD: 'x', DB_SSL: 'true', DB_SSLMODE: 'prefer' }, 'DB_SSLMODE', /contradicts DB_SSL=true/);
  refused({ COACHDB_ENV: 'production', DB_PASSWORD: 'x', DB_SSL: 'false' }, 'DB_SSL', /refused in production/);
  refused({ APP_ENV: 'prod', DATABASE_URL: `postgresql://u:p@h/d?sslmode=prefer` }, 'DATABASE_URL', /refused in production/);
  refused({ DATABASE_URL: 'mysql://u:p@h/d' }, 'DATABASE_URL', /must start with postgresql/);
  refused({ DATABASE_URL: 'postgresql://u:p@h1,h2/d' }, 'DATABASE_URL', /several hosts/);
  refused({ DATABASE_URL: 'postgresql://u:secret@h/d?options=-cfoo' }, 'DATABASE_URL', /parameter options is not supported/); // pragma: allowlist secret
  refused({ DB_PASSWORD: 'x', DB_SSL: 'maybe' }, 'DB_SSL', /expected true or false/);
});

test('production mode forces verify-full even without DB_SSL', () => {
  const { sslmode } = loadConfig({ COACHDB_ENV: 'production', DB_PASSWORD: 'x', DB_SSL_ROOT_CERT: ca });
  assert.strictEqual(sslmode, 'verify-full');
});

test('no configuration ever turns certificate verification off', () => {
  const envs = [
    { DB_PASSWORD: 'x', DB_SSL: 'true', DB_SSL_ROOT_CERT: ca },
    { DB_PASSWORD: 'x', DB_SSLMODE: 'verify-ca', DB_SSL_ROOT_CERT: ca },
    { DB_PASSWORD: 'x', DB_SSL: 'true', DB_SSL_ROOT_CERT: 'system' },
    { DATABASE_URL: `postgresql://u:p@h/d?sslmode=verify-full&sslrootcert=${ca}` },
  ];
  for (const env of envs) assert.strictEqual(loadConfig(env).pool.ssl.rejectUnauthorized, true);
  const source = fs.readdirSync(path.join(__dirname, '..', 'src'))
    .map((f) => fs.readFileSync(path.join(__dirname, '..', 'src', f), 'utf8')).join('\n');
  assert.doesNotMatch(source, /rejectUnauthorized:\s*false\s*[,}]/);
});

test('describe() never shows the password', () => {
  const config = loadConfig({ DB_PASSWORD: 'hunter2-secret', DB_SSL: 'true', DB_SSL_ROOT_CERT: ca });
  assert.doesNotMatch(config.describe(), /hunter2/);
  assert.strictEqual(config.describe(), 'trading_coach_user@localhost:5432/elite_trading_coach_ai (sslmode=verify-full)');
});

test('readEnvFile keeps values verbatim (the & of DATABASE_URL) and refuses junk', () => {
  const file = path.join(dir, 'app.env');
  fs.writeFileSync(file, '# comment\nDATABASE_URL=postgresql://u:p@h/d?sslmode=verify-full&sslrootcert=/x\n\nDB_SSL=true\n');
  assert.deepStrictEqual(readEnvFile(file), {
    DATABASE_URL: 'postgresql://u:p@h/d?sslmode=verify-full&sslrootcert=/x',
    DB_SSL: 'true',
  });
  fs.writeFileSync(file, 'export X\n');
  assert.throws(() => readEnvFile(file), /not a KEY=VALUE line/);
});
