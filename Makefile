# Build, run and test kite. Targets work from a clean clone as root on
# Debian 12 (what CI runs); `make deps` installs the host packages kite
# needs at run time and skips those already present.

SHELL := /bin/bash
GO    ?= go

# The version kite reports. kubectl and client-go read theirs from
# Kubernetes' own version packages, so they are set to the same release;
# otherwise `kubectl version` shows v0.0.0-master and warns about skew.
VERSION    ?= v1.37.2+kite
KUBE_MAJOR := $(patsubst v%,%,$(word 1,$(subst ., ,$(VERSION))))
KUBE_MINOR := $(word 2,$(subst ., ,$(VERSION)))
# A static, stripped binary like k3s's: no libc to match on the host, and
# the symbol tables (unused at run time; stack traces keep working) left out.
export CGO_ENABLED ?= 0
# The embedded containerd reports the module version go.mod pins, without
# the "v", as containerd's releases do (node: containerd://2.4.2).
CONTAINERD_VERSION := $(patsubst v%,%,$(shell $(GO) list -m -f '{{.Version}}' github.com/containerd/containerd/v2 2>/dev/null))

LDFLAGS := -s -w -X main.version=$(VERSION) \
	-X kite/server.Version=$(VERSION) \
	$(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version, \
		-X $(pkg).gitVersion=$(VERSION) \
		-X $(pkg).gitMajor=$(KUBE_MAJOR) \
		-X $(pkg).gitMinor=$(KUBE_MINOR) \
		-X $(pkg).gitTreeState=clean)
BUNDLE_LDFLAGS := -s -w -X github.com/containerd/containerd/v2/version.Version=$(CONTAINERD_VERSION)

BIN        := bin/kite
# The programs kite carries and installs under <data-dir>/bin
# (agent/runtime/bundle): built first, then appended to the kite program
# as a tar archive (their SHA256SUMS first) and a trailer giving its size.
BUNDLE_DIR := bin/bundle
BUNDLED    := containerd containerd-shim-runc-v2
TOOLS_DIR  := $(CURDIR)/bin/tools
# staticcheck 2026.2.2; it needs to know Go 1.26, which older releases do not.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(TOOLS_DIR)/staticcheck-$(STATICCHECK_VERSION)

# Host packages: CA roots for image pulls, iptables for the Service proxy
# (nftables for `nft`, to look at --proxy-mode nftables rules) and conntrack
# to forget UDP flows to removed endpoints, runc and the CNI plugins for pods, dig for DNS
# checks in tests, openssl for TLS checks in tests, busybox-static for the
# images tests build (test/images).
DEB_PACKAGES := ca-certificates iptables nftables conntrack runc containernetworking-plugins dnsutils openssl busybox-static
# dnsperf drives the cluster DNS benchmark; wrk and nginx the ingress one (the
# bench starts its own nginx in its namespace, never the system service).
BENCH_PACKAGES := dnsperf wrk nginx

TEST_TIMEOUT ?= 25m

.PHONY: all build run test lint bench deps bench-deps clean

all: build

build:
	for p in $(BUNDLED); do $(GO) build -trimpath -ldflags '$(BUNDLE_LDFLAGS)' -o $(BUNDLE_DIR)/$$p ./cmd/$$p || exit 1; done
	cd $(BUNDLE_DIR) && sha256sum $(BUNDLED) > SHA256SUMS && \
		tar --owner=0 --group=0 --numeric-owner -cf ../bundle.tar SHA256SUMS $(BUNDLED)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN).program ./cmd/kite
	cat $(BIN).program bin/bundle.tar > $(BIN).tmp
	printf 'KITE-BUNDLE %019d\n' $$(stat -c %s bin/bundle.tar) >> $(BIN).tmp
	chmod 755 $(BIN).tmp && mv $(BIN).tmp $(BIN)

# Runs a server in the foreground with the default paths (/var/lib/kite,
# /etc/kite); kite creates the directories itself. Extra flags: ARGS=...
run: deps build
	./$(BIN) server $(ARGS)

# e2e tests in test/e2e drive the real binary named by KITE_BIN.
test: deps lint build
	KITE_BIN=$(CURDIR)/$(BIN) $(GO) test -timeout $(TEST_TIMEOUT) ./...

lint: $(STATICCHECK)
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# The version is part of the file name so a bump reinstalls it.
$(STATICCHECK):
	@mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS_DIR)/staticcheck $@

# Benchmarks start the real binary and print figures (README, Benchmarks).
bench: bench-deps build
	$(GO) run ./test/bench -kite $(CURDIR)/$(BIN)

# deps installs what kite and its tests need; bench-deps adds the load
# generators the benchmarks drive.
deps: PACKAGES = $(DEB_PACKAGES)
bench-deps: PACKAGES = $(DEB_PACKAGES) $(BENCH_PACKAGES)
deps bench-deps:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "deps: not root; skipping package install (kite needs: $(PACKAGES))"; \
	elif ! command -v dpkg-query >/dev/null; then \
		echo "deps: not a Debian system; install by hand: $(PACKAGES)"; \
	else \
		missing=""; \
		for p in $(PACKAGES); do \
			dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
		done; \
		if [ -n "$$missing" ]; then \
			echo "deps: installing$$missing"; \
			apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing && \
			case " $$missing " in *" nginx "*) \
				echo "deps: stopping the nginx service the package started (the ingress benchmark runs its own; kite's ingress needs :80)"; \
				systemctl disable --now nginx 2>/dev/null || true;; esac; \
		fi; \
	fi

clean:
	rm -rf bin
