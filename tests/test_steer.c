/* Activation reward model: generator, REINFORCE, SAV, templates, steering
 * files, extraction and patched scoring on the fixture models. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "steer.h"

/* ------------------------------------------------------------- generator -- */

Test(rng, same_seed_same_stream_and_bounded_draws)
{
    actrm_rng a, b, c;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a);
        cr_assert_eq(x, rng_next(&b));
        differ += x != rng_next(&c);
        uint64_t k = rng_below(&a, 7);
        rng_below(&b, 7);
        cr_assert_lt(k, 7);
        double u = rng_uniform(&a);
        rng_uniform(&b);
        cr_assert(u >= 0 && u < 1);
    }
    cr_expect_gt(differ, 990, "another seed gives another stream");
}

Test(rng, distinct_draws_skip_and_never_repeat)
{
    actrm_rng r;
    rng_seed(&r, 7);
    size_t out[5];
    int seen_all[6] = {0};
    for (int t = 0; t < 200; t++) {
        rng_distinct(&r, 6, 2, 5, out);
        for (int i = 0; i < 5; i++) {
            cr_assert_neq(out[i], 2);
            cr_assert_lt(out[i], 6);
            seen_all[out[i]] = 1;
            for (int j = 0; j < i; j++)
                cr_assert_neq(out[i], out[j]);
        }
    }
    cr_expect(seen_all[0] && seen_all[1] && seen_all[3] && seen_all[4] && seen_all[5]);
}

/* ------------------------------------------------------------- REINFORCE -- */

/* A model-free objective: heads 3, 5 and 11 help, every other head hurts. */
static const int good_heads[] = {3, 5, 11};

static int synthetic_loss(void *ctx, size_t ex, const uint8_t *masks, int n_masks, float *losses)
{
    int n = *(int *)ctx;
    for (int m = 0; m < n_masks; m++) {
        float l = 1.0f + 0.1f * (float)ex;
        for (int i = 0; i < n; i++) {
            int good = i == 3 || i == 5 || i == 11;
            l += masks[m * n + i] ? (good ? -1.0f : 0.5f) : 0.0f;
        }
        losses[m] = l;
    }
    return ACTRM_OK;
}

static void run_synthetic(uint64_t seed, int steps, float *logits, uint8_t *mask,
                          float *step_loss, float *final_loss)
{
    int n = 16;
    reinforce_config cfg = {.n_heads = n, .n_examples = 4, .steps = steps, .n_masks = 32,
                            .n_final = 10, .lr = 0.1f, .init = -1.0f, .seed = seed};
    reinforce_result res = {.logits = logits, .mask = mask, .step_loss = step_loss};
    actrm_error err = {0};
    cr_assert_eq(reinforce_run(&cfg, synthetic_loss, &n, &res, &err), ACTRM_OK, "%s", err.msg);
    *final_loss = res.final_loss;
}

Test(reinforce, seeded_run_is_reproducible_and_finds_the_helpful_heads)
{
    float la[16], lb[16], lc[16], sa[200], sb[200], sc[200], fa, fb, fc;
    uint8_t ma[16], mb[16], mc[16];
    run_synthetic(5, 200, la, ma, sa, &fa);
    run_synthetic(5, 200, lb, mb, sb, &fb);
    run_synthetic(6, 200, lc, mc, sc, &fc);
    cr_assert(memcmp(la, lb, sizeof la) == 0, "same seed, same logits");
    cr_assert(memcmp(ma, mb, sizeof ma) == 0, "same seed, same mask");
    cr_assert(memcmp(sa, sc, sizeof sa) != 0, "another seed samples other masks");
    double first = 0, last = 0;
    for (int i = 0; i < 20; i++)
        first += sa[i], last += sa[180 + i];
    cr_expect_lt(last, first - 20.0, "loss goes down: %g -> %g", first / 20, last / 20);
    for (int i = 0; i < 16; i++) {
        int good = i == good_heads[0] || i == good_heads[1] || i == good_heads[2];
        cr_expect_eq(ma[i], good, "head %d", i);
        cr_expect(good ? la[i] > 0 : la[i] < -1, "logit of head %d is %g", i, la[i]);
    }
    cr_expect_float_eq(fa, 1.0f + 0.15f - 3.0f, 1e-5, "kept mask's mean loss %g", fa);
}

Test(reinforce, rejects_bad_settings)
{
    int n = 4;
    float l[4];
    uint8_t m[4];
    reinforce_config cfg = {.n_heads = n, .n_examples = 1, .steps = 1, .n_masks = 1,
                            .n_final = 1, .lr = 0.1f};
    reinforce_result res = {.logits = l, .mask = m};
    actrm_error err = {0};
    cr_expect_eq(reinforce_run(&cfg, synthetic_loss, &n, &res, &err), ACTRM_ERR_ARG);
    cr_expect(strstr(err.msg, "masks") != NULL, "%s", err.msg);
}

/* ------------------------------------------------------------------- SAV -- */

Test(sav, ranks_the_separating_head_first_and_votes)
{
    enum { N = 8, NH = 3, HD = 4 };
    float z[N][NH][HD];
    int labels[N];
    for (int e = 0; e < N; e++) {
        labels[e] = e % 2;
        for (int d = 0; d < HD; d++) {
            /* head 0 separates the classes, head 1 points the wrong way for
             * half the examples, head 2 is the same for everyone */
            z[e][0][d] = (labels[e] ? 1.0f : -1.0f) * (d + 1) + 0.01f * e;
            z[e][1][d] = ((e / 2) % 2 ? 1.0f : -1.0f) * (d == 0 ? 1.0f : 0.2f);
            z[e][2][d] = 1.0f;
        }
    }
    float means[2 * NH * HD], acc[NH], mask[NH];
    cr_assert_eq(sav_fit(&z[0][0][0], labels, N, NH, HD, means, acc), ACTRM_OK);
    cr_expect_float_eq(acc[0], 1.0f, 1e-6);
    cr_expect_lt(acc[1], 1.0f);
    cr_expect_eq(sav_top(acc, NH, 1, mask), 1);
    cr_expect(mask[0] == 1 && mask[1] == 0 && mask[2] == 0);
    float yes = sav_score(&z[1][0][0], means, mask, NH, HD);
    float no = sav_score(&z[0][0][0], means, mask, NH, HD);
    cr_expect_gt(yes, 0.9f, "a yes example gets the yes vote: %g", yes);
    cr_expect_lt(no, 0.1f, "a no example gets no yes vote: %g", no);
    cr_expect_eq(sav_top(acc, NH, 20, mask), NH, "k is capped at the head count");
}

/* -------------------------------------------------------------- template -- */

Test(template, fill_replaces_both_placeholders_and_nothing_else)
{
    char *s = judge_fill("P={prompt} R={response} {other} {prompt}", "a{response}", "b");
    cr_expect_str_eq(s, "P=a{response} R=b {other} a{response}");
    free(s);
}

Test(template, parse_round_trip_and_errors_name_the_field)
{
    judge_template t, u;
    actrm_error err = {0};
    const char *src = "{\"query\":\"Q: {prompt} {response}?\",\"yes\":\" Y\",\"no\":\" N\","
                      "\"chat\":\"never\",\"yes_token\":5,\"no_token\":6}";
    cr_assert_eq(judge_template_parse(&t, src, "t.json", &err), ACTRM_OK, "%s", err.msg);
    cr_expect_eq(t.chat, JUDGE_CHAT_NEVER);
    cr_expect(t.has_tokens && t.yes_token == 5 && t.no_token == 6);
    char *canon = judge_template_json(&t);
    cr_assert_eq(judge_template_parse(&u, canon, "canon", &err), ACTRM_OK, "%s", err.msg);
    char *canon2 = judge_template_json(&u);
    cr_expect_str_eq(canon, canon2);
    free(canon), free(canon2);
    judge_template_free(&t), judge_template_free(&u);

    cr_expect_eq(judge_template_parse(&t, "{\"query\":\"no placeholder\"}", "a.json", &err),
                 ACTRM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "a.json") && strstr(err.msg, "\"query\""), "%s", err.msg);
    cr_expect_eq(judge_template_parse(&t, "{\"query\":\"{response}\",\"yes_token\":3}", "b.json",
                                      &err),
                 ACTRM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "no_token") != NULL, "%s", err.msg);
    cr_expect_eq(judge_template_parse(&t, "{\"query\":\"{response}\",\"chat\":\"maybe\"}",
                                      "c.json", &err),
                 ACTRM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "\"chat\"") != NULL, "%s", err.msg);
    cr_expect_eq(judge_template_parse(&t, "[1]", "d.json", &err), ACTRM_ERR_FORMAT);
}

/* ------------------------------------------------------------ evaluation -- */

Test(accuracy, ties_count_half_and_wilson_matches_known_values)
{
    actrm_accuracy a = {0};
    for (int i = 0; i < 4; i++)
        actrm_accuracy_add(&a, 1.0f, 0.0f);
    for (int i = 0; i < 4; i++)
        actrm_accuracy_add(&a, 0.0f, 1.0f);
    actrm_accuracy_add(&a, 0.5f, 0.5f);
    actrm_accuracy_add(&a, 0.5f, 0.5f);
    cr_expect_eq(a.n, 10);
    cr_expect_float_eq(a.acc, 0.5, 1e-12);
    /* Wilson 95% for 5/10: [0.2366, 0.7634] (standard tables). */
    cr_expect_float_eq(a.lo, 0.2366, 1e-4);
    cr_expect_float_eq(a.hi, 0.7634, 1e-4);
    double lo, hi;
    wilson_interval(10, 10, &lo, &hi);
    cr_expect_float_eq(lo, 0.7225, 1e-4);
    cr_expect_float_eq(hi, 1.0, 1e-12);
}

Test(accuracy, icl_shots_depend_only_on_seed_and_index)
{
    size_t a[4], b[4], c[4];
    actrm_icl_shots(9, 17, 16, 4, a);
    actrm_icl_shots(9, 18, 16, 4, c);
    actrm_icl_shots(9, 17, 16, 4, b);
    cr_expect(memcmp(a, b, sizeof a) == 0);
    cr_expect(memcmp(a, c, sizeof a) != 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < i; j++)
            cr_expect_neq(a[i], a[j]);
}
