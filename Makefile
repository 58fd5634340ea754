# fracto.hosting: the two commands of the README are `make demo` and `make test`.
# Both install what is missing (venv, Docker engine, lab base image) and are safe to run twice.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_VAULT_IDENTITY_LIST := platform@$(CURDIR)/inventories/platform/vault-password.txt,demo@$(CURDIR)/inventories/demo/vault-password.txt
export PYTHONPATH := $(CURDIR)/collections
COLLECTION := collections/ansible_collections/fracto/hosting
# The platform inventory (hosts, connection and role settings, IP pool, platform secrets) and one reseller's state
# directory, data read by client_state, never an inventory (docs/security.md#inventories).
DEMO := -i inventories/platform -e fracto_reseller_dir=inventories/demo

# promtool, unpacked from Debian's prometheus .deb by scripts/ensure-promtool.sh (never the server installed).
PROMTOOL := $(CURDIR)/.fracto/tools/prometheus/usr/bin/promtool

# The execution environment's build context (ansible-builder create: no network, no container engine).
EE_CONTEXT ?= .fracto/ee-context

.PHONY: setup demo plan validate gdpr lab-down lab-reset test lint sanity unit molecule ee-context bench-smoke

setup:  ## venv (Python >= 3.12), Docker engine, lab base image, the browser of the webmail and GDPR page tests, promtool
	bash scripts/ensure-venv.sh
	bash scripts/ensure-promtool.sh >/dev/null
	bash scripts/ensure-docker.sh
	bash scripts/ensure-browser.sh
	bash scripts/build-base-image.sh

demo: setup  ## bring the lab up and apply inventories/demo with playbooks/site.yml
	bash scripts/lab-up.sh
	ansible-playbook $(DEMO) molecule/lab/lab.yml
	ansible-playbook $(DEMO) playbooks/site.yml

plan: setup  ## the dry run: what site.yml would change, per client (nothing is changed)
	ansible-playbook $(DEMO) playbooks/site.yml --check --diff

validate: setup  ## validate the demo state without touching a host
	ansible-playbook $(DEMO) playbooks/validate.yml

gdpr: setup  ## the GDPR report of the demo (.fracto/gdpr-demo.md, .json, .html and gdpr-demo/<client>.html), trusting the lab's CAs
	python scripts/lab-roots.py .fracto/lab/roots.pem
	ansible-playbook $(DEMO) playbooks/gdpr_report.yml -e fracto_gdpr_ca_bundle=$(CURDIR)/.fracto/lab/roots.pem

lab-down:  ## remove the lab's containers
	molecule destroy -s default

test: setup lint sanity unit molecule bench-smoke  ## every check

lint: ee-context  ## ruff, ansible-lint (profile production), the collection's changelog fragments, the EE definition, the alert rules
	ruff check .
	ansible-lint
	cd $(COLLECTION) && antsibull-changelog lint
	bash scripts/ensure-promtool.sh >/dev/null
	$(PROMTOOL) check rules monitoring/fracto-alerts.rules.yml
	cd monitoring && $(PROMTOOL) test rules fracto-alerts.test.yml

ee-context:  ## the execution environment's build context from execution-environment.yml (image build: docs/awx.md)
	rm -rf $(EE_CONTEXT)
	ansible-builder create --file execution-environment.yml --context $(EE_CONTEXT) --output-filename Containerfile
	test -s $(EE_CONTEXT)/Containerfile && test -s $(EE_CONTEXT)/_build/requirements.txt

sanity:
	bash scripts/sanity.sh

unit:  ## the unit tests, one worker per core (pytest-xdist): most of them run ansible-playbook, CPU-bound
	python -m pytest -q -p no:cacheprovider -n auto $(COLLECTION)/tests/unit tests

molecule:  ## every scenario, in turn, on one fresh lab (removed before the first and after the last)
	$(MAKE) --no-print-directory lab-reset
	molecule test --all --destroy=never  # a failing scenario keeps the lab for a look; the next run removes it
	$(MAKE) --no-print-directory lab-reset

# Every bench at a tiny size, each on a container of its own (fracto-bench*, never the lab's), the three at once: a
# bench that breaks fails here, not months later. The figures are printed, not judged; a bench exits 1 only when it
# broke. -k: every bench runs even when one breaks; each one's output is printed whole when it ends.
BENCHES := converge_scale mail_scale mail_migrate
bench-smoke:  ## every bench script at a tiny size, at once, on containers of their own (about 3 minutes)
	@start=$$SECONDS; rc=0; \
	$(MAKE) --no-print-directory -k -j$(words $(BENCHES)) --output-sync=target $(BENCHES:%=bench-smoke-%) || rc=1; \
	echo "== bench-smoke: $$((SECONDS - start)) s"; exit $$rc

bench-smoke-%:
	@t=$$SECONDS; rc=0; echo "== bench/$* --smoke"; bench/$* --smoke || rc=$$?; \
	echo "== bench/$* --smoke: $$((SECONDS - t)) s$$([ $$rc = 0 ] || echo ", BROKEN (exit $$rc)")"; exit $$rc

# Removes the lab's containers and molecule's record of them: molecule keeps "created" per scenario under
# ~/.ansible/tmp/molecule.<hash of the checkout's folder name>.<scenario>, shared by every checkout named alike;
# a record left "created" without containers makes molecule skip create and every host unreachable.
lab-reset:
	docker ps -aq --filter label=owner=molecule | xargs -r docker rm -f >/dev/null
	molecule reset --all >/dev/null
