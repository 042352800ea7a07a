/* The installed libraries (libactrm.a, libactrm.so) export exactly the
 * functions declared in include/actrm.h: nothing internal leaks out to clash
 * with a program's own symbols, and nothing public is missing. Checked with
 * nm on the libraries built next to this test (ACTRM_BUILD_DIR). */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ACTRM_BUILD_DIR
#define ACTRM_BUILD_DIR "build"
#endif

#if defined(__aarch64__)
#define NM "aarch64-linux-gnu-nm"
#else
#define NM "nm"
#endif

typedef struct {
    char **names;
    size_t n;
} name_set;

static void set_add(name_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return;
    s->names = realloc(s->names, (s->n + 1) * sizeof *s->names);
    cr_assert(s->names);
    s->names[s->n++] = strdup(name);
}

static int set_has(const name_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return 1;
    return 0;
}

static void set_free(name_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
}

/* Every "actrm_xxx(" of the header: the declarations (and the names its
 * comments mention, which are declared too). */
static name_set header_functions(void)
{
    FILE *f = fopen("include/actrm.h", "r");
    cr_assert(f, "include/actrm.h: cannot open (tests run from the project root)");
    regex_t re;
    cr_assert_eq(regcomp(&re, "actrm_[a-z0-9_]+\\(", REG_EXTENDED), 0);
    name_set s = {0};
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        const char *p = line;
        regmatch_t m;
        while (regexec(&re, p, 1, &m, 0) == 0) {
            char name[128];
            int len = (int)(m.rm_eo - m.rm_so - 1);
            snprintf(name, sizeof name, "%.*s", len, p + m.rm_so);
            set_add(&s, name);
            p += m.rm_eo;
        }
    }
    regfree(&re);
    fclose(f);
    return s;
}

/* The global defined symbols nm lists for a library ("T name" lines). */
static name_set exported(const char *nm_flags, const char *lib)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, NM " %s --defined-only %s 2>&1", nm_flags, lib);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "cannot run %s", cmd);
    name_set s = {0};
    char line[1024];
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[512];
        if (sscanf(line, "%63s %7s %511s", addr, type, name) == 3 && strchr("TDBRWVGS", type[0]))
            set_add(&s, name);
    }
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    return s;
}

static void check_exports(const char *nm_flags, const char *lib)
{
    name_set api = header_functions();
    name_set got = exported(nm_flags, lib);
    cr_assert_gt(api.n, 30, "include/actrm.h declares the API");
    for (size_t i = 0; i < got.n; i++)
        cr_expect(set_has(&api, got.names[i]), "%s exports '%s', which include/actrm.h does not declare",
                  lib, got.names[i]);
    for (size_t i = 0; i < api.n; i++)
        cr_expect(set_has(&got, api.names[i]), "%s lacks '%s' of include/actrm.h", lib, api.names[i]);
    set_free(&api);
    set_free(&got);
}

Test(symbols, static_library_exports_only_the_public_api)
{
    check_exports("-g", ACTRM_BUILD_DIR "/libactrm.a");
}

Test(symbols, shared_library_exports_only_the_public_api)
{
    check_exports("-D", ACTRM_BUILD_DIR "/libactrm.so");
}
