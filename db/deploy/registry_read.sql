-- Deploy coachdb:registry_read to pg
-- The application role may read which changes are deployed (never write them), so
-- `coachdb check`, running with the app's own settings, can prove that every change of the
-- plan is deployed. :"app_role" comes from sqitch.conf [deploy "variables"] or --set.
BEGIN;

GRANT USAGE ON SCHEMA sqitch TO :"app_role";
GRANT SELECT ON sqitch.projects, sqitch.changes, sqitch.tags TO :"app_role";

COMMIT;
