# siogate: one place for the commands the README and CI use.
GO_PKGS := github.com/siogate/siogate/...
MODULES := protocol adapter adapter-redis adapter-nats adapter-amqp adapter-kafka emitter gateway gateway/metrics gateway/cmd/gateway client bench examples worker

.PHONY: test deps check demo conformance bench fuzz

## test: install what the tests need, check formatting and vet, run every test with -race
test: deps check
	go test -race -count=1 -timeout 30m $(TESTFLAGS) $(GO_PKGS)

## deps: Go modules, the npm packages of js/ (pinned by its lock file), and from Debian: Chromium, HAProxy,
## redis-server and redis-cli (private Redis Clusters), python3-socketio with its Redis, Kombu and Kafka clients
deps:
	for m in $(MODULES); do (cd $$m && go mod download); done
	cd js && npm ci --no-audit --no-fund
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null 2>&1 || missing="$$missing redis-tools"; \
	/usr/bin/python3 -c 'import socketio, redis, kombu, kafka' >/dev/null 2>&1 || missing="$$missing python3-socketio python3-redis python3-kombu python3-kafka"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

## check: gofmt and go vet over every module
check:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(GO_PKGS)

## demo: the gateway with its chat page on the in-memory adapter, http://127.0.0.1:3000
demo:
	cd js && npm ci --no-audit --no-fund
	cd gateway/cmd/gateway && go run . --addr 127.0.0.1:3000

## conformance: the server the official protocol test suites expect, on 127.0.0.1:3000
conformance:
	cd gateway && go run ./examples/conformance

## bench: codec and server micro-benchmarks
bench:
	go test -run '^$$' -bench . -benchmem $(GO_PKGS)

## fuzz: each fuzz target for 30 s
fuzz:
	cd protocol && for pkg in engineio socketio; do \
		for t in $$(go test -list '^Fuzz' ./$$pkg | grep '^Fuzz'); do \
			go test -run '^$$' -fuzz "^$$t$$" -fuzztime 30s ./$$pkg || exit 1; done; done
