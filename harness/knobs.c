/* Every knob of the pipeline. Values marked ASSUMED follow paper/QPT.md's
 * [assumed] list: they are not the paper's stated values (its full text is not
 * available) and must never be presented as such. Profile columns scale the
 * same pipeline down: test (CI, seconds), demo (2-core CPU, <= 10 min),
 * gpu-small (one GPU, <= 20 min), paper (a GPU cluster, days). */
#include "harness/config.h"

#define I BIQA_KNOB_INT
#define R BIQA_KNOB_REAL
#define S BIQA_KNOB_STRING
#define B BIQA_KNOB_BOOL
#define L BIQA_KNOB_LIST
#define PAPER BIQA_ORIGIN_PAPER
#define ASSUMED BIQA_ORIGIN_ASSUMED
#define HARNESS BIQA_ORIGIN_HARNESS

#define METHODS "scratch|supervised|moco|simclr|qpt"
#define DATASETS "synthetic|koniq10k|livec|spaq|flive|bid|kadid10k|live|csiq|tid2013|pipal"

static const biqa_knob knobs[] = {
    /* key, type, origin, choices, default, test, demo, gpu-small, paper, doc */
    {"run.seed", I, HARNESS, NULL, "1", NULL, NULL, NULL, NULL,
     "master seed; every random stream is keyed by (seed, stream, index)"},
    {"compute.backend", S, HARNESS, "ref|cpu|cuda", "cpu", NULL, NULL, "cuda", "cuda",
     "compute backend"},
    {"compute.threads", I, HARNESS, NULL, "0", "2", NULL, NULL, NULL,
     "CPU worker threads (0: every core)"},
    {"compute.precision", S, HARNESS, "fp32|tf32|bf16", "fp32", NULL, NULL, "bf16", "bf16",
     "arithmetic precision (bf16 keeps fp32 master weights)"},
    {"compute.comm", S, HARNESS, "auto|none|mpi|nccl", "auto", NULL, NULL, NULL, NULL,
     "data-parallel communicator: auto (MPI under mpirun/srun, NCCL for cuda ranks and under "
     "torchrun variables, else one process), none, mpi or nccl"},

    {"data.pretrain", S, PAPER, "synthetic|imagenet", "synthetic", NULL, NULL, NULL, "imagenet",
     "pretraining images (QPT pretrains on ImageNet without labels)"},
    {"data.downstream", L, PAPER, DATASETS, "synthetic", NULL, NULL, "synthetic,koniq10k,livec",
     "koniq10k,livec,spaq,flive,bid", "BIQA datasets to fine-tune and evaluate on"},
    {"data.synthetic_size", S, HARNESS, "test|demo|large", "demo", "test", "demo", "large",
     "large", "size of the generated synthetic benchmark"},

    {"model.backbone", S, PAPER, NULL, "resnet50", "resnet18-w0.125", "resnet18-w0.25", NULL,
     NULL, "backbone network (QPT: ResNet-50; narrow ResNet-18 variants for CPU work)"},

    {"pretrain.methods", L, HARNESS, METHODS, "scratch,supervised,moco,simclr,qpt", NULL, NULL,
     NULL, NULL, "pretraining methods to compare under one protocol"},
    {"pretrain.epochs", I, ASSUMED, NULL, "200", "1", "6", "2", NULL, "pretraining epochs"},
    {"pretrain.batch_size", I, ASSUMED, NULL, "256", "8", "32", NULL, NULL,
     "source images per pretraining batch"},
    {"pretrain.lr", R, ASSUMED, NULL, "0.03", NULL, NULL, NULL, NULL,
     "SGD learning rate per 256 images (scaled linearly with batch size)"},
    {"pretrain.momentum", R, ASSUMED, NULL, "0.9", NULL, NULL, NULL, NULL, "SGD momentum"},
    {"pretrain.weight_decay", R, ASSUMED, NULL, "1e-4", NULL, NULL, NULL, NULL,
     "weight decay (not on batch-norm parameters and biases)"},
    {"pretrain.schedule", S, ASSUMED, "cosine|step", "cosine", NULL, NULL, NULL, NULL,
     "learning-rate schedule"},
    {"pretrain.warmup_epochs", I, HARNESS, NULL, "0", NULL, NULL, NULL, NULL,
     "linear warm-up epochs"},
    {"pretrain.snapshot_every", I, HARNESS, NULL, "1000", NULL, NULL, "200", NULL,
     "steps between training snapshots (--resume continues from the last; one is also "
     "written at every epoch end; 0: epoch ends only)"},

    {"moco.queue_size", I, ASSUMED, NULL, "65536", "32", "1024", "16384", NULL,
     "negative keys kept in the MoCo queue"},
    {"moco.momentum", R, ASSUMED, NULL, "0.999", "0.99", "0.99", NULL, NULL,
     "momentum of the key encoder"},
    {"moco.temperature", R, ASSUMED, NULL, "0.2", NULL, NULL, NULL, NULL, "InfoNCE temperature"},
    {"moco.proj_hidden", I, ASSUMED, NULL, "2048", "0", "0", NULL, NULL,
     "projection MLP hidden width (0: the backbone's feature width)"},
    {"moco.proj_dim", I, ASSUMED, NULL, "128", "32", "64", NULL, NULL,
     "projection output width (embedding dimension)"},
    {"moco.bn_splits", I, HARNESS, NULL, "0", NULL, NULL, NULL, NULL,
     "shuffled-BN parts of the key batch (MoCo: one per GPU); 0: one per rank"},

    {"qpt.variants", I, ASSUMED, NULL, "2", NULL, NULL, NULL, NULL,
     "degradation variants per source image (QPT.md: 2..4)"},
    {"qpt.patch_size", I, ASSUMED, NULL, "160", "32", "64", NULL, NULL,
     "pretraining patch size in pixels"},
    {"qpt.iou_min", R, ASSUMED, NULL, "0.1", NULL, NULL, NULL, NULL,
     "least IoU of the two positive patches of one degraded image"},
    {"qpt.iou_max", R, ASSUMED, NULL, "0.3", NULL, NULL, NULL, NULL,
     "largest IoU of the two positive patches"},
    {"qpt.hflip", B, ASSUMED, NULL, "true", NULL, NULL, NULL, NULL,
     "horizontal flip of patches (a quality-preserving augmentation)"},

    {"degrade.family", S, ASSUMED, "chain|second-order", "chain", NULL, NULL, NULL, NULL,
     "degradation sampler: k-type chains, or the BSRGAN-style second-order pipeline"},
    {"degrade.k", I, ASSUMED, NULL, "5", NULL, NULL, NULL, NULL,
     "degradation types per chain (drawn with replacement, random order)"},
    {"degrade.types", S, ASSUMED, NULL, "all", NULL, NULL, NULL, NULL,
     "degradation types to draw from ('all': the 26 of QPT.md)"},
    {"degrade.levels", S, ASSUMED, NULL, "1-5", NULL, NULL, NULL, NULL, "levels to draw from"},
    {"degrade.order", S, ASSUMED, "random|table", "random", NULL, NULL, NULL, NULL,
     "step order: random, or the table's (second-order: Real-ESRGAN's fixed stage order)"},

    {"finetune.loss", S, ASSUMED, "l1|smooth_l1|mse", "smooth_l1", NULL, NULL, NULL, NULL,
     "regression loss against MOS"},
    {"finetune.epochs", I, ASSUMED, NULL, "30", "1", "8", "10", NULL, "fine-tuning epochs"},
    {"finetune.batch_size", I, ASSUMED, NULL, "32", "8", "16", NULL, NULL,
     "fine-tuning batch size"},
    {"finetune.lr", R, ASSUMED, NULL, "1e-4", NULL, "1e-3", NULL, NULL,
     "fine-tuning learning rate (AdamW)"},
    {"finetune.weight_decay", R, ASSUMED, NULL, "1e-4", NULL, NULL, NULL, NULL,
     "fine-tuning weight decay"},
    {"finetune.patch_size", I, ASSUMED, NULL, "224", "32", "64", NULL, NULL,
     "random crop size for training and test crops"},
    {"finetune.test_crops", I, ASSUMED, NULL, "5", "2", NULL, NULL, NULL,
     "crops averaged per test image"},

    {"splits.source", S, HARNESS, "random|pyiqa|official", "random", NULL, NULL, NULL, NULL,
     "random: biqa's seeded content-disjoint splits; pyiqa: the dataset's pyiqa split columns "
     "(split k = column k+1); official: its one official split (dataset.json says where)"},
    {"splits.count", I, ASSUMED, NULL, "10", "2", "5", NULL, NULL,
     "random train/test splits (the median over them is reported)"},
    {"splits.train_fraction", R, ASSUMED, NULL, "0.8", NULL, NULL, NULL, NULL,
     "training share of each split (content-disjoint where references exist)"},
    {"splits.val_fraction", R, HARNESS, NULL, "0.1", NULL, NULL, NULL, NULL,
     "share of the training part held out for model selection"},

    {"eval.bootstrap_resamples", I, HARNESS, NULL, "10000", NULL, NULL, NULL, NULL,
     "bootstrap resamples for the CI of the median over splits"},
    {"eval.ci_level", R, HARNESS, NULL, "0.95", NULL, NULL, NULL, NULL,
     "confidence level of that interval"},
};

int biqa_knob_count(void) { return (int)(sizeof knobs / sizeof knobs[0]); }

const biqa_knob *biqa_knob_at(int i) { return &knobs[i]; }
