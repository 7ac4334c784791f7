"""The core: messages and their wire form, the bus, stages, the registry, the planner and the
runner. It knows no product: no stage kind, skill, dialogue or product message is imported here,
which `lint-imports` (the contracts in pyproject.toml) checks in `make test`."""
