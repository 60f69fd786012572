'use strict';
// The failover drills' Node.js writer (molecule/ha/tests/test_drills.py starts it): the
// platform's own pool (clients/node: node-postgres, verify-full against the endpoint name),
// created once and never restarted, commits one row at a time through HAProxy's read-write
// port. Each acknowledged id is printed as `ack <id> <server address>` the moment its commit
// returns; a failed write (outcome unknown, never counted) prints `err <code> <message>` and
// the next id follows after a short pause, so the pool has to find the new leader by itself.
// SIGTERM: finish the write in flight, close the pool, exit 0.
const db = require('../../../clients/node/src');

const PAUSE_MS = 20;
const RETRY_MS = 50;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const first = process.env.COACHDB_HA_FIRST_ID;
  if (!/^[0-9]+$/.test(first || '')) throw new Error('COACHDB_HA_FIRST_ID: a whole number is needed');
  const pool = db.createPool(process.env, {
    applicationName: 'ha-node-writer',
    log: { warn: (message) => process.stderr.write(`${message}\n`) },
  });
  let stopping = false;
  process.once('SIGTERM', () => {
    stopping = true;
  });
  let next = BigInt(first);
  while (!stopping) {
    next += 1n;
    try {
      const { rows } = await pool.query(
        'INSERT INTO ha_writes (id) VALUES ($1) RETURNING host(inet_server_addr()) AS addr',
        [next.toString()],
      );
      process.stdout.write(`ack ${next} ${rows[0].addr}\n`);
      await sleep(PAUSE_MS);
    } catch (err) {
      // Any failure during a failover is a gap whose outcome is unknown: broken connections
      // (db.isConnectionError), a read-only server on its way to demotion, a connect timeout.
      process.stdout.write(`err ${err.code || '-'} ${String(err.message).split('\n')[0]}\n`);
      await sleep(RETRY_MS);
    }
  }
  await db.shutdown(pool);
}

main().catch((err) => {
  process.stderr.write(`node writer: ${err.stack || err}\n`);
  process.exit(2);
});
