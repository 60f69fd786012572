'use strict';
/**
 * The platform's PostgreSQL pool (node-postgres), configured from the environment by
 * ./config.js, with a health check and a graceful shutdown.
 *
 *   const db = require('@elite-trading-coach/coachdb');
 *   const pool = db.createPool();            // throws ConfigError naming a bad variable
 *   db.installShutdown(pool);                // SIGTERM/SIGINT: drain, then pool.end()
 *   await pool.query('SELECT 1');
 *   await db.healthCheck(pool);              // { ok, latencyMs, ssl, serverVersion, ... }
 */
const { Pool } = require('pg');
const { ConfigError, DEFAULTS, loadConfig } = require('./config');
const { readEnvFile } = require('./envfile');

/** A pool from the environment; idle-client errors (a server restart) are logged, not fatal. */
function createPool(env = process.env, { applicationName, log = console } = {}) {
  const config = loadConfig(env, { applicationName });
  const pool = new Pool(config.pool);
  pool.coachdb = { target: config.describe(), sslmode: config.sslmode, closing: null };
  // Without a listener an idle client's error (the server restarted or dropped it) would
  // crash the process; the pool has already discarded that client.
  pool.on('error', (err) => {
    log.warn(`coachdb: idle connection to ${pool.coachdb.target} lost: ${err.message}`);
  });
  return pool;
}

/**
 * One round trip through the pool: `{ ok: true, latencyMs, serverVersion, ssl, database,
 * user, pool: {total, idle, waiting} }`, or `{ ok: false, error }`. Never throws.
 */
async function healthCheck(pool, { timeoutMs = 5000 } = {}) {
  const started = process.hrtime.bigint();
  let timer;
  try {
    const query = pool.query(
      `SELECT current_setting('server_version') AS server_version, current_database() AS database,
              current_user AS "user",
              coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS ssl`,
    );
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`health check timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    const { rows } = await Promise.race([query, timeout]);
    const row = rows[0];
    return {
      ok: true,
      latencyMs: Number(process.hrtime.bigint() - started) / 1e6,
      serverVersion: row.server_version,
      database: row.database,
      user: row.user,
      ssl: row.ssl,
      pool: { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount },
    };
  } catch (err) {
    return { ok: false, error: err.message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Close the pool once: requests already waiting for a connection are served first (pg-pool's
 * end() would leave them pending forever), checked-out clients finish their work, then every
 * connection is closed and later queries are refused. Idempotent (returns the same promise).
 */
function shutdown(pool, { drainTimeoutMs = 10000 } = {}) {
  if (pool.coachdb && pool.coachdb.closing) return pool.coachdb.closing;
  const closing = (async () => {
    const deadline = Date.now() + drainTimeoutMs;
    while (pool.waitingCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await pool.end();
  })();
  if (pool.coachdb) pool.coachdb.closing = closing;
  return closing;
}

/** On each signal: shut the pool down, then exit (code 0, or 1 after `timeoutMs`). */
function installShutdown(pool, { signals = ['SIGTERM', 'SIGINT'], timeoutMs = 10000, exit = process.exit } = {}) {
  const handler = (signal) => {
    const timer = setTimeout(() => exit(1), timeoutMs);
    timer.unref();
    shutdown(pool).then(
      () => {
        clearTimeout(timer);
        exit(0);
      },
      () => exit(1),
    );
    return signal;
  };
  for (const signal of signals) process.once(signal, handler);
  return () => signals.forEach((signal) => process.removeListener(signal, handler));
}

// Errors after which a new connection may succeed (the server restarted, a failover).
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08006', '08001', '08003']);

/** True when `err` says the connection broke (retrying on a new connection may work). */
function isConnectionError(err) {
  if (!err) return false;
  if (TRANSIENT_CODES.has(err.code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(err.message || '');
}

module.exports = {
  ConfigError,
  DEFAULTS,
  createPool,
  healthCheck,
  installShutdown,
  isConnectionError,
  loadConfig,
  readEnvFile,
  shutdown,
};
