/* Activation reward model: generator, REINFORCE, SAV, templates, steering
 * files, extraction and patched scoring on the fixture models. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fixtures.h"
#include "jsonl.h"
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
    actrm_shots_pick(9, 17, 16, 4, a);
    actrm_shots_pick(9, 18, 16, 4, c);
    actrm_shots_pick(9, 17, 16, 4, b);
    cr_expect(memcmp(a, b, sizeof a) == 0);
    cr_expect(memcmp(a, c, sizeof a) != 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < i; j++)
            cr_expect_neq(a[i], a[j]);
}

/* ------------------------------------------------------ with real models -- */

#define JUDGE_DIR FIXTURES_DIR "/judge"
static const char judge_template_text[] =
    "{\"query\":\"Prompt: {prompt}\\nResponse: {response}\\nGood?\",\"yes\":\" Yes\","
    "\"no\":\" No\",\"shot_end\":\"\\n\",\"chat\":\"never\"}";

typedef struct opened {
    actrm_model *model;
    actrm_tokenizer *tok;
    actrm_judge *judge;
} opened;

static void open_judge(opened *o, const char *gguf, const char *tmpl, const actrm_steer *steer)
{
    memset(o, 0, sizeof *o);
    cr_assert_eq(actrm_model_init(&o->model, gguf), ACTRM_OK, "%s", actrm_model_errmsg(o->model));
    cr_assert_eq(actrm_tokenizer_init(&o->tok, gguf), ACTRM_OK, "%s",
                 actrm_tokenizer_errmsg(o->tok));
    actrm_judge_options jo = {.template_text = tmpl, .steer = steer, .n_threads = 1};
    cr_assert_eq(actrm_judge_init(&o->judge, o->model, o->tok, &jo), ACTRM_OK, "%s",
                 actrm_judge_errmsg(o->judge));
}

static void close_judge(opened *o)
{
    actrm_judge_free(o->judge);
    actrm_tokenizer_free(o->tok);
    actrm_model_free(o->model);
}

static void open_fixture_judge(opened *o)
{
    char path[512];
    open_judge(o, fixture_judge_gguf(path, sizeof path), judge_template_text, NULL);
}

Test(judge, answer_tokens_follow_the_prompt)
{
    opened o;
    open_fixture_judge(&o);
    int32_t yes, no;
    actrm_judge_answer_tokens(o.judge, &yes, &no);
    /* The judge README: the tokens after "Good?" are \u2581Yes 5592 and \u2581No 1770. */
    cr_expect_eq(yes, 5592);
    cr_expect_eq(no, 1770);
    char *text;
    actrm_example shot = {"P1", "R1", 1};
    cr_assert_eq(actrm_judge_render(o.judge, &shot, 1, "P2", "R2", &text), ACTRM_OK);
    cr_expect_str_eq(text, "Prompt: P1\nResponse: R1\nGood? Yes\nPrompt: P2\nResponse: R2\nGood?");
    free(text);
    int32_t *ids;
    int n;
    cr_assert_eq(judge_tokens(o.judge, NULL, 0, "P", "R", &ids, &n), ACTRM_OK);
    cr_expect_eq(ids[0], 1, "BOS first");
    free(ids);
    close_judge(&o);
}

/* spm-tiny golden: prompt 1 with heads of patch.json replaced by the means
 * of prompts 0 and 2 at the last position. */
typedef struct patch_fixture {
    int n_heads, heads[8][2];
    actrm_npy vectors, patched_logits, z0, z2;
    int32_t *ids[3];
    int n[3];
} patch_fixture;

static void load_patch_fixture(patch_fixture *f)
{
    char path[512];
    fixture_path(path, sizeof path, "models/spm-tiny/golden/patch.json");
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "%s", path);
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[len] = 0;
    cJSON *root = cJSON_Parse(buf), *heads = cJSON_GetObjectItem(root, "heads");
    f->n_heads = cJSON_GetArraySize(heads);
    cr_assert(f->n_heads > 0 && f->n_heads <= 8);
    for (int i = 0; i < f->n_heads; i++)
        for (int k = 0; k < 2; k++)
            f->heads[i][k] = cJSON_GetArrayItem(cJSON_GetArrayItem(heads, i), k)->valueint;
    cJSON_Delete(root);
    fixture_golden_npy("spm-tiny", "patch_vectors.npy", ACTRM_NPY_F32, &f->vectors);
    fixture_golden_npy("spm-tiny", "p1_patched_logits_last.npy", ACTRM_NPY_F32, &f->patched_logits);
    fixture_golden_npy("spm-tiny", "p0_z_last.npy", ACTRM_NPY_F32, &f->z0);
    fixture_golden_npy("spm-tiny", "p2_z_last.npy", ACTRM_NPY_F32, &f->z2);
    for (int i = 0; i < 3; i++)
        f->ids[i] = fixture_prompt_ids("spm-tiny", i, &f->n[i]);
}

static void free_patch_fixture(patch_fixture *f)
{
    actrm_npy_free(&f->vectors), actrm_npy_free(&f->patched_logits);
    actrm_npy_free(&f->z0), actrm_npy_free(&f->z2);
    for (int i = 0; i < 3; i++)
        free(f->ids[i]);
}

static void open_spm_tiny(opened *o)
{
    char path[512];
    /* Explicit answer ids: the point here is the activations, not the template. */
    open_judge(o, fixture_model_gguf(path, sizeof path, "spm-tiny", NULL),
               "{\"query\":\"{prompt} {response}\",\"chat\":\"never\","
               "\"yes_token\":5592,\"no_token\":1770}",
               NULL);
}

Test(extract, equals_the_mean_of_the_captured_heads)
{
    opened o;
    patch_fixture f;
    open_spm_tiny(&o);
    load_patch_fixture(&f);
    size_t zn = f.z0.n;
    cr_assert_eq(zn, (size_t)o.judge->n_layer * o.judge->n_head * o.judge->head_dim);
    float *mean = malloc(zn * sizeof *mean), *ref = malloc(zn * sizeof *ref);
    const int32_t *ids[2] = {f.ids[0], f.ids[2]};
    int n[2] = {f.n[0], f.n[2]};
    cr_assert_eq(steer_mean_of_ids(o.judge, ids, n, 2, mean), ACTRM_OK, "%s",
                 actrm_judge_errmsg(o.judge));
    for (size_t i = 0; i < zn; i++)
        ref[i] = 0.5f * (((float *)f.z0.data)[i] + ((float *)f.z2.data)[i]);
    double err, mx;
    fixture_max_err(mean, ref, zn, &err, &mx);
    cr_expect_leq(err, 1e-4 * mx, "mean z off by %g (max %g)", err, mx);
    int hd = o.judge->head_dim, H = o.judge->n_head;
    for (int i = 0; i < f.n_heads; i++) {
        const float *m = mean + ((size_t)f.heads[i][0] * H + f.heads[i][1]) * hd;
        fixture_max_err(m, (float *)f.vectors.data + (size_t)i * hd, (size_t)hd, &err, &mx);
        cr_expect_leq(err, 1e-4 * mx, "patch vector %d off by %g", i, err);
    }
    free(mean), free(ref);
    free_patch_fixture(&f);
    close_judge(&o);
}

Test(score, patched_last_token_reproduces_the_fixture_logits)
{
    opened o;
    patch_fixture f;
    open_spm_tiny(&o);
    load_patch_fixture(&f);
    int hd = o.judge->head_dim, V = o.judge->n_vocab;
    actrm_head_patch p[8];
    for (int i = 0; i < f.n_heads; i++)
        p[i] = (actrm_head_patch){f.heads[i][0], f.heads[i][1],
                                  (float *)f.vectors.data + (size_t)i * hd};
    actrm_patch_set set = {p, f.n_heads};
    /* Twice: the second run reuses the cached prefix. */
    for (int rep = 0; rep < 2; rep++) {
        cr_assert_eq(judge_eval_last(o.judge, f.ids[1], f.n[1], 1, &set, 0), ACTRM_OK, "%s",
                     actrm_judge_errmsg(o.judge));
        double err, mx;
        fixture_max_err(o.judge->logits, f.patched_logits.data, (size_t)V, &err, &mx);
        cr_expect_leq(err, 1e-4 * mx, "patched logits off by %g (max %g)", err, mx);
    }
    float full, fast = judge_reward(o.judge, o.judge->logits);
    cr_assert_eq(judge_reward_full(o.judge, f.ids[1], f.n[1], p, f.n_heads, &full), ACTRM_OK);
    cr_expect_float_eq(fast, full, 1e-4);
    free_patch_fixture(&f);
    close_judge(&o);
}

/* ---------------------------------------------------- the judge fixture -- */

/* Pairs {prompt, chosen, rejected} of one criterion, first max of them. */
typedef struct pairs {
    char *prompt[200], *chosen[200], *rejected[200];
    int n;
} pairs;

static void load_pairs(pairs *p, const char *criterion, int max)
{
    jsonl_reader *r;
    actrm_error err = {0};
    memset(p, 0, sizeof *p);
    cr_assert_eq(jsonl_reader_open(&r, JUDGE_DIR "/data/eval_pairs.jsonl", &err), ACTRM_OK);
    cJSON *obj;
    while (p->n < max && !jsonl_next(r, &obj, &err) && obj) {
        if (example_matches(obj, criterion)) {
            p->prompt[p->n] = strdup(cJSON_GetObjectItem(obj, "prompt")->valuestring);
            p->chosen[p->n] = strdup(cJSON_GetObjectItem(obj, "chosen")->valuestring);
            p->rejected[p->n] = strdup(cJSON_GetObjectItem(obj, "rejected")->valuestring);
            p->n++;
        }
        cJSON_Delete(obj);
    }
    jsonl_reader_close(r);
}

static void free_pairs(pairs *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->prompt[i]), free(p->chosen[i]), free(p->rejected[i]);
}

static void load_fewshot(const char *criterion, actrm_example **ex, size_t *n)
{
    actrm_error err = {0};
    cr_assert_eq(examples_load(JUDGE_DIR "/data/fewshot.jsonl", criterion, ex, n, &err),
                 ACTRM_OK, "%s", err.msg);
}

/* A steering handle with random means and the heads in mask. */
static actrm_steer *random_steer(actrm_judge *j, uint64_t seed, const float *mask)
{
    actrm_steer *s;
    cr_assert_eq(steer_new(&s, j), ACTRM_OK);
    actrm_rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < s->n_heads * s->info.head_dim; i++)
        s->mean_z[i] = (float)(rng_uniform(&r) - 0.5);
    memcpy(s->mask, mask, (size_t)s->n_heads * sizeof *mask);
    steer_sync_info(s);
    return s;
}

Test(score, shared_prefix_branches_equal_full_recomputation)
{
    opened o;
    open_fixture_judge(&o);
    actrm_judge *j = o.judge;
    int nh = j->n_layer * j->n_head, NM = 32;
    float *all = calloc((size_t)nh, sizeof *all);
    actrm_steer *s = random_steer(j, 3, all);
    actrm_rng r;
    rng_seed(&r, 11);
    /* 32 random masks as one batch of branches over the prompt's prefix. */
    actrm_head_patch *p = calloc((size_t)NM * nh, sizeof *p);
    actrm_patch_set sets[32];
    float *masks = calloc((size_t)NM * nh, sizeof *masks);
    for (int m = 0; m < NM; m++) {
        for (int i = 0; i < nh; i++)
            masks[m * nh + i] = rng_uniform(&r) < 0.4;
        sets[m] = (actrm_patch_set){p + m * nh, steer_patches(s, masks + m * nh, p + m * nh)};
    }
    int32_t *ids;
    int n;
    cr_assert_eq(judge_tokens(j, NULL, 0, "Name a color.", "Blue!", &ids, &n), ACTRM_OK);
    cr_assert_eq(judge_eval_last(j, ids, n, NM, sets, 0), ACTRM_OK, "%s", actrm_judge_errmsg(j));
    float fast[32];
    for (int m = 0; m < NM; m++)
        fast[m] = judge_reward(j, j->logits + (size_t)m * j->n_vocab);
    for (int m = 0; m < NM; m++) {
        float full;
        cr_assert_eq(judge_reward_full(j, ids, n, sets[m].patches, sets[m].n_patches, &full),
                     ACTRM_OK);
        cr_expect_float_eq(fast[m], full, 1e-4, "mask %d: %g vs %g", m, fast[m], full);
    }
    /* A pair over its shared prefix equals each response computed alone. */
    memcpy(s->mask, masks, (size_t)nh * sizeof *masks);
    steer_sync_info(s);
    float pair[2];
    cr_assert_eq(actrm_judge_score_pair(j, ACTRM_REWARD_ACTIVATION, s, NULL, 0, "Name a color.",
                                        "Blue!", "Blue.", pair),
                 ACTRM_OK, "%s", actrm_judge_errmsg(j));
    cr_expect_float_eq(pair[0], fast[0], 1e-4);
    int32_t *ids2;
    int n2;
    float full2;
    cr_assert_eq(judge_tokens(j, NULL, 0, "Name a color.", "Blue.", &ids2, &n2), ACTRM_OK);
    cr_assert_eq(judge_reward_full(j, ids2, n2, sets[0].patches, sets[0].n_patches, &full2),
                 ACTRM_OK);
    cr_expect_float_eq(pair[1], full2, 1e-4);
    free(ids), free(ids2), free(p), free(masks), free(all);
    actrm_steer_free(s);
    close_judge(&o);
}

/* The reference steering data of one criterion: heads_set0 and the means of
 * the prompts in mean_prompts_set0, computed by our extraction path. */
static actrm_steer *reference_steer(actrm_judge *j, const char *criterion,
                                    const actrm_example *ex)
{
    float zero[64] = {0};
    actrm_steer *s = random_steer(j, 1, zero);
    cJSON *root = fixture_read_json(JUDGE_DIR "/data/reference/heads_set0.json");
    cJSON *heads = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "heads_set0"), criterion);
    cr_assert(cJSON_IsArray(heads));
    for (int i = 0; i < cJSON_GetArraySize(heads); i++) {
        cJSON *h = cJSON_GetArrayItem(heads, i);
        s->mask[cJSON_GetArrayItem(h, 0)->valueint * j->n_head + cJSON_GetArrayItem(h, 1)->valueint] = 1;
    }
    cJSON_Delete(root);
    steer_sync_info(s);

    size_t query[32], shots[32 * 8];
    int m = 0, k = 8;
    jsonl_reader *r;
    actrm_error err = {0};
    cr_assert_eq(jsonl_reader_open(&r, JUDGE_DIR "/data/reference/mean_prompts_set0.jsonl", &err),
                 ACTRM_OK);
    cJSON *obj;
    while (!jsonl_next(r, &obj, &err) && obj) {
        if (example_matches(obj, criterion)) {
            cr_assert_lt(m, 32);
            cJSON *sh = cJSON_GetObjectItem(obj, "shots");
            cr_assert_eq(cJSON_GetArraySize(sh), k);
            query[m] = (size_t)cJSON_GetObjectItem(obj, "query")->valueint;
            for (int i = 0; i < k; i++)
                shots[m * k + i] = (size_t)cJSON_GetArrayItem(sh, i)->valueint;
            m++;
        }
        cJSON_Delete(obj);
    }
    jsonl_reader_close(r);
    cr_assert_eq(m, 32);
    cr_assert_eq(steer_mean_of_prompts(j, ex, query, shots, k, m, s->mean_z, NULL), ACTRM_OK,
                 "%s", actrm_judge_errmsg(j));
    return s;
}

/* Checks our zero-shot, ICL and Activation RM scores against the
 * independent PyTorch reference for the first n_pairs of a criterion. */
static void check_reference(opened *o, const char *criterion, int n_pairs)
{
    actrm_judge *j = o->judge;
    actrm_example *ex;
    size_t n_ex;
    load_fewshot(criterion, &ex, &n_ex);
    cr_assert_eq(n_ex, 16);
    actrm_steer *s = reference_steer(j, criterion, ex);
    pairs p;
    load_pairs(&p, criterion, n_pairs);
    jsonl_reader *r;
    actrm_error err = {0};
    cr_assert_eq(jsonl_reader_open(&r, JUDGE_DIR "/data/reference/scores_set0.jsonl", &err),
                 ACTRM_OK);
    cJSON *obj;
    int seen = 0;
    double worst = 0;
    while (seen < n_pairs && !jsonl_next(r, &obj, &err) && obj) {
        if (example_matches(obj, criterion)) {
            int i = cJSON_GetObjectItem(obj, "index")->valueint;
            cr_assert_eq(i, seen);
            cJSON *icl = cJSON_GetObjectItem(obj, "icl_shots");
            actrm_example shots[8];
            int k = cJSON_GetArraySize(icl);
            cr_assert_leq(k, 8);
            for (int t = 0; t < k; t++)
                shots[t] = ex[cJSON_GetArrayItem(icl, t)->valueint];
            static const char *keys[3] = {"zero_shot", "icl", "actrm"};
            static const int methods[3] = {ACTRM_REWARD_ZEROSHOT, ACTRM_REWARD_ICL,
                                           ACTRM_REWARD_ACTIVATION};
            for (int m = 0; m < 3; m++) {
                float got[2];
                cr_assert_eq(actrm_judge_score_pair(j, methods[m], s, shots, (size_t)k,
                                                    p.prompt[i], p.chosen[i], p.rejected[i], got),
                             ACTRM_OK, "%s", actrm_judge_errmsg(j));
                cJSON *want = cJSON_GetObjectItem(obj, keys[m]);
                for (int c = 0; c < 2; c++) {
                    double d = fabs(got[c] - cJSON_GetArrayItem(want, c)->valuedouble);
                    worst = d > worst ? d : worst;
                    cr_expect_leq(d, 1e-4, "%s pair %d %s[%d]: %g vs %g", criterion, i, keys[m],
                                  c, got[c], cJSON_GetArrayItem(want, c)->valuedouble);
                }
            }
            seen++;
        }
        cJSON_Delete(obj);
    }
    jsonl_reader_close(r);
    cr_expect_eq(seen, n_pairs);
    free_pairs(&p);
    examples_free(ex, n_ex);
    actrm_steer_free(s);
}

Test(reference, judge_scores_match_the_pytorch_reference)
{
    opened o;
    open_fixture_judge(&o);
    check_reference(&o, "short", 6);
    check_reference(&o, "polite", 6);
    check_reference(&o, "correct", 6);
    close_judge(&o);
}

/* Mean answer loss over the few-shot set of the zero-shot judge. */
static double zero_shot_loss(actrm_judge *j, const actrm_example *ex, size_t n)
{
    double sum = 0;
    for (size_t e = 0; e < n; e++) {
        int32_t *ids;
        int len;
        cr_assert_eq(judge_tokens(j, NULL, 0, ex[e].prompt, ex[e].response, &ids, &len), ACTRM_OK);
        cr_assert_eq(judge_eval_last(j, ids, len, 1, NULL, 0), ACTRM_OK);
        sum += judge_answer_loss(j, j->logits, ex[e].label);
        free(ids);
    }
    return sum / (double)n;
}

Test(select, seeded_reinforce_on_the_judge_is_reproducible_and_lowers_the_loss)
{
    opened o;
    open_fixture_judge(&o);
    actrm_example *ex;
    size_t n;
    load_fewshot("period", &ex, &n);
    actrm_steer_options so = {.k_shots = 4, .n_prompts = 16, .steps = 40, .seed = 99};
    actrm_steer *a, *b;
    cr_assert_eq(actrm_judge_extract(o.judge, ex, n, &so, &a), ACTRM_OK, "%s",
                 actrm_judge_errmsg(o.judge));
    cr_assert_eq(actrm_judge_extract(o.judge, ex, n, &so, &b), ACTRM_OK);
    size_t zn = (size_t)a->n_heads * a->info.head_dim;
    cr_expect(memcmp(a->mean_z, b->mean_z, zn * sizeof(float)) == 0, "extraction is seeded");
    cr_assert_eq(actrm_judge_select(o.judge, a, ex, n, &so), ACTRM_OK, "%s",
                 actrm_judge_errmsg(o.judge));
    cr_assert_eq(actrm_judge_select(o.judge, b, ex, n, &so), ACTRM_OK);
    cr_expect(memcmp(a->logits, b->logits, (size_t)a->n_heads * sizeof(float)) == 0);
    cr_expect(memcmp(a->mask, b->mask, (size_t)a->n_heads * sizeof(float)) == 0);
    cr_expect_str_eq(a->info.method, "reinforce");
    cr_expect_gt(a->info.n_selected, 0);
    double zs = zero_shot_loss(o.judge, ex, n);
    cr_expect_lt(a->info.final_loss, 0.5 * zs, "kept mask's loss %g vs zero-shot %g",
                 a->info.final_loss, zs);
    actrm_steer_free(a), actrm_steer_free(b);
    examples_free(ex, n);
    close_judge(&o);
}

Test(select, sav_keeps_the_most_accurate_heads)
{
    opened o;
    open_fixture_judge(&o);
    actrm_example *ex;
    size_t n;
    load_fewshot("upper", &ex, &n);
    actrm_steer_options so = {.k_shots = 2, .n_prompts = 2, .method = ACTRM_SELECT_SAV,
                              .sav_heads = 5};
    actrm_steer *s;
    cr_assert_eq(actrm_judge_extract(o.judge, ex, n, &so, &s), ACTRM_OK);
    cr_assert_eq(actrm_judge_select(o.judge, s, ex, n, &so), ACTRM_OK, "%s",
                 actrm_judge_errmsg(o.judge));
    cr_expect_str_eq(s->info.method, "sav");
    cr_expect_eq(s->info.n_selected, 5);
    float worst_kept = 1, best_dropped = 0;
    for (int i = 0; i < s->n_heads; i++) {
        if (s->mask[i] != 0)
            worst_kept = fminf(worst_kept, s->sav_acc[i]);
        else
            best_dropped = fmaxf(best_dropped, s->sav_acc[i]);
    }
    cr_expect_geq(worst_kept, best_dropped);
    float r[2];
    cr_assert_eq(actrm_judge_score_pair(o.judge, ACTRM_REWARD_SAV, s, NULL, 0, "Name a color.",
                                        "BLUE.", "blue.", r),
                 ACTRM_OK, "%s", actrm_judge_errmsg(o.judge));
    cr_expect(r[0] >= -1 && r[0] <= 1.1f && r[1] >= -1 && r[1] <= 1.1f);
    actrm_steer_free(s);
    examples_free(ex, n);
    close_judge(&o);
}

Test(steerfile, round_trip_and_another_model_is_a_mismatch)
{
    opened o, other;
    open_fixture_judge(&o);
    int nh = o.judge->n_layer * o.judge->n_head;
    float mask[64] = {0};
    mask[1] = mask[nh - 1] = 1;
    actrm_steer *s = random_steer(o.judge, 5, mask);
    s->info.k_shots = 3, s->info.seed = 1234567890123ull;
    char path[512];
    fixture_tmp_path(path, sizeof path, "steer.gguf");
    cr_assert_eq(actrm_steer_save(s, path), ACTRM_OK, "%s", actrm_steer_errmsg(s));
    actrm_steer *t;
    cr_assert_eq(actrm_steer_init(&t, path), ACTRM_OK, "%s", actrm_steer_errmsg(t));
    size_t zn = (size_t)nh * s->info.head_dim;
    cr_expect(memcmp(s->mean_z, t->mean_z, zn * sizeof(float)) == 0);
    cr_expect(memcmp(s->mask, t->mask, (size_t)nh * sizeof(float)) == 0);
    cr_expect_str_eq(t->info.template_text, s->info.template_text);
    cr_expect_eq(t->info.model_hash, s->info.model_hash);
    cr_expect_eq(t->info.seed, 1234567890123ull);
    cr_expect_eq(t->info.k_shots, 3);
    cr_expect_eq(t->info.yes_token, 5592);
    int lh[8];
    cr_expect_eq(actrm_steer_heads(t, lh, 4), 2);
    cr_expect(lh[0] == 0 && lh[1] == 1 && lh[2] == o.judge->n_layer - 1);
    cr_expect_eq(actrm_steer_check_model(t, o.model), ACTRM_OK);

    /* Another model: a clear mismatch, both when checking and when scoring. */
    open_spm_tiny(&other);
    cr_expect_eq(actrm_steer_check_model(t, other.model), ACTRM_ERR_MISMATCH);
    cr_expect(strstr(actrm_steer_errmsg(t), "made for model") != NULL, "%s",
              actrm_steer_errmsg(t));
    float r[2];
    cr_expect_eq(actrm_judge_score_pair(other.judge, ACTRM_REWARD_ACTIVATION, t, NULL, 0, "p",
                                        "a", "b", r),
                 ACTRM_ERR_MISMATCH);
    /* The same model with another template is a mismatch too. */
    actrm_judge *j2;
    actrm_judge_options jo = {.template_text = "{\"query\":\"Q {prompt} {response}\","
                                               "\"chat\":\"never\"}"};
    cr_assert_eq(actrm_judge_init(&j2, o.model, o.tok, &jo), ACTRM_OK, "%s",
                 actrm_judge_errmsg(j2));
    cr_expect_eq(actrm_judge_score(j2, t, "p", "a", r), ACTRM_ERR_MISMATCH);
    cr_expect(strstr(actrm_judge_errmsg(j2), "template") != NULL, "%s", actrm_judge_errmsg(j2));
    actrm_judge_free(j2);
    /* A model file is not a steering file. */
    actrm_steer *bad;
    cr_expect_eq(actrm_steer_init(&bad, path), ACTRM_OK);
    actrm_steer_free(bad);
    char model_path[512];
    cr_expect_eq(actrm_steer_init(&bad, fixture_judge_gguf(model_path, sizeof model_path)),
                 ACTRM_ERR_FORMAT);
    cr_expect(strstr(actrm_steer_errmsg(bad), "not a steering file") != NULL, "%s",
              actrm_steer_errmsg(bad));
    actrm_steer_free(bad);
    actrm_steer_free(NULL);
    actrm_judge_free(NULL);
    unlink(path);
    actrm_steer_free(s), actrm_steer_free(t);
    close_judge(&other);
    close_judge(&o);
}

Test(judge, chat_model_uses_its_template_and_the_token_after_the_header)
{
    opened o;
    char path[512];
    open_judge(&o, fixture_model_gguf(path, sizeof path, "qwen2-tiny", NULL), NULL, NULL);
    cr_expect(o.judge->use_chat, "a model with a chat template renders through it");
    int32_t yes, no;
    actrm_judge_answer_tokens(o.judge, &yes, &no);
    cr_expect_eq(yes, actrm_tokenizer_piece_id(o.tok, "Yes"), "yes id %d", (int)yes);
    cr_expect_eq(no, actrm_tokenizer_piece_id(o.tok, "No"), "no id %d", (int)no);
    char *text;
    actrm_example shot = {"P1", "R1", 0};
    cr_assert_eq(actrm_judge_render(o.judge, &shot, 1, "P2", "R2", &text), ACTRM_OK, "%s",
                 actrm_judge_errmsg(o.judge));
    /* A shot is an earlier user/assistant exchange; the query ends with the
     * generation prompt. */
    cr_expect(strstr(text, "<|im_start|>user\n") != NULL, "%s", text);
    cr_expect(strstr(text, "<|im_start|>assistant\nNo<|im_end|>") != NULL, "%s", text);
    const char *tail = "<|im_start|>assistant\n";
    cr_expect_str_eq(text + strlen(text) - strlen(tail), tail);
    free(text);
    close_judge(&o);
}
