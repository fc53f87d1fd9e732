"""The commands, one module per command or family (the table is `study.cli`): `create`, `work`
(worker, run, replicate), `status`, `report`, `export` (and evaluate), `standalone` (train, prepare,
check), `dashboard`; `common` holds what they share once their flags are parsed."""
