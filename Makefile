# Shortcuts for tools/dev, which does the real work (and is what the README shows).
.PHONY: run test bench setup docs
run:
	tools/dev run $(SCENE)
test:
	tools/dev test
bench:
	tools/dev bench
setup:
	tools/dev setup
docs: setup
	.venv/bin/geos docs
