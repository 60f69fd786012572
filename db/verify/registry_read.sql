-- Verify coachdb:registry_read on pg
-- Plain SQL without psql variables: `coachdb check` runs verify scripts too.
-- Some role besides the owner may SELECT from sqitch.changes (1/0 fails otherwise).
SELECT 1 / count(*)
  FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
 WHERE c.oid = 'sqitch.changes'::pg_catalog.regclass
   AND a.privilege_type = 'SELECT'
   AND a.grantee <> c.relowner;
