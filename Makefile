# Thin aliases for the familiar operator verbs. The real commands are `tenantry …` and
# `scripts/…`; nothing here does more than call them.
#
#   make dev-stack                         registry + two instances + OpenBAO, bootstrapped
#   make start                             tenantry serve (on tenantry.dev.yaml when present)
#   make migrate [ARGS=--dry-run]          registry, shared and tenant chains
#   make migrate-tenants                   the tenant chain only, on every tenant
#   make provision-bootstrap ARGS='--superuser eu1=postgres://…'   (BAO_TOKEN in the environment)
#   make test                              the whole suite, as CI runs it

CONFIG ?= $(wildcard tenantry.dev.yaml)
TENANTRY ?= target/release/tenantry
ARGS ?=
config_flag = $(if $(CONFIG),--config $(CONFIG))

.PHONY: build dev-stack dev-stack-down dev-stack-status start migrate migrate-tenants provision-bootstrap test bench

build:
	cargo build --release -p tenantry

dev-stack:
	scripts/dev-stack up

dev-stack-down:
	scripts/dev-stack down

dev-stack-status:
	scripts/dev-stack status

start: build
	$(TENANTRY) serve $(config_flag)

migrate: build
	$(TENANTRY) migrate $(config_flag) $(ARGS)

migrate-tenants: build
	$(TENANTRY) migrate $(config_flag) --tenants-only $(ARGS)

provision-bootstrap: build
	$(TENANTRY) provision-bootstrap $(config_flag) $(ARGS)

test:
	scripts/test

bench:
	scripts/bench $(ARGS)
