# Set-up and the everyday commands. Everything installs into .venv; torch 2.13.0 (CPU) goes first,
# since a looser requirement resolved on its own may pull several GB of CUDA packages.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
GW     ?= ../shared/data/washingtondb-v1.0
MIRADOR = $(VENV)/share/mirador/mirador.min.js

.PHONY: install demo test bench-gw bench-gw-both bench-strings bench-scale bench-lines bench-line-scale fonts starter \
	bench-learning clean

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The whole pipeline on the built-in data set, in under 3 minutes on two CPU cores: the default model
# at 32 pixels high, without augmentation (the renderings vary enough, and a 2-pixel erosion wipes out
# strokes that thin) and with batches of 16 (more steps in the time), 1000 steps of the image stage.
demo: install
	$(BIN)/wordspot train --data builtin --out runs/demo --height 32 --no-augment --set image_batch=16 \
		--set image_lr=2e-3 --set val_every=100 --string-steps 300 --image-epochs 20 --joint-epochs 1 \
		--seed 0 --overwrite
	$(BIN)/wordspot index runs/demo --data builtin --subset test --out runs/demo/test.idx
	$(BIN)/wordspot query runs/demo/test.idx quarters -k 5
	$(BIN)/wordspot eval runs/demo --data builtin --subset test

test: install $(MIRADOR)
	$(BIN)/python -m pytest

# a real IIIF viewer for tests/serve/test_iiif_viewer.py: Mirador's own bundle from the npm registry
# (the test is skipped where npm cannot fetch it)
$(MIRADOR):
	mkdir -p $(@D)
	cd $(@D) && npm pack --silent mirador@3.4.3 >/dev/null 2>&1 \
		&& tar xzf mirador-3.4.3.tgz --strip-components=2 package/dist/mirador.min.js \
			package/dist/mirador.min.js.LICENSE.txt && rm mirador-3.4.3.tgz \
		|| echo "npm could not fetch Mirador: the IIIF viewer test will be skipped"

# the runs behind the README's tables (hours on two cores: GW folds are trained one after another;
# `make bench-gw FOLDS=cv3` runs one, `python benchmarks/gw.py --merge` rebuilds the table)
FOLDS  ?= cv1 cv2 cv3 cv4
bench-gw: install
	$(BIN)/python benchmarks/gw.py --data $(GW) --method phoc --folds $(FOLDS) --minutes 40 --members 2 --holdout 300

# the default model (LSDE reader with a PHOC branch) on the four folds, 40 minutes each
bench-gw-both: install
	$(BIN)/python benchmarks/gw.py --data $(GW) --method both --folds $(FOLDS) --minutes 40 --holdout 300 --set model.image_side=read --set model.phoc_branch=true --tag branch

bench-strings: install
	$(BIN)/python benchmarks/strings.py --data $(GW) --steps 8000

# index size and query time for 10k, 100k and 1M crops (about 10 minutes; MODEL: a run folder)
MODEL  ?= runs/demo
bench-scale: install
	$(BIN)/python benchmarks/scale.py --model $(MODEL) --gw $(GW)

# line-level keyword spotting (a line reader trained 40 minutes a fold), and line indexes at scale
bench-lines: install
	$(BIN)/python benchmarks/lines.py --data $(GW) --folds $(FOLDS) --minutes 40

LINE_MODEL ?= runs/lines-40min-cv1
bench-line-scale: install
	$(BIN)/python benchmarks/line_scale.py --model $(LINE_MODEL) --data $(GW)

# handwriting fonts and an English word list, Debian's packages (as root, or `make starter SUDO=sudo`)
SUDO      ?=
HANDFONTS  = fonts-dancingscript fonts-bwht fonts-breip fonts-dkg-handwriting fonts-ecolier-court fonts-femkeklaver \
	fonts-sjfonts
FONTDIRS   = $(foreach d,opentype/bwht opentype/dancingscript truetype/sjfonts truetype/fifthhorseman \
	truetype/ecolier-court truetype/breip truetype/femkeklaver,--fonts /usr/share/fonts/$(d))
fonts:
	$(SUDO) apt-get install -y --no-install-recommends $(HANDFONTS) wamerican

# a starter model that never saw a page: 20,000 English words rendered twice each in those fonts, 20 minutes
starter: install fonts
	$(BIN)/wordspot data synth runs/synth-words --words /usr/share/dict/american-english $(FONTDIRS) \
		--per-word 2 --limit 20000 --seed 0
	$(BIN)/wordspot train --data runs/synth-words --out runs/starter --minutes 20 --seed 0 --plain --overwrite

# the learning curve of cv1: 100, 300 and 1,000 training words from scratch, then from the starter
bench-learning: install
	$(BIN)/python benchmarks/learning.py --data $(GW) --folds cv1 --sizes 100 300 1000 --minutes 5 10 20
	$(BIN)/python benchmarks/learning.py --data $(GW) --folds cv1 --sizes 100 300 1000 --minutes 5 10 20 \
		--init runs/starter/model.pt

clean:
	rm -rf $(VENV) runs *.egg-info
