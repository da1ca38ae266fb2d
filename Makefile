# biqa: the only build entry point.
#   make            build/biqa (CUDA code compiled with nvcc when it exists; GPU=0 to skip)
#   make deps       install the missing Debian packages (root) or print the apt-get line
#   make test       ASan+UBSan unit tests, then the whole suite (unit + CLI + reference scripts)
#   make demo       the whole pipeline on the embedded synthetic benchmark (CPU)

CC      ?= cc
NVCC    ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
GPU     ?= $(if $(NVCC),1,0)
PYTHON  ?= /usr/bin/python3
BUILD   ?= build

# Debian packages: build libraries, the test runner, and the independent
# oracles the reference scripts call (SciPy/NumPy from Debian's python3).
DEBS := gcc make pkg-config libsqlite3-dev libcjson-dev libssl-dev libcriterion-dev \
        libturbojpeg0-dev libpng-dev libdnnl-dev libopenblas-dev \
        libcurl4-openssl-dev libarchive-dev libxml2-dev libcairo2-dev \
        libopenmpi-dev openmpi-bin slurmctld slurmd slurm-client munge \
        python3 python3-numpy python3-scipy python3-torch python3-torchvision \
        python3-opencv python3-pil python3-openpyxl texlive-latex-base texlive-latex-recommended

PKGS    := sqlite3 libcjson openssl libturbojpeg libpng openblas libcurl libarchive libxml-2.0 \
           cairo ompi-c
WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
# -ffp-contract=off: outputs (the degradation ops' bytes above all) must not depend on
# whether the compiler fuses a*b+c into an FMA in its AVX2/AVX-512 clones (kernels/image/filter.h).
CFLAGS  += -std=c11 $(WARN) -D_GNU_SOURCE -fopenmp -ffp-contract=off -I. -I$(BUILD)/gen \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldnnl -ldl -lpthread -lm

LIB_SRC := $(wildcard core/*.c kernels/*.c kernels/ref/*.c kernels/cpu/*.c kernels/image/*.c \
                      results/*.c methods/*.c datasets/*.c)
CU_SRC  := $(wildcard kernels/cuda/*.cu)
ifeq ($(GPU),1)
  LIB_SRC := $(filter-out %_absent.c,$(LIB_SRC))
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
  NVFLAGS := -O2 -std=c++17 -I. --compiler-options "$(WARN)" -Werror all-warnings
  LDLIBS  += -L$(CUDA_HOME)/lib64 -lcudnn -lcublasLt -lcublas -lnccl -lcudart_static -lrt -lstdc++
  CU_OBJ  := $(CU_SRC:%.cu=$(BUILD)/obj/%.o)
endif
MANIFESTS := $(sort $(wildcard datasets/manifests/*.json))
GEN_SRC := $(BUILD)/gen/published_csv.c $(BUILD)/gen/manifests.c
CLI_SRC := $(wildcard harness/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)
CLITEST_SRC := $(wildcard tests/cli/*.c)
HELPER_SRC := $(wildcard tests/helpers/*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(GEN_SRC:$(BUILD)/%.c=$(BUILD)/obj/%.o) $(CU_OBJ)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)

SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/asan/%.o) $(GEN_SRC:$(BUILD)/%.c=$(BUILD)/asan/%.o) $(CU_OBJ)

.PHONY: all deps test test-all test-slurm test-slurm-run demo demo-run paper clean FORCE
all: $(BUILD)/biqa

$(BUILD)/biqa: $(CLI_OBJ) $(BUILD)/libbiqa.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libbiqa.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -MMD -MP -c -o $@ $<

$(BUILD)/asan/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

# The paper's published numbers are compiled in, so every database gets its
# `published` table whatever the working directory.
$(BUILD)/gen/published_csv.c: paper/published.csv
	@mkdir -p $(dir $@)
	@{ echo '#include <stddef.h>'; \
	   echo 'const unsigned char biqa_published_csv[] = {'; \
	   od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '};'; \
	   echo 'const size_t biqa_published_csv_len = sizeof biqa_published_csv;'; } > $@

# The dataset manifests, compiled in for the same reason (datasets/manifest.c).
$(BUILD)/gen/manifests.c: $(MANIFESTS) tools/embed_manifests.py
	@mkdir -p $(dir $@)
	@$(PYTHON) tools/embed_manifests.py . --out $@

# Provenance of the code itself: the commit and whether the tree differed from
# it when this binary was built. Rewritten only when it changes.
$(BUILD)/gen/build_info.h: FORCE
	@mkdir -p $(dir $@)
	@c=$$(git rev-parse --verify -q HEAD 2>/dev/null || echo unknown); \
	 d=$$(test -n "$$(git status --porcelain 2>/dev/null)" && echo 1 || echo 0); \
	 printf '#define BIQA_GIT_COMMIT "%s"\n#define BIQA_GIT_DIRTY %s\n#define BIQA_BUILD_GPU %s\n' \
	   "$$c" "$$d" "$(GPU)" > $@.tmp; \
	 cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(LIB_OBJ) $(CLI_OBJ) $(ASAN_LIB_OBJ): $(BUILD)/gen/build_info.h

# ---- tests ---------------------------------------------------------------
$(BUILD)/tests/biqa-tests: $(UNIT_SRC:%.c=$(BUILD)/obj/%.o) $(CLITEST_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libbiqa.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ -lcriterion $(LDLIBS)

$(BUILD)/tests/biqa-unit-asan: $(UNIT_SRC:%.c=$(BUILD)/asan/%.o) $(ASAN_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ -lcriterion $(LDLIBS)

$(BUILD)/tests/helpers/%: tests/helpers/%.c $(BUILD)/libbiqa.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

TEST_BINS := $(BUILD)/biqa $(BUILD)/tests/biqa-tests $(BUILD)/tests/biqa-unit-asan \
             $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

test: deps
	@$(MAKE) --no-print-directory test-all

test-all: $(TEST_BINS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/tests/biqa-unit-asan
	BIQA=$(abspath $(BUILD)/biqa) BIQA_HELPERS=$(abspath $(BUILD)/tests/helpers) \
	  BIQA_PYTHON=$(PYTHON) BIQA_SRC=$(CURDIR) $(BUILD)/tests/biqa-tests

# The Slurm acceptance test (issue 9): a one-node cluster on loopback runs the
# test profile's grid as job arrays (root; about 2.5 minutes, so not in `test`).
test-slurm: deps
	@$(MAKE) --no-print-directory test-slurm-run

test-slurm-run: $(TEST_BINS)
	BIQA=$(abspath $(BUILD)/biqa) BIQA_HELPERS=$(abspath $(BUILD)/tests/helpers) \
	  BIQA_PYTHON=$(PYTHON) BIQA_SRC=$(CURDIR) BIQA_TEST_SLURM=1 \
	  $(BUILD)/tests/biqa-tests --filter 'slurm/*'

# The main job: the whole pipeline on the embedded synthetic benchmark, on
# the CPU (make the data, pretrain every method, fine-tune and probe each
# over the demo splits), then the table from the results store.
demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: $(BUILD)/biqa
	$(BUILD)/biqa --db $(BUILD)/demo.db --root $(BUILD)/data reproduce --profile demo

# The paper's tables (Markdown, LaTeX, CSV) and figures (PNG, PDF) of a
# results database, by default the demo's, into paper/out/.
PAPER_DB ?= $(BUILD)/demo.db
paper: $(BUILD)/biqa
	@test -f $(PAPER_DB) || { echo "make paper: no $(PAPER_DB): run make demo first, or give PAPER_DB=PATH"; exit 1; }
	@for f in md latex csv; do \
	   $(BUILD)/biqa --db $(PAPER_DB) tables --specs paper/tables --format $$f --out paper/out || exit 1; \
	 done
	$(BUILD)/biqa --db $(PAPER_DB) figures --out paper/out

deps:
	@missing=""; for p in $(DEBS); do \
	   dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	 done; \
	 if [ -z "$$missing" ]; then exit 0; fi; \
	 if [ "$$(id -u)" = 0 ]; then \
	   echo "make deps: installing$$missing"; \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing; \
	 else \
	   echo "make deps: missing Debian packages; run:"; \
	   echo "  sudo apt-get install -y$$missing"; exit 1; \
	 fi

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/asan -name '*.d' 2>/dev/null)
