/* Learning-rate schedules (methods/optim.h) at the points that can be
 * checked by hand: warm-up steps and its end, cosine start, quarter points,
 * end and clamp, step boundaries. PyTorch parity over whole runs:
 * tests/ref/optim_vs_torch.py. */
#include <criterion/criterion.h>
#include <math.h>

#include "methods/optim.h"

static void expect_lr(const biqa_schedule *s, long step, double want)
{
    double got = biqa_schedule_lr(s, step);
    cr_assert(fabs(got - want) <= 1e-14 * fabs(want), "step %ld: lr %.17g, want %.17g", step,
              got, want);
}

Test(schedule, linear_warmup_then_constant)
{
    biqa_schedule s = {.kind = BIQA_SCHED_CONSTANT, .base_lr = 0.1, .warmup_steps = 4};
    cr_assert_eq(biqa_schedule_check(&s, NULL), 0);
    expect_lr(&s, 0, 0.025); /* base (s + 1) / W */
    expect_lr(&s, 1, 0.05);
    expect_lr(&s, 2, 0.075);
    expect_lr(&s, 3, 0.1); /* the last warm-up step reaches base */
    expect_lr(&s, 4, 0.1);
    expect_lr(&s, 100000, 0.1);
    expect_lr(&s, -5, 0.025); /* a negative step counts as step 0 */
    s.warmup_steps = 0;
    expect_lr(&s, 0, 0.1);
}

Test(schedule, cosine_end_points_and_quarters)
{
    /* W = 2, K = 12: the cosine spans steps 2..14, from 1.1 to 0.1. */
    biqa_schedule s = {.kind = BIQA_SCHED_COSINE, .base_lr = 1.1, .warmup_steps = 2,
                       .total_steps = 14, .min_lr = 0.1};
    cr_assert_eq(biqa_schedule_check(&s, NULL), 0);
    expect_lr(&s, 0, 0.55);
    expect_lr(&s, 1, 1.1);
    expect_lr(&s, 2, 1.1);   /* k = 0: cos 0 = 1 */
    expect_lr(&s, 6, 0.85);  /* k = K/3: (1 + cos(pi/3)) / 2 = 3/4 */
    expect_lr(&s, 8, 0.6);   /* k = K/2: half way */
    expect_lr(&s, 10, 0.35); /* k = 2K/3: (1 + cos(2pi/3)) / 2 = 1/4 */
    expect_lr(&s, 14, 0.1);  /* k = K: min_lr */
    expect_lr(&s, 15, 0.1);  /* clamped after total_steps */
    expect_lr(&s, 1000, 0.1);
    s.warmup_steps = 0;
    s.total_steps = 4;
    s.min_lr = 0;
    expect_lr(&s, 0, 1.1);
    expect_lr(&s, 2, 0.55);
    cr_assert_eq(biqa_schedule_lr(&s, 4), 0.0);
}

Test(schedule, step_boundaries)
{
    biqa_schedule s = {.kind = BIQA_SCHED_STEP, .base_lr = 2.0, .warmup_steps = 2,
                       .step_size = 3, .gamma = 0.1};
    cr_assert_eq(biqa_schedule_check(&s, NULL), 0);
    expect_lr(&s, 0, 1.0);
    expect_lr(&s, 1, 2.0);
    expect_lr(&s, 2, 2.0);  /* k = 0 */
    expect_lr(&s, 4, 2.0);  /* k = 2: last step before the first decay */
    expect_lr(&s, 5, 0.2);  /* k = 3 */
    expect_lr(&s, 7, 0.2);
    expect_lr(&s, 8, 0.02); /* k = 6 */
    expect_lr(&s, 11, 2e-3);
}

struct bad_schedule {
    biqa_schedule s;
    const char *msg;
};

Test(schedule, check_names_the_field)
{
    static const struct bad_schedule cases[] = {
        {{.kind = 7, .base_lr = 1}, "schedule: unknown kind 7 (constant, cosine or step)"},
        {{.kind = BIQA_SCHED_CONSTANT, .base_lr = 0}, "schedule: base_lr 0 must be finite and > 0"},
        {{.kind = BIQA_SCHED_CONSTANT, .base_lr = 1, .warmup_steps = -1},
         "schedule: warmup_steps -1 must be >= 0"},
        {{.kind = BIQA_SCHED_COSINE, .base_lr = 1, .total_steps = 10, .min_lr = 2},
         "schedule: min_lr 2 must be in [0, base_lr 1]"},
        {{.kind = BIQA_SCHED_COSINE, .base_lr = 1, .total_steps = 5, .warmup_steps = 5},
         "schedule: total_steps 5 must exceed warmup_steps 5"},
        {{.kind = BIQA_SCHED_STEP, .base_lr = 1, .step_size = 0, .gamma = 0.1},
         "schedule: step_size 0 must be >= 1"},
        {{.kind = BIQA_SCHED_STEP, .base_lr = 1, .step_size = 2, .gamma = 0},
         "schedule: gamma 0 must be finite and > 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        biqa_error err = {{0}};
        cr_assert_eq(biqa_schedule_check(&cases[i].s, &err), -1, "case %zu accepted", i);
        cr_assert_str_eq(err.msg, cases[i].msg);
    }
}
