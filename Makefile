# Everything a fresh machine needs, from two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MERMAID := tests/mermaid/node_modules/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
AT     := "2026-11-23 10:00"

.PHONY: setup system-packages browser demo test test-fast fuzz bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet -e '.[dev]'   # no setuptools banner about editable installs
	@touch $(STAMP)

# Debian's packages, installed only when missing: Graphviz draws the diagrams;
# redis-server backs the shared session store (the tests start their own);
# espeak-ng speaks `say` prompts for platforms that only play recordings;
# curl and jq run the deploy.sh that `compile --target telphin` writes (and make demo).
system-packages:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v jq >/dev/null 2>&1 || missing="$$missing jq"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

setup: $(STAMP) system-packages

# Chromium and its WebDriver run the studio's page in a real browser (tests only;
# tests/test_studio_browser.py drives them with Selenium).
browser:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# Mermaid's own parser, to prove the .mmd output renders (tests only).
$(MERMAID): tests/mermaid/package.json tests/mermaid/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing nodejs and npm (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	cd tests/mermaid && npm ci --silent --no-audit --no-fund
	@touch $(MERMAID)

# The main job on the examples: check, render, simulate, test, compile and deploy to local stand-ins.
demo: setup
	@mkdir -p out
	@echo "== ivrflow check examples/*.ivr"
	@$(BIN)/ivrflow check examples/*.ivr
	@echo; echo "== ivrflow check examples/broken/undefined_name.ivr (a flow with a mistake)"
	@$(BIN)/ivrflow check examples/broken/undefined_name.ivr || true
	@echo; echo "== ivrflow render examples/*.ivr -o out/NAME.svg"
	@for f in examples/*.ivr; do $(BIN)/ivrflow render $$f -o out/$$(basename $$f .ivr).svg || exit 1; done
	@$(BIN)/ivrflow render examples/support.ivr -o out/support.mmd
	@echo; echo "== ivrflow simulate examples/support.ivr --press 2,1 --at $(AT)"
	@$(BIN)/ivrflow simulate examples/support.ivr --press 2,1 --at $(AT)
	@echo; echo "== ivrflow simulate examples/telphin_guide.ivr --press silence --format json"
	@$(BIN)/ivrflow simulate examples/telphin_guide.ivr --press silence --format json
	@echo; echo "== ivrflow simulate examples/bank.ivr (second edition: Spanish, an account number, a balance looked up)"
	@$(BIN)/ivrflow simulate examples/bank.ivr --at $(AT) --press 9,1,12345678# --answer find_balance:balance=42.10,status=ok
	@echo; echo "== ivrflow test examples/*.ivr"
	@$(BIN)/ivrflow test examples/*.ivr
	@echo; echo "== deploy to a local Telphin stand-in: ivrflow emulate telphin, then plan, deploy, plan"
	@port=$$($(BIN)/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	$(BIN)/ivrflow emulate telphin --port $$port & pid=$$!; trap "kill $$pid 2>/dev/null" EXIT; \
	export TELPHIN_BASE_URL=http://127.0.0.1:$$port TELPHIN_CLIENT_ID=demo TELPHIN_CLIENT_SECRET=demo \
	       IVRFLOW_CALLBACK_TOKEN=demo-callback-token; \
	for i in $$(seq 50); do curl -s -o /dev/null $$TELPHIN_BASE_URL/_emulator/log && break; sleep 0.1; done; \
	echo "-- ivrflow plan examples/telphin_guide.ivr --env local" && \
	$(BIN)/ivrflow plan examples/telphin_guide.ivr --env local && \
	echo "-- ivrflow deploy examples/telphin_guide.ivr --env local --yes" && \
	$(BIN)/ivrflow deploy examples/telphin_guide.ivr --env local --yes && \
	echo "-- ivrflow plan examples/telphin_guide.ivr --env local (again)" && \
	$(BIN)/ivrflow plan examples/telphin_guide.ivr --env local && \
	echo "-- a call on what was deployed: 1, then silence" && \
	curl -s -X POST $$TELPHIN_BASE_URL/_emulator/call -d '{"extension": "071", "inputs": ["1"]}' && echo && \
	curl -s -X POST $$TELPHIN_BASE_URL/_emulator/call -d '{"extension": "071", "inputs": ["silence"]}' && echo
	@echo; echo "== compile for PortSIP: plan.json and the joined prompts (ivrflow compile --target portsip)"
	@$(BIN)/ivrflow compile examples/quickstart.ivr --target portsip --tts espeak -o out/portsip
	@echo; echo "== deploy to a local PortSIP stand-in, with the runtime server answering its action URLs"
	@free() { $(BIN)/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }; \
	pbx=$$(free); rt=$$(free); \
	export PORTSIP_BASE_URL=http://127.0.0.1:$$pbx/api PORTSIP_PASSWORD=demo PORTSIP_IVR_PIN=482916 \
	       PORTSIP_RUNTIME_URL=http://127.0.0.1:$$rt IVRFLOW_CALLBACK_TOKEN=demo-callback-token; \
	$(BIN)/ivrflow emulate portsip --port $$pbx & pbx_pid=$$!; \
	$(BIN)/ivrflow serve examples/quickstart.ivr --env pbx --port $$rt 2>/dev/null & rt_pid=$$!; \
	trap "kill $$pbx_pid $$rt_pid 2>/dev/null" EXIT; \
	for i in $$(seq 50); do curl -s -o /dev/null http://127.0.0.1:$$pbx/_emulator/log && \
	  curl -s -o /dev/null http://127.0.0.1:$$rt/healthz && break; sleep 0.1; done; \
	echo "-- ivrflow deploy examples/quickstart.ivr --env pbx --yes" && \
	$(BIN)/ivrflow deploy examples/quickstart.ivr --env pbx --yes && \
	echo "-- ivrflow plan examples/quickstart.ivr --env pbx (again)" && \
	$(BIN)/ivrflow plan examples/quickstart.ivr --env pbx && \
	echo "-- calls to 7000: key 2; a wrong key, then 1 (the runtime answers the action URL)" && \
	curl -s -X POST http://127.0.0.1:$$pbx/_emulator/call -d '{"extension": "7000", "inputs": ["2"]}' && echo && \
	curl -s -X POST http://127.0.0.1:$$pbx/_emulator/call -d '{"extension": "7000", "inputs": ["7", "1"]}' && echo
	@echo; echo "== Comm100 VoiceBot: compile (plan.json and one file per resource), deploy to a local stand-in, plan again"
	@$(BIN)/ivrflow compile examples/quickstart.ivr --target comm100 -o out/comm100
	@port=$$($(BIN)/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	$(BIN)/ivrflow emulate comm100 --port $$port & pid=$$!; trap "kill $$pid 2>/dev/null" EXIT; \
	export COMM_BASE_URL=http://127.0.0.1:$$port/v4 COMM_API_KEY=demo COMM_SIP_PASSWORD=demo; \
	for i in $$(seq 50); do curl -s -o /dev/null http://127.0.0.1:$$port/_emulator/log && break; sleep 0.1; done; \
	echo "-- ivrflow deploy examples/quickstart.ivr --env voicebot --yes" && \
	$(BIN)/ivrflow deploy examples/quickstart.ivr --env voicebot --yes && \
	echo "-- ivrflow plan examples/quickstart.ivr --env voicebot (again)" && \
	$(BIN)/ivrflow plan examples/quickstart.ivr --env voicebot && \
	echo "-- calls on the voicebot: key 1 (simulate: transfer 101); a wrong key, then 2 (simulate: transfer 102)" && \
	curl -s -X POST http://127.0.0.1:$$port/_emulator/call -d '{"voicebot": "quickstart", "inputs": ["1"]}' && echo && \
	curl -s -X POST http://127.0.0.1:$$port/_emulator/call -d '{"voicebot": "quickstart", "inputs": ["7", "2"]}' && echo
	@echo; echo "== compile for Opentact: the call-flow XML (ivrflow compile --target opentact)"
	@$(BIN)/ivrflow compile examples/quickstart.ivr --target opentact -o out/opentact
	@echo; echo "== deploy to a local Opentact stand-in: ivrflow emulate opentact, then deploy, plan"
	@port=$$($(BIN)/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	$(BIN)/ivrflow emulate opentact --port $$port & pid=$$!; trap "kill $$pid 2>/dev/null" EXIT; \
	export OPENTACT_BASE_URL=http://127.0.0.1:$$port OPENTACT_PASSWORD=demo OPENTACT_RUNTIME_URL=http://127.0.0.1:8080; \
	for i in $$(seq 50); do curl -s -o /dev/null $$OPENTACT_BASE_URL/_emulator/log && break; sleep 0.1; done; \
	echo "-- ivrflow deploy examples/quickstart.ivr --env opentact --yes" && \
	$(BIN)/ivrflow deploy examples/quickstart.ivr --env opentact --yes && \
	echo "-- ivrflow plan examples/quickstart.ivr --env opentact (again)" && \
	$(BIN)/ivrflow plan examples/quickstart.ivr --env opentact && \
	echo "-- calls to +14155550100 through the uploaded XML: key 2; a wrong key, then silence 3 times" && \
	curl -s -X POST $$OPENTACT_BASE_URL/_emulator/call -d '{"number": "+14155550100", "inputs": ["2"]}' && echo && \
	curl -s -X POST $$OPENTACT_BASE_URL/_emulator/call \
	     -d '{"number": "+14155550100", "inputs": ["7", "silence", "silence", "silence"]}' && echo
	@echo; echo "== Opentact with the runtime server: support.ivr routes on hours and callers (<Callback>s)"
	@free() { $(BIN)/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }; \
	ot=$$(free); rt=$$(free); \
	export OPENTACT_BASE_URL=http://127.0.0.1:$$ot OPENTACT_PASSWORD=demo IVRFLOW_CALLBACK_TOKEN=demo-callback-token; \
	$(BIN)/ivrflow emulate opentact --port $$ot & ot_pid=$$!; \
	export OPENTACT_RUNTIME_URL=http://127.0.0.1:$$rt; \
	$(BIN)/ivrflow serve examples/support.ivr --env opentact --port $$rt 2>/dev/null & rt_pid=$$!; \
	trap "kill $$ot_pid $$rt_pid 2>/dev/null" EXIT; \
	for i in $$(seq 50); do curl -s -o /dev/null http://127.0.0.1:$$ot/_emulator/log && \
	  curl -s -o /dev/null http://127.0.0.1:$$rt/healthz && break; sleep 0.1; done; \
	echo "-- ivrflow deploy examples/support.ivr --env opentact --yes" && \
	$(BIN)/ivrflow deploy examples/support.ivr --env opentact --yes && \
	echo "-- a call from a partner's number: the route (answered by the runtime server) transfers it to 250" && \
	curl -s -X POST http://127.0.0.1:$$ot/_emulator/call \
	     -d '{"number": "+14155550100", "inputs": [], "caller": "+442079012345"}' && echo

test: setup browser $(MERMAID)
	$(BIN)/python -m pytest

# The suite without the end-to-end tests (emulators, servers, browsers): under a minute, for the edit loop.
test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not fuzz"

# The mutation property of tests/test_fuzz.py with 100,000 examples, then 150
# flows from the grammar-aware generator (tests/fuzzgen.py) through every
# command, with a summary: internal errors, and the slowest seconds per 100 kB
# (minutes). FUZZ_GENERATED=N and FUZZ_SEED=S change the second part.
FUZZ_GENERATED ?= 150
FUZZ_SEED ?= 1
fuzz: setup
	IVRFLOW_FUZZ_EXAMPLES=100000 $(BIN)/python -m pytest -q -p no:cacheprovider -m fuzz tests/test_fuzz.py
	$(BIN)/python -m tests.fuzzgen --count $(FUZZ_GENERATED) --seed $(FUZZ_SEED) --keep build/fuzz-findings

bench: setup
	$(BIN)/python bench/check.py
	$(BIN)/python bench/runtime.py
	$(BIN)/python bench/deploy.py

lint: setup
	$(BIN)/ruff check ivrflow tests bench
	$(BIN)/ivrflow fmt --check examples
	$(BIN)/mypy ivrflow

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .hypothesis
