'use strict';
/**
 * Read a KEY=VALUE env file the way `docker --env-file`, systemd and `coachdb --env-file`
 * do: each value verbatim to the end of the line (no quotes, no expansion), so the `&` in
 * DATABASE_URL survives. Node 18 has no --env-file; this is the one reader the module uses.
 */
const fs = require('node:fs');

function readEnvFile(path) {
  const values = {};
  fs.readFileSync(path, 'utf8').split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = line.indexOf('=');
    const key = at > 0 ? line.slice(0, at).trim() : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new Error(`${path}:${index + 1}: not a KEY=VALUE line`);
    }
    values[key] = line.slice(at + 1);
  });
  return values;
}

module.exports = { readEnvFile };
