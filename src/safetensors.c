#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "util.h"

/* One mapped .safetensors file. */
typedef struct st_file {
    char *path;
    void *map;   /* [size] bytes, or NULL when size == 0 */
    size_t size;
} st_file;

struct st_model {
    st_file *files;
    size_t n_files;
    st_tensor *tensors; /* sorted by name after opening, for st_find */
    size_t n_tensors, cap_tensors;
};

/* JSON numbers are doubles: integers are exact up to 2^53. */
#define ST_MAX_JSON_INT 9007199254740992.0

size_t st_type_size(int type)
{
    return type == GGML_TYPE_F32 ? 4 : 2;
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* --------------------------------------------------------------- mapping -- */

static int map_file(st_file *file, const char *path, actrm_error *err)
{
    memset(file, 0, sizeof *file);
    file->path = strdup(path);
    if (!file->path)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int status = ACTRM_OK;
    if (fstat(fd, &sb) != 0) {
        status = actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (sb.st_size > 0) {
        file->size = (size_t)sb.st_size;
        file->map = mmap(NULL, file->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (file->map == MAP_FAILED) {
            file->map = NULL;
            file->size = 0;
            status = actrm_error_set(err, ACTRM_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        }
    }
    close(fd);
    return status;
}

static void unmap_file(st_file *file)
{
    if (file->map)
        munmap(file->map, file->size);
    free(file->path);
}

/* ---------------------------------------------------------------- header -- */

static int dtype_from_name(const char *s)
{
    if (strcmp(s, "F32") == 0)
        return GGML_TYPE_F32;
    if (strcmp(s, "F16") == 0)
        return GGML_TYPE_F16;
    if (strcmp(s, "BF16") == 0)
        return GGML_TYPE_BF16;
    return -1;
}

/* A JSON number that is a non-negative integer within 2^53. */
static int json_u64(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= ST_MAX_JSON_INT) || v != (double)(uint64_t)v)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static int parse_shape(st_tensor *t, const cJSON *shape, const char *path, actrm_error *err)
{
    if (!cJSON_IsArray(shape))
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: tensor '%s': 'shape' is not an array",
                               path, t->name);
    int n = cJSON_GetArraySize(shape);
    if (n > ST_MAX_DIMS)
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d supported)",
                               path, t->name, n, ST_MAX_DIMS);
    t->n_dims = n;
    for (int i = 0; i < ST_MAX_DIMS; i++)
        t->shape[i] = 1;
    for (int i = 0; i < n; i++)
        if (!json_u64(cJSON_GetArrayItem(shape, i), &t->shape[i]))
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                                   path, t->name, i);
    return ACTRM_OK;
}

/* Element count x element size, or 0 with *overflow set. */
static uint64_t tensor_bytes(const st_tensor *t, int *overflow)
{
    uint64_t n = st_type_size(t->type);
    *overflow = 0;
    for (int i = 0; i < t->n_dims; i++) {
        if (t->shape[i] && n > UINT64_MAX / t->shape[i]) {
            *overflow = 1;
            return 0;
        }
        n *= t->shape[i];
    }
    return n;
}

/* Fills t from one header entry; data points into the data section
 * [data, data + data_size). */
static int parse_entry(st_tensor *t, const cJSON *entry, const st_file *file,
                       const uint8_t *data, uint64_t data_size, actrm_error *err)
{
    const char *path = file->path;
    if (!cJSON_IsObject(entry))
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", path, t->name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(dtype))
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: tensor '%s': missing 'dtype'", path, t->name);
    t->type = dtype_from_name(dtype->valuestring);
    if (t->type < 0)
        return actrm_error_set(err, ACTRM_ERR_UNSUPPORTED,
                               "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 are supported",
                               path, t->name, dtype->valuestring);
    int status = parse_shape(t, cJSON_GetObjectItemCaseSensitive(entry, "shape"), path, err);
    if (status)
        return status;
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_u64(cJSON_GetArrayItem(offsets, 0), &begin) ||
        !json_u64(cJSON_GetArrayItem(offsets, 1), &end) || begin > end)
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: tensor '%s': 'data_offsets' must be [begin, end] with begin <= end",
                               path, t->name);
    if (end > data_size)
        return actrm_error_set(err, ACTRM_ERR_FORMAT,
                               "%s: tensor '%s': data_offsets end %llu is past the end of the data (%llu bytes)",
                               path, t->name, (unsigned long long)end, (unsigned long long)data_size);
    int overflow;
    uint64_t expect = tensor_bytes(t, &overflow);
    if (overflow || expect != end - begin)
        return actrm_error_set(err, ACTRM_ERR_FORMAT,
                               "%s: tensor '%s': %llu bytes in data_offsets but shape x %s needs %llu",
                               path, t->name, (unsigned long long)(end - begin), dtype->valuestring,
                               (unsigned long long)expect);
    t->nbytes = expect;
    t->data = data + begin;
    t->file = path;
    return ACTRM_OK;
}

static int push_tensor(st_model *m, st_tensor **out)
{
    if (m->n_tensors == m->cap_tensors) {
        size_t cap = m->cap_tensors ? m->cap_tensors * 2 : 64;
        st_tensor *grown = realloc(m->tensors, cap * sizeof *grown);
        if (!grown)
            return ACTRM_ERR_NOMEM;
        m->tensors = grown;
        m->cap_tensors = cap;
    }
    *out = &m->tensors[m->n_tensors++];
    memset(*out, 0, sizeof **out);
    return ACTRM_OK;
}

static int parse_header(st_model *m, const st_file *file, actrm_error *err)
{
    const char *path = file->path;
    if (file->size < 8)
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: file too short for a safetensors header", path);
    const uint8_t *base = file->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | base[i];
    if (hlen > file->size - 8)
        return actrm_error_set(err, ACTRM_ERR_FORMAT,
                               "%s: header length %llu exceeds the file size (%zu bytes)",
                               path, (unsigned long long)hlen, file->size);
    cJSON *root;
    int status = actrm_json_parse((const char *)base + 8, hlen, path, &root, err);
    if (status)
        return status;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    const uint8_t *data = base + 8 + hlen;
    uint64_t data_size = file->size - 8 - hlen;
    for (const cJSON *e = root->child; e && status == ACTRM_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0)
            continue;
        st_tensor *t;
        if (push_tensor(m, &t) || !(t->name = strdup(e->string))) {
            status = actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        status = parse_entry(t, e, file, data, data_size, err);
    }
    cJSON_Delete(root);
    return status;
}

/* ---------------------------------------------------------------- model -- */

static int by_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

/* Sorts the tensors and rejects a name given twice (across shards too). */
static int sort_and_check_unique(st_model *m, actrm_error *err)
{
    if (m->n_tensors > 1)
        qsort(m->tensors, m->n_tensors, sizeof *m->tensors, by_name);
    for (size_t i = 1; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i - 1].name, m->tensors[i].name) == 0)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "tensor '%s' appears twice (%s and %s)",
                                   m->tensors[i].name, m->tensors[i - 1].file, m->tensors[i].file);
    return ACTRM_OK;
}

/* Maps one more file and appends its tensors. */
static int add_file(st_model *m, const char *path, actrm_error *err)
{
    st_file *grown = realloc(m->files, (m->n_files + 1) * sizeof *grown);
    if (!grown)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", path);
    m->files = grown;
    st_file *file = &m->files[m->n_files++];
    int status = map_file(file, path, err);
    if (status == ACTRM_OK)
        status = parse_header(m, file, err);
    return status;
}

static st_model *model_new(void)
{
    return calloc(1, sizeof(st_model));
}

int st_open_file(st_model **out, const char *path, actrm_error *err)
{
    *out = NULL;
    st_model *m = model_new();
    if (!m)
        return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", path);
    int status = add_file(m, path, err);
    if (status == ACTRM_OK)
        status = sort_and_check_unique(m, err);
    if (status) {
        st_close(m);
        return status;
    }
    *out = m;
    return ACTRM_OK;
}

static int index_shard_name(const cJSON *entry, const char *index_path, actrm_error *err)
{
    if (!cJSON_IsString(entry) || !entry->valuestring[0])
        return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: weight_map entry '%s' is not a file name",
                               index_path, entry->string);
    return ACTRM_OK;
}

static int shard_is_open(const st_model *m, const char *path)
{
    for (size_t i = 0; i < m->n_files; i++)
        if (strcmp(m->files[i].path, path) == 0)
            return 1;
    return 0;
}

/* Maps every shard the weight map names (each once). */
static int open_shards(st_model *m, const char *hf_dir, const cJSON *weight_map,
                       const char *index_path, actrm_error *err)
{
    for (const cJSON *e = weight_map->child; e; e = e->next) {
        int status = index_shard_name(e, index_path, err);
        if (status)
            return status;
        char *path = join_path(hf_dir, e->valuestring);
        if (!path)
            return actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", index_path);
        status = shard_is_open(m, path) ? ACTRM_OK : add_file(m, path, err);
        free(path);
        if (status)
            return status;
    }
    return ACTRM_OK;
}

/* Every tensor the weight map lists must be in the shard it names. */
static int check_weight_map(const st_model *m, const char *hf_dir, const cJSON *weight_map,
                            const char *index_path, actrm_error *err)
{
    for (const cJSON *e = weight_map->child; e; e = e->next) {
        const st_tensor *t = st_find(m, e->string);
        char *path = join_path(hf_dir, e->valuestring);
        int ok = t && path && strcmp(t->file, path) == 0;
        free(path);
        if (!ok)
            return actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: tensor '%s' is not in shard %s",
                                   index_path, e->string, e->valuestring);
    }
    return ACTRM_OK;
}

static int open_index(st_model *m, const char *hf_dir, const char *index_path, actrm_error *err)
{
    cJSON *index;
    int status = actrm_json_load(index_path, &index, err);
    if (status)
        return status;
    const cJSON *weight_map = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
    if (!cJSON_IsObject(weight_map))
        status = actrm_error_set(err, ACTRM_ERR_FORMAT, "%s: missing object 'weight_map'", index_path);
    if (status == ACTRM_OK)
        status = open_shards(m, hf_dir, weight_map, index_path, err);
    if (status == ACTRM_OK)
        status = sort_and_check_unique(m, err);
    if (status == ACTRM_OK)
        status = check_weight_map(m, hf_dir, weight_map, index_path, err);
    cJSON_Delete(index);
    return status;
}

int st_open_dir(st_model **out, const char *hf_dir, actrm_error *err)
{
    *out = NULL;
    st_model *m = model_new();
    char *index_path = join_path(hf_dir, "model.safetensors.index.json");
    char *single_path = join_path(hf_dir, "model.safetensors");
    int status;
    if (!m || !index_path || !single_path) {
        status = actrm_error_set(err, ACTRM_ERR_NOMEM, "%s: out of memory", hf_dir);
    } else if (actrm_file_exists(index_path)) {
        status = open_index(m, hf_dir, index_path, err);
    } else if (actrm_file_exists(single_path)) {
        status = add_file(m, single_path, err);
        if (status == ACTRM_OK)
            status = sort_and_check_unique(m, err);
    } else {
        status = actrm_error_set(err, ACTRM_ERR_IO,
                                 "%s: no model.safetensors or model.safetensors.index.json", hf_dir);
    }
    free(index_path);
    free(single_path);
    if (status) {
        st_close(m);
        return status;
    }
    *out = m;
    return ACTRM_OK;
}

void st_close(st_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_tensors; i++)
        free(m->tensors[i].name);
    free(m->tensors);
    for (size_t i = 0; i < m->n_files; i++)
        unmap_file(&m->files[i]);
    free(m->files);
    free(m);
}

size_t st_n_tensors(const st_model *m)
{
    return m->n_tensors;
}

const st_tensor *st_tensor_at(const st_model *m, size_t i)
{
    return i < m->n_tensors ? &m->tensors[i] : NULL;
}

const st_tensor *st_find(const st_model *m, const char *name)
{
    st_tensor key = {.name = (char *)name};
    return m->n_tensors ? bsearch(&key, m->tensors, m->n_tensors, sizeof key, by_name) : NULL;
}
