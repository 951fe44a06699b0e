# make test: the test suite (what CI runs). make demo: synthetic data -> shards -> train -> evaluate -> infer.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_DIR ?= demo_out
DEMO_CHECKPOINT ?= $(HOME)/.cache/pose3d_jax/demo

.PHONY: install test lint demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip uninstall -y -q opencv-python-headless 2>/dev/null || true
	$(BIN)/pip install -q -e '.[dev,convert]'
	$(BIN)/python -m pose3d_jax.get_detector
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=10

demo: $(STAMP)
	rm -rf $(DEMO_DIR) $(DEMO_CHECKPOINT)
	$(BIN)/python -m datasets.synthetic --out $(DEMO_DIR)/raw
	$(BIN)/python -m datasets.prepare --raw_dir $(DEMO_DIR)/raw --data_dir $(DEMO_DIR)/shards
	$(BIN)/python launch.py --config=configs/synthetic.py --workdir=$(DEMO_CHECKPOINT) \
		--config.data.data_dir=$(DEMO_DIR)/shards
	$(BIN)/python -m pose3d_jax.infer $$(ls -d $(DEMO_DIR)/raw/h36m/images/s_11_*/*.jpg | head -4) --checkpoint=$(DEMO_CHECKPOINT) \
		--out=$(DEMO_DIR)/predictions --detect=none
	$(BIN)/python -m pose3d_jax.evaluate --config=configs/synthetic.py \
		--config.data.data_dir=$(DEMO_DIR)/shards --checkpoint=$(DEMO_CHECKPOINT) \
		--datasets=h36m,mpii --baseline --out=$(DEMO_DIR)/results.json

bench: $(STAMP)
	$(BIN)/python benchmarks/input_throughput.py
	$(BIN)/python benchmarks/infer_latency.py
	$(BIN)/python benchmarks/model_throughput.py
	$(BIN)/python benchmarks/pytorch_throughput.py
	$(BIN)/python benchmarks/part_throughput.py
	$(BIN)/python benchmarks/device_step_throughput.py --dtypes float32 --batches 6
	$(BIN)/python benchmarks/train_loop_throughput.py
	$(BIN)/python benchmarks/infer_engines.py
	$(BIN)/python benchmarks/precision_guard.py
	$(BIN)/python benchmarks/metric_depth.py

clean:
	rm -rf $(VENV) $(DEMO_DIR)
