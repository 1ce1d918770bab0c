-- The last lifecycle step a tenant's create or delete finished, so an interrupted one can be
-- seen (and is finished from there by reconcile). NULL once the tenant is active.

ALTER TABLE registry_tenants ADD COLUMN lifecycle_step TEXT;
