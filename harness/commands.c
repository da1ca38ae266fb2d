/* The command tree of DESIGN.md: every command with its options, help
 * text and examples, and the function that runs it. */
#include "harness/commands.h"

#include <stddef.h>


/* ---- datasets (issues 4 and 6) ---- */
#define DATASETS_MANIFEST_OPT \
    {"manifest", 0, "FILE", "a manifest file of your own, instead of a built-in NAME"}
static const biqa_opt datasets_list_opts[] = {
    {"manifest", 0, "FILE", "also list the dataset of this manifest file (repeatable)"}, {0}};
static const biqa_cmd datasets_list = {
    .name = "list", .summary = "list the known datasets and whether they are present",
    .usage = "biqa datasets list [--manifest FILE ...] [--root DIR] [--json]",
    .details =
        "Every built-in manifest, every --manifest file and every dataset under --root that\n"
        "records its manifest, with its local state: absent (nothing), partial (downloads or\n"
        "an interrupted extraction, or a dataset not verified here), verified (the last\n"
        "fetch/import/verify found every file as recorded) or corrupt (it did not).\n"
        "States are read from ROOT/.biqa/NAME/state.json; nothing is rehashed.",
    .examples = "  biqa datasets list\n  biqa datasets list --root /data/iqa --json\n",
    .opts = datasets_list_opts, .run = biqa_cmd_datasets_list};
static const biqa_opt datasets_info_opts[] = {DATASETS_MANIFEST_OPT, {0}};
static const biqa_cmd datasets_info = {
    .name = "info", .summary = "show a dataset's manifest, licence and local state",
    .usage = "biqa datasets info (NAME | --manifest FILE) [--json]",
    .details = "The manifest (sources in the order fetch tries them, each file's URLs, size and\n"
               "SHA-256 or the digest pinned at its first download, label parser, MOS range and\n"
               "direction, splits), the licence / registration note, and the local state.",
    .examples = "  biqa datasets info koniq10k\n  biqa datasets info --manifest my.json --json\n",
    .opts = datasets_info_opts, .run = biqa_cmd_datasets_info};
static const biqa_opt datasets_fetch_opts[] = {
    DATASETS_MANIFEST_OPT,
    {"offline", 0, NULL, "no network: use only files already downloaded (verified again)"},
    {"source", 0, "NAME", "use only this source of the manifest"},
    {"delete-archives", 0, NULL, "remove the downloaded archives once the dataset is in place"},
    {0}};
static const biqa_cmd datasets_fetch = {
    .name = "fetch", .summary = "download, verify (SHA-256) and extract a dataset",
    .usage = "biqa datasets fetch (NAME | --manifest FILE) [--offline] [--source NAME] "
             "[--delete-archives]",
    .details =
        "Tries the manifest's sources in order; the first whose files all arrive is used.\n"
        "Each file comes from its mirrors with resume (HTTP Range), retries and a progress\n"
        "bar into ROOT/.biqa/NAME/downloads, and is trusted only after its size and SHA-256\n"
        "match (a digest the manifest does not know is pinned at the first download and\n"
        "enforced afterwards). Archives are extracted safely into a staging folder, the\n"
        "labels parsed into index.csv (MOS on 0..1, higher better), the image count and every\n"
        "labelled image checked, digests.sha256 written, and the folder renamed to ROOT/NAME.\n"
        "A lock keeps two fetches of one dataset apart. Recorded in the results store.",
    .examples = "  biqa datasets fetch koniq10k\n"
                "  biqa datasets fetch kadid10k --root /data/iqa --source official\n"
                "  biqa datasets fetch live --offline\n",
    .opts = datasets_fetch_opts, .run = biqa_cmd_datasets_fetch};
static const biqa_opt datasets_verify_opts[] = {DATASETS_MANIFEST_OPT, {0}};
static const biqa_cmd datasets_verify = {
    .name = "verify", .summary = "re-check a dataset's files against their digests",
    .usage = "biqa datasets verify (NAME | --manifest FILE)",
    .details = "Rehashes every file listed in ROOT/NAME/digests.sha256 and checks that the\n"
               "index names only listed files. The first changed or missing file is named and\n"
               "the state becomes corrupt (exit 1); otherwise verified. Files present but not\n"
               "listed are reported. Recorded in the results store.",
    .examples = "  biqa datasets verify koniq10k\n  biqa datasets verify synthetic\n",
    .opts = datasets_verify_opts, .run = biqa_cmd_datasets_verify};
static const biqa_opt datasets_import_opts[] = {
    DATASETS_MANIFEST_OPT,
    {"from", 0, "PATH", "a folder or an archive holding the dataset's files (repeatable)"},
    {"source", 0, "NAME", "the source whose layout and labels apply (default: the first whose "
                          "label file is there)"},
    {"copy", 0, NULL, "copy the files of a folder instead of hard-linking them"},
    {0}};
static const biqa_cmd datasets_import = {
    .name = "import", .summary = "adopt a dataset already on disk",
    .usage = "biqa datasets import (NAME | --manifest FILE) --from PATH [--from PATH ...] "
             "[--source NAME] [--copy]",
    .details =
        "For datasets without a scriptable download (SPAQ, BID, LIVE, CSIQ, PIPAL) or\n"
        "archives you already have. An archive is extracted (if its name is a manifest\n"
        "file with a known or pinned SHA-256, it must match); a folder's files are\n"
        "hard-linked into the dataset (they then share their bytes with the originals) or\n"
        "copied when linking is impossible or with --copy. Then the same checks as fetch.\n"
        "ImageNet (kind local) is linked as ROOT/imagenet/train, every file hashed in place.",
    .examples = "  biqa datasets import spaq --from ~/Downloads/SPAQ\n"
                "  biqa datasets import koniq10k --from koniq10k.tgz --from meta_info.tgz\n"
                "  biqa datasets import imagenet --from /data/ILSVRC2012/train\n",
    .opts = datasets_import_opts, .run = biqa_cmd_datasets_import};
static const biqa_opt datasets_make_opts[] = {
    {"size", 0, "S", "test (tens of images), demo (default) or large (GPU profiles)"},
    {"out", 0, "DIR", "where the dataset goes (default: ROOT/synthetic-SIZE)"},
    {"force", 0, NULL, "replace an existing synthetic dataset at DIR"},
    {0}};
static const biqa_cmd datasets_make = {
    .name = "make", .summary = "generate the synthetic BIQA benchmark",
    .usage = "biqa datasets make synthetic [--size test|demo|large] [--out DIR] [--seed N] "
             "[--force]",
    .details =
        "Dead-leaves contents in K classes: pretraining images in one folder per class\n"
        "(pretrain/), disjoint downstream references (refs/) degraded by chains of 1..5\n"
        "default-sampler steps (images/), rated by a documented observer model (MS-SSIM\n"
        "against the reference, content masking, 20 simulated raters): meta.csv has\n"
        "image,mos,std,ref,chain,seed,content_class,split_hint. manifest.json records the\n"
        "sizes, seed and observer parameters; digests.sha256 every file's SHA-256.\n"
        "The dataset is built beside DIR and renamed into place when complete; the same\n"
        "seed gives the same bytes at any --threads. Sizes: test 48 px, 32 + 12x4 images;\n"
        "demo 96 px, 400 + 60x8; large 256 px, 10000 + 400x16.",
    .examples = "  biqa datasets make synthetic --size test\n"
                "  biqa datasets make synthetic --out /data/syn --seed 7 --threads 8\n",
    .opts = datasets_make_opts,
    .run = biqa_cmd_datasets_make};
static const biqa_cmd *const datasets_subs[] = {&datasets_list,   &datasets_info,
                                                &datasets_fetch,  &datasets_verify,
                                                &datasets_import, &datasets_make, NULL};
static const biqa_cmd datasets = {.name = "datasets",
                                  .summary = "BIQA datasets: manifests, download, verification",
                                  .usage = "biqa datasets COMMAND",
                                  .subs = datasets_subs};

/* ---- degrade ---- */
#define DEGRADE_CONFIG_OPTS                                                      \
    {"profile", 0, "P", "profile whose degrade.* knobs apply (default demo)"}, \
    {"config", 0, "FILE", "JSON file of knob values over the profile's"},      \
    {"set", 0, "KEY=VALUE", "one knob's value (repeatable), e.g. degrade.k=3"}
static const biqa_opt degrade_apply_opts[] = {
    {"in", 0, "IMG", "input image (JPEG, PNG or BMP, detected by content)"},
    {"out", 0, "IMG", "output image, written atomically: .png, or .jpg/.jpeg"},
    {"chain", 0, "TEXT", "the chain to apply: TYPE:LEVEL steps, comma-separated"},
    {"index", 0, "I", "without --chain: draw number I of --seed (default 0)"},
    {"quality", 0, "Q", "JPEG quality of a .jpg output (default 95)"},
    DEGRADE_CONFIG_OPTS,
    {0}};
static const biqa_cmd degrade_apply = {
    .name = "apply", .summary = "degrade one image by a chain or a seeded draw",
    .usage = "biqa degrade apply --in IMG --out IMG (--chain \"jpeg:3,gblur:2\" | --seed N "
             "[--index I])",
    .details = "Prints the chain it applied. Its random steps are keyed by --seed (default 0),\n"
               "so --chain TEXT --seed N reproduces the bytes of any earlier run. Without\n"
               "--chain, the chain is draw --index of --seed from the sampler of the config's\n"
               "degrade.* knobs (see 'biqa degrade space'). Types and levels: 'biqa degrade\n"
               "sheet' or paper/QPT.md.",
    .examples = "  biqa degrade apply --in a.png --out b.png --chain \"jpeg:3,gblur:2,hue+:1\"\n"
                "  biqa degrade apply --in a.jpg --out b.png --seed 7 --index 3\n",
    .opts = degrade_apply_opts, .run = biqa_cmd_degrade_apply};
static const biqa_opt degrade_space_opts[] = {DEGRADE_CONFIG_OPTS, {0}};
static const biqa_cmd degrade_space = {
    .name = "space", .summary = "print the size of the configured degradation space",
    .usage = "biqa degrade space [--profile P] [--config FILE] [--set KEY=VALUE ...]",
    .details = "The number of distinct chains the configured sampler can draw, and the rule\n"
               "that counts them. Knobs: degrade.family (chain | second-order), degrade.k,\n"
               "degrade.types (all, or comma-separated names), degrade.levels (a-b).",
    .examples = "  biqa degrade space\n"
                "  biqa degrade space --set degrade.k=3 --set degrade.types=gblur,jpeg,noise\n"
                "  biqa degrade space --set degrade.family=second-order --json\n",
    .opts = degrade_space_opts, .run = biqa_cmd_degrade_space};
static const biqa_opt degrade_sheet_opts[] = {
    {"in", 0, "IMG", "input image (JPEG, PNG or BMP)"},
    {"out", 0, "PNG", "the contact sheet"},
    {"cell", 0, "PX", "largest cell side: the input's centre crop (default 192)"},
    {0}};
static const biqa_cmd degrade_sheet = {
    .name = "sheet", .summary = "contact sheet of every type at every level",
    .usage = "biqa degrade sheet --in IMG --out PNG [--cell PX] [--seed N]",
    .details = "Rows are the 26 types, numbered as in paper/QPT.md's table; column 0 is the\n"
               "input (its centre crop of at most PX x PX, so the ops act at the image's own\n"
               "pixel scale), columns 1..5 its levels. Numbers label rows and columns; the\n"
               "legend (types and each level's parameters) is printed. The sheet is\n"
               "32 + 6 (w + 4) by 24 + 26 (h + 4) pixels for a w x h crop.",
    .examples = "  biqa degrade sheet --in photo.jpg --out sheet.png\n",
    .opts = degrade_sheet_opts, .run = biqa_cmd_degrade_sheet};
static const biqa_cmd *const degrade_subs[] = {&degrade_apply, &degrade_space, &degrade_sheet,
                                               NULL};
static const biqa_cmd degrade = {.name = "degrade",
                                 .summary = "QPT's degradation space: apply, count, look",
                                 .usage = "biqa degrade COMMAND",
                                 .subs = degrade_subs};

/* ---- model ---- */
static const biqa_opt model_forward_opts[] = {
    {"backbone", 0, "NAME", "resnet18, resnet34, resnet50, resnet101, or a -wF variant"},
    {"weights", 0, "W.safetensors", "torchvision state_dict (strict: every key must match); "
                                    "without it the init of --seed"},
    {"input", 0, "X.safetensors", "key 'input': float32 N x 3 x H x W (NCHW, as PyTorch)"},
    {"output", 0, "Y.safetensors", "gets 'features' (N x D, pooled) and 'logits' (with an fc)"},
    {"train", 0, NULL, "batch norm in training mode (batch statistics)"},
    {0}};
static const biqa_cmd model_forward = {
    .name = "forward", .summary = "run a backbone on a safetensors input, for checking against PyTorch",
    .usage = "biqa model forward --backbone NAME --weights W.safetensors --input X.safetensors "
             "--output Y.safetensors [--backend ref|cpu] [--train]",
    .details = "The weights use torchvision's names and OIHW layouts, so a state_dict saved from\n"
               "torchvision.models.resnet50() (as safetensors) loads as it is.",
    .examples = "  biqa model forward --backbone resnet50 --weights r50.safetensors \\\n"
                "      --input x.safetensors --output y.safetensors --backend cpu\n",
    .opts = model_forward_opts,
    .run = biqa_cmd_model_forward};
static const biqa_cmd *const model_subs[] = {&model_forward, NULL};
static const biqa_cmd model = {.name = "model", .summary = "the common model interface",
                               .usage = "biqa model COMMAND", .subs = model_subs};

/* ---- methods and protocols (issue 5) ---- */
/* Re-running without repeating work (results/resume.h). */
#define RESUME_OPTS                                                                          \
    {"resume", 0, NULL, "reuse a finished run of the same config hash instead of repeating " \
                        "it; continue an interrupted one from its last snapshot"},          \
    {"group", 0, "RUN", "record the runs as members of grouping run RUN (biqa reproduce)"}
static const biqa_opt pretrain_opts[] = {
    {"method", 0, "NAME", "scratch, supervised, moco, simclr or qpt"},
    {"data", 0, "DIR", "image folder, one sub-folder per class (default: "
                       "ROOT/synthetic-<data.synthetic_size>/pretrain)"},
    {"profile", 0, "P", "profile: test, demo (default), gpu-small or paper"},
    {"config", 0, "FILE", "JSON file of knob values over the profile's"},
    {"set", 0, "KEY=VALUE", "one knob's value (repeatable), e.g. pretrain.epochs=3"},
    RESUME_OPTS,
    {0}};
static const biqa_cmd pretrain = {
    .name = "pretrain", .summary = "pretrain a backbone (qpt, moco, simclr, supervised, scratch)",
    .usage = "biqa pretrain --method NAME [--data DIR] [--profile P] [--config FILE] "
             "[--set K=V ...]",
    .details =
        "Trains model.backbone with the method for pretrain.epochs over the folder (SGD,\n"
        "lr = pretrain.lr x pretrain.batch_size / 256, pretrain.schedule, warm-up; views of\n"
        "qpt.patch_size px). moco/qpt: momentum key encoder, queue (moco.*); qpt: V chains of\n"
        "the degrade.* sampler per image, two IoU-bounded patches per chain (qpt.*); simclr:\n"
        "NT-Xent in-batch; supervised: the folder's classes; scratch: the seed's init.\n"
        "One run of kind pretrain with a loss row per epoch and every unreadable image;\n"
        "the backbone goes to <db less .db>.artifacts/run-ID/pretrain.safetensors (metadata\n"
        "method, run_id), for 'biqa finetune --checkpoint' and 'biqa probe --checkpoint'.\n"
        "Data-parallel under mpirun/srun (CPU ranks, MPI) or torchrun variables (GPU ranks,\n"
        "NCCL; compute.comm): pretrain.batch_size is the global batch, batch norm is\n"
        "synchronised, moco/qpt keys are gathered and their key encoder uses shuffled BN\n"
        "(moco.bn_splits), simclr's negatives span every rank; rank 0 records the run.",
    .examples = "  biqa pretrain --method qpt --profile demo\n"
                "  biqa pretrain --method moco --data data/synthetic-test/pretrain --profile test\n"
                "  mpirun -np 4 biqa pretrain --method qpt --profile demo --threads 1\n",
    .opts = pretrain_opts, .run = biqa_cmd_pretrain};
static const biqa_opt downstream_opts[] = {
    {"data", 0, "DIR", "dataset directory: index.csv (biqa datasets fetch/import) or meta.csv "
                       "(synthetic)"},
    {"checkpoint", 0, "W.safetensors", "pretrained backbone (strict load); without it: random "
                                       "init of run.seed (the scratch baseline)"},
    {"method", 0, "NAME", "method label of the runs (default: the checkpoint's metadata, or "
                          "scratch)"},
    {"splits", 0, "N", "splits to run (default splits.count)"},
    {"profile", 0, "P", "profile: test, demo (default), gpu-small or paper"},
    {"config", 0, "FILE", "JSON file of knob values over the profile's"},
    {"set", 0, "KEY=VALUE", "one knob's value (repeatable), e.g. finetune.epochs=3"},
    RESUME_OPTS,
    {0}};
static const biqa_cmd finetune = {
    .name = "finetune", .summary = "fine-tune a backbone on a BIQA dataset over N splits",
    .usage = "biqa finetune --data DIR [--checkpoint W.safetensors] [--profile P] [--set K=V ...] "
             "[--splits N]",
    .details =
        "Per split (content-disjoint 80/20 by reference, a validation part carved from the\n"
        "training part; datasets/splits.h): backbone + linear head trained with finetune.loss\n"
        "against MOS on 0..1 by AdamW on random finetune.patch_size crops with flips; the\n"
        "epoch with the best validation SRCC is kept and tested on the mean over\n"
        "finetune.test_crops crops. One run per split with its split hash, test metrics,\n"
        "per-epoch train_loss and val_srcc; predictions and the selected checkpoint go to\n"
        "<db less .db>.artifacts/run-ID/ (model.safetensors + model.head.safetensors).\n"
        "Data-parallel under mpirun/srun like pretrain: each batch is shared out to the\n"
        "ranks, rank 0 validates and records.",
    .examples = "  biqa finetune --data data/synthetic-demo --profile demo\n"
                "  biqa finetune --data data/synthetic-test --profile test --checkpoint qpt.safetensors\n",
    .opts = downstream_opts, .run = biqa_cmd_finetune};
static const biqa_cmd probe = {
    .name = "probe", .summary = "linear probe (ridge) on frozen features over N splits",
    .usage = "biqa probe --data DIR [--checkpoint W.safetensors] [--profile P] [--set K=V ...] "
             "[--splits N]",
    .details =
        "Frozen pooled features (eval mode, mean over finetune.test_crops crops), standardised\n"
        "on the training part; ridge regression in closed form with lambda from a log grid\n"
        "(1e-3 .. 1e5) chosen by SRCC on the validation part; same splits and metrics rows as\n"
        "finetune, one run per split.",
    .examples = "  biqa probe --data data/synthetic-demo --checkpoint qpt.safetensors\n",
    .opts = downstream_opts, .run = biqa_cmd_probe};
static const biqa_opt eval_opts[] = {
    {"checkpoint", 0, "FT.safetensors", "a fine-tuned backbone (its head beside it, "
                                        "FT.head.safetensors)"},
    {"data", 0, "DIR", "dataset directory with meta.csv: every image is a test image"},
    {"method", 0, "NAME", "method label of the run (default: checkpoint)"},
    {"profile", 0, "P", "profile whose finetune.patch_size / test_crops apply (default demo)"},
    {"config", 0, "FILE", "JSON file of knob values over the profile's"},
    {"set", 0, "KEY=VALUE", "one knob's value (repeatable)"},
    {0}};
static const biqa_cmd eval = {
    .name = "eval", .summary = "cross-dataset test of a fine-tuned checkpoint",
    .usage = "biqa eval --checkpoint FT.safetensors --data DIR [--profile P]",
    .details = "Predicts every image (mean over finetune.test_crops crops) with the backbone\n"
               "and head that 'biqa finetune' wrote, and records the metrics as one run of\n"
               "kind eval (split 'all') whose parent is the fine-tuning run.",
    .examples = "  biqa eval --checkpoint biqa.artifacts/run-12/model.safetensors --data data/other\n",
    .opts = eval_opts, .run = biqa_cmd_eval};
static const biqa_opt reproduce_opts[] = {
    {"profile", 0, "P", "profile: test, demo (default), gpu-small or paper"},
    {"config", 0, "FILE", "JSON file of knob values over the profile's"},
    {"set", 0, "KEY=VALUE", "one knob's value (repeatable), passed to every stage"},
    {"scheduler", 0, "S", "local (default: every stage here) or slurm (sbatch job arrays)"},
    {"dry-run", 0, NULL, "slurm: print the sbatch commands and scripts, submit nothing"},
    {"grid", 0, "DIR", "slurm: the grid's directory (default <db less .db>.grid/PROFILE-HASH)"},
    {"sbatch", 0, "[STAGE:]K=V", "slurm: #SBATCH --K=V for every job, or for one stage (data, "
                                 "pretrain, downstream); K= drops a default (repeatable)"},
    {"task", 0, "KIND:METHOD", "run one cell of the grid into --db (what a Slurm task runs): "
                               "data, pretrain:M, finetune:M or probe:M"},
    {"from-shard", 0, "DB", "with --task finetune|probe: start a new --db as a copy of the "
                            "pretraining task's shard"},
    {0}};
static const biqa_cmd reproduce = {
    .name = "reproduce", .summary = "run a whole profile's grid into the results store",
    .usage = "biqa reproduce [--profile test|demo|gpu-small|paper] [--set K=V ...]\n"
             "       biqa reproduce ... --scheduler slurm [--dry-run] [--grid DIR] "
             "[--sbatch [STAGE:]K=V ...]",
    .details =
        "Makes the synthetic benchmark when absent, pretrains every method of\n"
        "pretrain.methods, fine-tunes and probes each over the profile's splits, and\n"
        "prints each method's median SRCC and PLCC (bootstrap 95% CI) from the store.\n"
        "An umbrella run of kind 'reproduce' records the profile's config; the runs\n"
        "of its stages follow it.\n\n"
        "--scheduler slurm writes the same grid as sbatch scripts into the grid directory\n"
        "and submits them: a job per method's pretraining, then per method an array with\n"
        "a task for fine-tuning and one for probing (--dependency=afterok on the\n"
        "pretraining). Each task writes its own SQLite shard (GRID/shards/KIND-METHOD.db)\n"
        "and runs with --resume, so a requeued task (#SBATCH --requeue) continues from its\n"
        "last snapshot. Defaults: --time by profile and stage, --cpus-per-task =\n"
        "compute.threads (4 for 0), --mem by profile, --gres=gpu:1 for the cuda backend.\n"
        "Submitting the same grid again skips jobs whose cells finished. Then\n"
        "'biqa results merge --grid GRID' and this command without --scheduler (it reuses\n"
        "every merged run) print the table.",
    .examples = "  biqa reproduce --profile test\n  biqa reproduce --profile demo --seed 2\n"
                "  biqa reproduce --profile paper --scheduler slurm --dry-run\n"
                "  biqa reproduce --profile paper --scheduler slurm --sbatch partition=gpu \\\n"
                "      --sbatch pretrain:time=5-00:00:00 --sbatch account=iqa\n",
    .opts = reproduce_opts, .run = biqa_cmd_reproduce};

/* ---- score ---- */
static const biqa_opt score_opts[] = {
    {"csv", 0, "FILE", "predictions file (CSV with a header; - reads standard input)"},
    {"mos", 0, "COL", "column of subjective scores (default: mos)"},
    {"pred", 0, "COL", "column of predictions (default: pred)"},
    {"record", 0, NULL, "also store the scores as a run in the results database"},
    {"dataset", 0, "NAME", "dataset label of the recorded run (default: the file name)"},
    {0}};
static const biqa_cmd score = {
    .name = "score",
    .summary = "SRCC, PLCC (raw and logistic), KRCC and RMSE of any predictions file",
    .usage = "biqa score --csv FILE [--mos COL] [--pred COL] [--record] [--json]",
    .details =
        "SRCC uses average ranks for ties; KRCC is tau-b; PLCC is given raw and after the\n"
        "VQEG 4-parameter logistic mapping of predictions onto MOS, RMSE after that mapping.\n"
        "Degenerate input (fewer than 3 rows, constant columns, NaN or inf) is flagged: the\n"
        "undefined metrics are shown as NaN (null in JSON) and the exit status is 1.",
    .examples = "  biqa score --csv preds.csv\n"
                "  biqa score --csv koniq_test.csv --mos MOS --pred score --json\n"
                "  biqa score --csv preds.csv --record --dataset koniq10k\n",
    .opts = score_opts,
    .run = biqa_cmd_score};

/* ---- tables and figures ---- */
static const biqa_opt tables_opts[] = {
    {"format", 0, "F", "md (default), latex (booktabs) or csv (one line per cell, unrounded)"},
    {"out", 0, "DIR", "write DIR/NAME.md|tex|csv per table (default: standard output)"},
    {"table", 0, "NAME", "only this table (sota, pretraining, ablation, synthetic, performance)"},
    {"where", 0, "KEY=VALUE", "set KEY in every cell's selection (repeatable), e.g. "
                              "data.synthetic_size=demo"},
    {"profile", 0, "P", "profile the fill commands of empty cells name (default demo)"},
    {"specs", 0, "DIR", "table specs (default: paper/tables of the source tree, or "
                        "$BIQA_SRC/paper/tables)"},
    {"explain", 0, NULL, "TABLE ROW COLUMN: the runs behind one cell"},
    {0}};
static const biqa_cmd tables = {
    .name = "tables", .summary = "regenerate the paper's tables from the results store",
    .usage = "biqa tables [--format md|latex|csv] [--out DIR] [--table NAME] [--where K=V ...]\n"
             "       biqa tables --explain TABLE ROW COLUMN [--json]",
    .details =
        "Each table is a spec in paper/tables/*.json: rows, columns, the runs each cell\n"
        "selects (kind, method, dataset, metric, config knobs) and the published numbers\n"
        "beside them. A cell is the median over the splits of the finished runs it selects\n"
        "(the newest run of each split) with the bootstrap 95% CI of the median; the\n"
        "performance table shows the newest bench run. Published values sit in their own\n"
        "titled sections. An empty cell is a dash with a note giving the biqa command that\n"
        "fills it; a cell whose runs differ in configuration says so. --explain lists the\n"
        "runs behind a cell: run ids, splits, split hashes, config hashes, git commits.",
    .examples = "  biqa tables\n"
                "  biqa tables --format latex --out paper/out\n"
                "  biqa tables --table synthetic --where data.synthetic_size=demo\n"
                "  biqa tables --explain synthetic qpt ft-srcc\n",
    .opts = tables_opts, .run = biqa_cmd_tables};
static const biqa_opt figures_opts[] = {
    {"out", 0, "DIR", "where the PNG and PDF files go (required)"},
    {"where", 0, "KEY=VALUE", "only runs whose selection matches (repeatable), e.g. "
                              "degrade.k=5"},
    {0}};
static const biqa_cmd figures = {
    .name = "figures", .summary = "the paper's figures from the results store (PNG and PDF)",
    .usage = "biqa figures --out DIR [--where K=V ...]",
    .details =
        "From the finished finetune, probe and pretrain runs: predicted-vs-MOS scatter of\n"
        "the test images per dataset, kind and method (the runs' predictions.csv);\n"
        "training-loss curves per run; the per-split SRCC of every method per dataset.\n"
        "Each figure as NAME.png and NAME.pdf, drawn with cairo, readable in greyscale\n"
        "(marker shapes and dash patterns tell series apart).",
    .examples = "  biqa figures --out paper/out\n"
                "  biqa --db build/demo.db figures --out /tmp/fig --where data.synthetic_size=demo\n",
    .opts = figures_opts, .run = biqa_cmd_figures};

/* ---- runs ---- */
static const biqa_opt runs_list_opts[] = {
    {"status", 0, "S", "only runs with this status (running, finished, failed, interrupted)"},
    {"kind", 0, "K", "only runs of this kind (pretrain, finetune, score, ...)"},
    {"limit", 0, "N", "at most N runs, newest first (default 50; 0: all)"},
    {0}};
static const biqa_cmd runs_list = {
    .name = "list", .summary = "list runs, newest first",
    .usage = "biqa runs list [--status S] [--kind K] [--limit N]",
    .examples = "  biqa runs list\n  biqa runs list --status interrupted --json\n",
    .opts = runs_list_opts, .run = biqa_cmd_runs_list};
static const biqa_cmd runs_show = {
    .name = "show", .summary = "one run: provenance, metrics, failures, aggregates over splits",
    .usage = "biqa runs show ID",
    .examples = "  biqa runs show 12\n  biqa runs show 12 --json\n",
    .run = biqa_cmd_runs_show};
static const biqa_cmd *const runs_subs[] = {&runs_list, &runs_show, NULL};
static const biqa_cmd runs = {.name = "runs", .summary = "the runs in the results store",
                              .usage = "biqa runs COMMAND", .subs = runs_subs};

/* ---- results: shards of a grid (harness/cmd_results.c) ---- */
int biqa_cmd_results_merge(biqa_cli *cli);
int biqa_cmd_results_status(biqa_cli *cli);
static const biqa_opt results_merge_opts[] = {
    {"grid", 0, "DIR", "merge every shard of this grid (biqa reproduce --scheduler slurm) and "
                       "show its cells"},
    {0}};
static const biqa_cmd results_merge = {
    .name = "merge", .summary = "merge results databases (a grid's shards) into the store",
    .usage = "biqa results merge (SHARD... | --grid DIR)",
    .details =
        "Copies every run of each shard, with its metrics, failures, group members and\n"
        "parent link, into --db under a new id. Runs are matched by their uid: a run the\n"
        "store has already is skipped when equal, so merging twice adds nothing; a copy\n"
        "still running or interrupted in the store is replaced by a later one; two\n"
        "different finished copies are a conflict, an error naming the run. Each shard\n"
        "merges in one transaction. Merged runs get their artifact folder in the store's\n"
        "layout as a link to the shard's (keep the grid directory).",
    .examples = "  biqa results merge --grid biqa.grid/paper-3f2a9c1b0e4d\n"
                "  biqa --db all.db results merge a.db b.db\n",
    .opts = results_merge_opts, .run = biqa_cmd_results_merge};
static const biqa_cmd results_status = {
    .name = "status", .summary = "which cells of a grid finished, failed or are missing",
    .usage = "biqa results status GRID_DIR",
    .details = "One line per cell (KIND:METHOD) from its shard: finished, failed (with the\n"
               "error), interrupted (resubmit: it resumes), running, incomplete or missing (no\n"
               "shard: its job has not run), finished runs out of those expected, how many are\n"
               "merged into --db, and the Slurm job id. Exit 1 while a cell has not finished.",
    .examples = "  biqa results status biqa.grid/test-3f2a9c1b0e4d\n",
    .run = biqa_cmd_results_status};
static const biqa_cmd *const results_subs[] = {&results_merge, &results_status, NULL};
static const biqa_cmd results = {.name = "results",
                                 .summary = "shards of a Slurm grid: merge them, see the cells",
                                 .usage = "biqa results COMMAND", .subs = results_subs};

/* ---- query ---- */
static const biqa_cmd query = {
    .name = "query", .summary = "read-only SQL over the results store",
    .usage = "biqa query \"SQL\"",
    .details = "Tables: runs, metrics, run_failures, published, meta. The database is opened\n"
               "read-only: a statement that would write is refused.",
    .examples = "  biqa query \"SELECT method, dataset, metric, value FROM published WHERE "
                "method = 'QPT'\"\n"
                "  biqa query \"SELECT run_id, metric, value FROM metrics\" --json\n",
    .run = biqa_cmd_query};

/* ---- bench ---- */
static const biqa_opt bench_score_opts[] = {
    {"rows", 0, "N", "predictions to score (default 1000000)"},
    {"repeat", 0, "R", "take the best of R runs, for biqa and the peer (default 3)"},
    {0}};
static const biqa_cmd bench_score = {
    .name = "score", .summary = "biqa score against NumPy + SciPy on the same file",
    .usage = "biqa bench score [--rows N] [--repeat R]",
    .examples = "  biqa bench score\n  biqa bench score --rows 100000 --json\n",
    .opts = bench_score_opts, .run = biqa_cmd_bench_score};
static const biqa_opt bench_train_step_opts[] = {
    {"backbone", 0, "NAME", "backbone (default resnet18-w0.25; cuda: resnet50)"},
    {"size", 0, "PX", "square input size (default 64; cuda: 224)"},
    {"batch", 0, "N", "batch size (default 32; cuda: 256)"},
    {"steps", 0, "N", "timed steps, the best is reported (default 3; cuda: 20)"},
    {"warmup", 0, "N", "untimed steps first (default 1; cuda: 3)"},
    {0}};
static const biqa_cmd bench_train_step = {
    .name = "train-step",
    .summary = "ResNet forward + backward + SGD against the same step in PyTorch",
    .usage = "biqa bench train-step [--backend cpu|cuda] [--precision P] [--backbone NAME] "
             "[--size PX] [--batch N] [--threads N]",
    .details = "A 1000-class ResNet on a fixed random batch: forward, softmax cross-entropy,\n"
               "backward, SGD (momentum 0.9, weight decay 1e-4); PyTorch runs the same step\n"
               "with the same thread count. Images per second, best step of each.\n"
               "With --backend cuda (precision bf16 unless --precision says otherwise): biqa's\n"
               "step replayed as a CUDA graph against PyTorch eager (channels_last, autocast)\n"
               "and torch.compile on the same GPU; achieved TFLOP/s (matrix FLOPs counted from\n"
               "the model's shapes) and its fraction of the bf16 matrix peak measured in the\n"
               "same run (cuBLASLt); peak device memory; and one QPT pretraining step (query\n"
               "forward + backward, key forward, InfoNCE over batch keys and a 65536-key\n"
               "queue, momentum update) against the same step in PyTorch.",
    .examples = "  biqa bench train-step --backbone resnet18-w0.25 --size 64 --batch 32\n"
                "  biqa bench train-step --backbone resnet50 --size 224 --batch 32\n"
                "  biqa bench train-step --backend cuda            # ResNet-50, 224 px, 256, bf16\n"
                "  biqa bench train-step --backend cuda --precision tf32 --batch 128\n",
    .opts = bench_train_step_opts, .run = biqa_cmd_bench_train_step};
static const biqa_opt bench_degrade_opts[] = {
    {"size", 0, "WxH", "image size (default: both 256x256 and 512x384)"},
    {"chains", 0, "N", "sampled default chains per size (default 64)"},
    {"repeat", 0, "R", "passes over the chains; the best is reported (default 3)"},
    {0}};
static const biqa_cmd bench_degrade = {
    .name = "degrade", .summary = "degradation chains per second against OpenCV/NumPy",
    .usage = "biqa bench degrade [--size WxH] [--chains N] [--repeat R] [--seed N]",
    .details = "N chains drawn from the default sampler (k = 5 of the 26 types, levels 1..5)\n"
               "with --seed (default 1), applied to a generated image by biqa in-process and\n"
               "by harness/bench/degrade_peer.py (the same chains in OpenCV + NumPy), both on\n"
               "one thread. Chains per second per core, and how close the two outputs are.",
    .examples = "  biqa bench degrade\n  biqa bench degrade --size 1024x768 --chains 8\n",
    .opts = bench_degrade_opts, .run = biqa_cmd_bench_degrade};
static const biqa_opt bench_loader_opts[] = {
    {"dir", 0, "DIR", "image folder, one sub-folder per class (default: a generated one)"},
    {"recipe", 0, "R", "classify (default), moco or qpt"},
    {"batch", 0, "N", "source images per batch (default 16)"},
    {"crop", 0, "PX", "output side S of every view (default 64)"},
    {"images", 0, "N", "without --dir: JPEG images to generate (default 128)"},
    {"px", 0, "PX", "without --dir: their side (default 256)"},
    {0}};
static const biqa_cmd bench_loader = {
    .name = "loader", .summary = "the batch loader's images/s per core against plain decoding",
    .usage = "biqa bench loader [--dir DIR] [--recipe classify|moco|qpt] [--threads N] "
             "[--batch N] [--crop PX]",
    .details = "One epoch of the batch loader (read, decode, augment, batch; best of two) with\n"
               "--threads workers (default: the cores), against decoding the same files on one\n"
               "thread with biqa's decoder (TurboJPEG, libpng), best of two passes. Without\n"
               "--dir a temporary folder of dead-leaves JPEGs is generated and removed after.",
    .examples = "  biqa bench loader\n"
                "  biqa bench loader --dir data/synthetic-demo/pretrain --recipe qpt --crop 48\n",
    .opts = bench_loader_opts, .run = biqa_cmd_bench_loader};
static const biqa_cmd *const bench_subs[] = {&bench_score, &bench_train_step, &bench_degrade,
                                             &bench_loader, NULL};
static const biqa_cmd bench = {
    .name = "bench", .summary = "benchmarks against a peer run side by side",
    .usage = "biqa bench NAME [options]",
    .details = "Each benchmark measures biqa in-process and its peer (PyTorch, SciPy, OpenCV)\n"
               "on the same input in the same session, prints the ratio, and records both\n"
               "as a run of kind 'bench' in the results store.",
    .subs = bench_subs};

/* ---- config ---- */
static const biqa_opt config_opts[] = {
    {"profile", 0, "P", "profile: test, demo (default), gpu-small or paper"},
    {"config", 0, "FILE", "JSON file of knob values over the profile's"},
    {"set", 0, "KEY=VALUE", "one knob's value (repeatable)"},
    {0}};
static const biqa_cmd config_show = {
    .name = "show", .summary = "every knob with its value, where the value came from, and origin",
    .usage = "biqa config show [--profile P] [--config FILE] [--set KEY=VALUE ...]",
    .details = "Origin 'assumed' marks values paper/QPT.md lists as assumed: defaults, not the\n"
               "paper's stated values. --json prints the resolved config and its SHA-256.",
    .examples = "  biqa config show --profile demo\n"
                "  biqa config show --profile paper --set moco.temperature=0.07 --json\n",
    .opts = config_opts, .run = biqa_cmd_config_show};
static const biqa_cmd *const config_subs[] = {&config_show, NULL};
static const biqa_cmd config = {.name = "config", .summary = "the run configuration and profiles",
                                .usage = "biqa config COMMAND", .subs = config_subs};

static const biqa_cmd *const root_subs[] = {
    &datasets, &degrade, &model, &pretrain, &finetune, &probe, &eval,   &score,
    &reproduce, &tables, &figures, &runs,  &results, &query,    &bench,    &config, NULL};

const biqa_cmd biqa_root_cmd = {
    .name = "biqa",
    .summary = "biqa: a reproducible research harness for blind image quality assessment",
    .usage = "biqa [global options] COMMAND [options]",
    .details = "Every run is recorded with its provenance in the results database (--db).",
    .examples = "  biqa score --csv preds.csv\n  biqa runs list\n"
                "  biqa config show --profile demo\n",
    .subs = root_subs};
