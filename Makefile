# Updraft. Every target runs with Node.js 24 (installed into the cache when the system
# node is older) and the local cluster's binaries from hack/build-binaries.sh.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
NODE_BIN := $(shell hack/ensure-node.sh)
export PATH := $(NODE_BIN):$(PATH)

.PHONY: help deps build-binaries cluster-up cluster-down cluster-status cluster-env cluster-clean \
	up down images lint typecheck test test-unit test-integration bench bench-controller bench-node bench-pod-floor bench-invoke bench-activator bench-scaling bench-autoscaler bench-async bench-triggers bench-runtimes bench-burst bench-table bench-pool format manifests cli-package

help:
	@echo "make up          local cluster + Updraft + examples"
	@echo "make test        lint, typecheck, unit and integration tests (starts the local cluster)"
	@echo "make cluster-up | cluster-down | cluster-status | cluster-env | cluster-clean"
	@echo "make images      build this tree's images and push them to the local registry"
	@echo "make bench       benchmarks in bench/"
	@echo "make cli-package the updraft CLI as an npm package (npm install -g it)"

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

build-binaries:
	hack/build-binaries.sh all

cluster-up:
	hack/cluster.sh up

cluster-down:
	hack/cluster.sh down

cluster-status:
	hack/cluster.sh status

cluster-env:
	@hack/cluster.sh env

cluster-clean:
	hack/cluster.sh clean

up: deps cluster-up
	hack/up.sh

down: cluster-down

manifests:
	hack/manifests.sh

cli-package: deps
	node hack/cli-package.ts

format: deps
	npx biome format --write .

lint: deps
	npx biome check .
	hack/manifests.sh --check

typecheck: deps
	npx tsc -p tsconfig.json

test-unit: deps
	npm run -s test:unit

images: cluster-up
	hack/images.sh project
	hack/images.sh sizes

test-integration: deps cluster-up
	eval "$$(hack/cluster.sh env)" && export UPDRAFT_IMAGE_TAG=$$(hack/images.sh project) && npm run -s test:integration

test: lint typecheck test-unit test-integration

bench: bench-controller bench-node bench-pod-floor bench-invoke bench-activator bench-scaling bench-autoscaler bench-async bench-triggers bench-runtimes bench-pool

bench-controller: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/controller-500.ts

bench-node: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/node-scale-up.ts

bench-pod-floor: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/pod-start-floor.ts

bench-invoke: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/invoke.ts

bench-activator: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/activator-clients.ts 10 1,10,50 --floor

bench-table: deps
	node --expose-gc bench/table.ts

bench-burst: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/burst.ts

bench-scaling: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/scaling.ts

bench-autoscaler: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/autoscaler-500.ts

bench-async: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/async.ts

bench-triggers: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/triggers.ts

bench-runtimes: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/runtimes.ts

bench-pool: deps cluster-up
	eval "$$(hack/cluster.sh env)" && node bench/pool.ts
