-- The named plan a tenant is on (`plans.<name>` in the configuration); NULL means the plan
-- called `default`, when there is one. Its own `limits` override the plan's, field by field.

ALTER TABLE registry_tenants ADD COLUMN plan TEXT;
