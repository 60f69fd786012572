'use strict';
// Shared by the tests that need a real server: the env file under test comes from
// COACHDB_TEST_ENV_FILE (written by tests/coachdb/test_node_client.py or the e2e test).
const { readEnvFile } = require('../src');

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through pytest (tests/coachdb/test_node_client.py)`);
  return value;
}

/** The env file as written, with overrides; `undefined` removes a variable. */
function envFile(overrides = {}) {
  const env = { ...readEnvFile(required('COACHDB_TEST_ENV_FILE')), ...overrides };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return env;
}

/** The DB_* half of the env file only (DATABASE_URL removed), with overrides. */
function dbStarEnv(overrides = {}) {
  return envFile({ DATABASE_URL: undefined, ...overrides });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = { dbStarEnv, envFile, required, sleep };
