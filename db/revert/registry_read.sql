-- Revert coachdb:registry_read from pg
BEGIN;

REVOKE SELECT ON sqitch.projects, sqitch.changes, sqitch.tags FROM :"app_role";
REVOKE USAGE ON SCHEMA sqitch FROM :"app_role";

COMMIT;
