'use strict';
/**
 * Connection settings from the environment, read exactly like the Python client
 * (src/coachdb/config.py, docs/env-vars.md): DATABASE_URL wins over DB_*, DB_SSL=true (or
 * production mode) means verify-full, DB_SSL_ROOT_CERT (or PGSSLROOTCERT, or the URL's
 * sslrootcert) is the CA, pool max 20 / idle 30 s / connect timeout 2 s by default.
 *
 * Why not hand DATABASE_URL to node-postgres as connectionString: when the URL carries
 * sslmode, node-postgres (pg-connection-string) builds its own ssl settings from it and an
 * `ssl` object given alongside is dropped, so a CA passed that way is silently ignored
 * ("unable to verify the first certificate"). Here the URL is parsed once and the pool gets
 * host/port/user/password/database plus one ssl object that always verifies the server.
 * rejectUnauthorized is never set to false: a mode that would need it is refused.
 */
const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');

const DEFAULTS = Object.freeze({
  host: 'localhost',
  port: 5432,
  database: 'elite_trading_coach_ai',
  user: 'trading_coach_user',
  applicationName: 'coachdb',
  poolMax: 20,
  idleTimeoutSeconds: 30,
  connectTimeoutSeconds: 2,
  maxLifetimeSeconds: 3600,
});
const SSLMODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
const TRUE_VALUES = ['1', 'true', 'yes', 'on'];
const FALSE_VALUES = ['0', 'false', 'no', 'off'];
const PRODUCTION_VALUES = ['production', 'prod'];
// URL parameters understood here; anything else is refused rather than silently ignored.
const URL_PARAMS = ['sslmode', 'sslrootcert', 'application_name', 'connect_timeout', 'hostaddr'];

class ConfigError extends Error {
  /** A setting is missing or invalid; `variable` names the one to fix. */
  constructor(variable, problem) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
    this.problem = problem;
  }
}

/** Value of `name`, an empty or blank string counting as unset (env files often have X=). */
function get(env, name) {
  const value = env[name];
  if (value === undefined || value === null) return undefined;
  const trimmed = String(value).trim();
  return trimmed === '' ? undefined : trimmed;
}

function bool(env, name) {
  const value = get(env, name);
  if (value === undefined) return undefined;
  if (TRUE_VALUES.includes(value.toLowerCase())) return true;
  if (FALSE_VALUES.includes(value.toLowerCase())) return false;
  throw new ConfigError(name, `expected true or false, got '${value}'`);
}

function number(env, name, fallback, { integer, minimum }) {
  const value = get(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || (integer && !Number.isInteger(parsed))) {
    throw new ConfigError(name, `expected ${integer ? 'a whole number' : 'a number of seconds'}, got '${value}'`);
  }
  if (parsed < minimum) throw new ConfigError(name, `must be at least ${minimum}, got '${value}'`);
  return parsed;
}

function isProduction(env) {
  for (const name of ['COACHDB_ENV', 'APP_ENV']) {
    const value = get(env, name);
    if (value !== undefined) return PRODUCTION_VALUES.includes(value.toLowerCase());
  }
  return false;
}

function parseUrl(raw) {
  if (!/^postgres(ql)?:\/\//.test(raw)) {
    throw new ConfigError('DATABASE_URL', 'malformed URL: must start with postgresql:// or postgres://');
  }
  let url;
  try {
    url = new URL(raw);
  } catch {
    // never echo the URL: it carries the password
    throw new ConfigError('DATABASE_URL', 'malformed URL');
  }
  if (url.host.includes(',')) {
    throw new ConfigError('DATABASE_URL', 'several hosts given: node-postgres connects to one host only');
  }
  const params = {};
  for (const [key, value] of url.searchParams) {
    if (!URL_PARAMS.includes(key)) {
      throw new ConfigError('DATABASE_URL', `parameter ${key} is not supported by this module (supported: ${URL_PARAMS.join(', ')})`);
    }
    params[key] = value;
  }
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const user = decodeURIComponent(url.username);
  for (const [key, value] of [['host', hostname], ['dbname', database], ['user', user]]) {
    if (!value) throw new ConfigError('DATABASE_URL', `malformed URL: no ${key} given`);
  }
  return {
    host: hostname,
    port: url.port ? Number(url.port) : DEFAULTS.port,
    database,
    user,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    params,
  };
}

/**
 * The TLS options for `sslmode`: `false` (plaintext) or an object for tls.connect that
 * verifies the chain (always) and the host name (verify-full).
 */
function sslOptions(sslmode, sslrootcert, rootVar, host) {
  if (['disable', 'allow', 'prefer'].includes(sslmode)) return false;
  if (sslmode === 'require') {
    throw new ConfigError('DB_SSLMODE', 'sslmode=require encrypts without authenticating the server, which node-postgres can only do with rejectUnauthorized:false; use verify-full (DB_SSL=true)');
  }
  if (sslrootcert === undefined) {
    throw new ConfigError('DB_SSL_ROOT_CERT', `sslmode=${sslmode} needs the CA certificate that signed the server certificate (set DB_SSL_ROOT_CERT or PGSSLROOTCERT to its path)`);
  }
  const options = { rejectUnauthorized: true, minVersion: 'TLSv1.2', servername: host };
  if (sslrootcert !== 'system') {
    let ca;
    try {
      ca = fs.readFileSync(sslrootcert, 'utf8');
    } catch {
      throw new ConfigError(rootVar, `CA certificate ${sslrootcert} does not exist`);
    }
    options.ca = ca;
  }
  if (sslmode === 'verify-ca') {
    // libpq's verify-ca: the chain is verified (rejectUnauthorized stays true), the name is not.
    options.checkServerIdentity = () => undefined;
  } else {
    options.checkServerIdentity = tls.checkServerIdentity;
  }
  return options;
}

/**
 * Resolve the environment into `{ pool, sslmode, source, production, describe() }`, where
 * `pool` is a node-postgres Pool config. Throws ConfigError naming the variable to fix.
 */
function loadConfig(env = process.env, { applicationName } = {}) {
  const production = isProduction(env);
  const rawUrl = get(env, 'DATABASE_URL');
  let target;
  let sslmode;
  let sslmodeVar;
  let sslrootcert;
  let rootVar = 'DATABASE_URL';
  let appName = applicationName;
  let connectTimeoutEnv = env;
  let source;
  if (rawUrl !== undefined) {
    source = 'DATABASE_URL';
    const parsed = parseUrl(rawUrl);
    target = { ...parsed, password: parsed.password ?? get(env, 'DB_PASSWORD') };
    sslmode = parsed.params.sslmode;
    sslmodeVar = 'DATABASE_URL';
    sslrootcert = parsed.params.sslrootcert;
    appName = appName ?? parsed.params.application_name;
    if (parsed.params.connect_timeout !== undefined && get(env, 'DB_CONNECT_TIMEOUT') === undefined) {
      connectTimeoutEnv = { ...env, DB_CONNECT_TIMEOUT: parsed.params.connect_timeout };
    }
  } else {
    source = 'DB_*';
    const host = get(env, 'DB_HOST') ?? DEFAULTS.host;
    if (host.includes(',')) throw new ConfigError('DB_HOST', 'several hosts given: node-postgres connects to one host only');
    target = {
      host,
      port: number(env, 'DB_PORT', DEFAULTS.port, { integer: true, minimum: 1 }),
      database: get(env, 'DB_NAME') ?? DEFAULTS.database,
      user: get(env, 'DB_USER') ?? DEFAULTS.user,
      password: get(env, 'DB_PASSWORD'),
    };
    sslmode = get(env, 'DB_SSLMODE');
    sslmodeVar = 'DB_SSLMODE';
  }

  const sslFlag = bool(env, 'DB_SSL');
  if (sslmode !== undefined && !SSLMODES.includes(sslmode)) {
    throw new ConfigError(sslmodeVar, `unknown sslmode '${sslmode}' (one of ${SSLMODES.join(', ')})`);
  }
  if (sslFlag === true) {
    if (sslmode !== undefined && sslmode !== 'verify-full') {
      throw new ConfigError(sslmodeVar, `sslmode=${sslmode} contradicts DB_SSL=true (which means verify-full)`);
    }
    sslmode = 'verify-full';
  } else if (sslFlag === false) {
    if (sslmode !== undefined && !['disable', 'allow', 'prefer'].includes(sslmode)) {
      throw new ConfigError(sslmodeVar, `sslmode=${sslmode} contradicts DB_SSL=false (which means disable)`);
    }
    sslmode = sslmode ?? 'disable';
  }
  if (production) {
    if (sslFlag === false) throw new ConfigError('DB_SSL', 'plaintext connections are refused in production mode');
    if (sslmode !== undefined && sslmode !== 'verify-full') {
      throw new ConfigError(sslmodeVar, `sslmode=${sslmode} is refused in production mode: only verify-full authenticates the server`);
    }
    sslmode = 'verify-full';
  }
  sslmode = sslmode ?? 'prefer';

  if (sslrootcert === undefined) {
    for (const name of ['DB_SSL_ROOT_CERT', 'PGSSLROOTCERT']) {
      sslrootcert = get(env, name);
      if (sslrootcert !== undefined) {
        rootVar = name;
        break;
      }
    }
  }
  const unixSocket = target.host.startsWith('/');
  if (target.password === undefined && !(unixSocket && !production)) {
    const variable = source === 'DATABASE_URL' ? 'DATABASE_URL or DB_PASSWORD' : 'DB_PASSWORD';
    throw new ConfigError(variable, 'no password given (the server only accepts SCRAM over TCP)');
  }
  const ssl = sslOptions(sslmode, sslrootcert, rootVar, target.host);
  // libpq's hostaddr: dial this numeric address, while verify-full still checks the host
  // name (ssl.servername above), e.g. an endpoint name published on 127.0.0.1.
  const hostaddr = target.params && target.params.hostaddr;
  if (hostaddr !== undefined && net.isIP(hostaddr) === 0) {
    throw new ConfigError('DATABASE_URL', `hostaddr must be a numeric IP address, got '${hostaddr}'`);
  }

  const connectTimeout = number(connectTimeoutEnv, 'DB_CONNECT_TIMEOUT', DEFAULTS.connectTimeoutSeconds, { integer: true, minimum: 1 });
  const poolMax = number(env, 'DB_POOL_MAX', DEFAULTS.poolMax, { integer: true, minimum: 1 });
  const idle = number(env, 'DB_POOL_IDLE_TIMEOUT', DEFAULTS.idleTimeoutSeconds, { integer: false, minimum: 0.05 });
  const lifetime = number(env, 'DB_POOL_MAX_LIFETIME', DEFAULTS.maxLifetimeSeconds, { integer: false, minimum: 1 });
  const pool = {
    host: hostaddr ?? target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    ssl,
    application_name: appName ?? get(env, 'DB_APPLICATION_NAME') ?? DEFAULTS.applicationName,
    max: poolMax,
    idleTimeoutMillis: Math.round(idle * 1000),
    connectionTimeoutMillis: connectTimeout * 1000,
    maxLifetimeSeconds: Math.round(lifetime),
    keepAlive: true,
    keepAliveInitialDelayMillis: 30000,
  };
  return {
    pool,
    sslmode,
    source,
    production,
    describe() {
      const host = target.host.includes(':') ? `[${target.host}]` : target.host;
      return `${target.user}@${host}:${target.port}/${target.database} (sslmode=${sslmode})`;
    },
  };
}

module.exports = { ConfigError, DEFAULTS, loadConfig };
