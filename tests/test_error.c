#include <criterion/criterion.h>
#include <string.h>

#include "error.h"

Test(error, every_status_has_a_distinct_name)
{
    for (int a = ACTRM_OK; a <= ACTRM_ERR_CPU; a++)
        for (int b = a + 1; b <= ACTRM_ERR_CPU; b++)
            cr_expect_str_neq(actrm_status_string(a), actrm_status_string(b));
    cr_expect_str_eq(actrm_status_string(12345), "unknown status");
}

Test(error, set_and_prefix_compose_a_message)
{
    actrm_error e = {0};
    cr_expect_eq(actrm_error_set(&e, ACTRM_ERR_FORMAT, "tensor '%s' truncated", "blk.0.attn_q.weight"),
                 ACTRM_ERR_FORMAT);
    cr_expect_eq(actrm_error_prefix(&e, "%s", "m.gguf"), ACTRM_ERR_FORMAT);
    cr_expect_str_eq(e.msg, "m.gguf: tensor 'blk.0.attn_q.weight' truncated");
    cr_expect_eq(actrm_error_prefix(&e, "%s", "m.gguf"), ACTRM_ERR_FORMAT);
    cr_expect_str_eq(e.msg, "m.gguf: tensor 'blk.0.attn_q.weight' truncated",
                     "a message that already names the file is not prefixed twice");
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    actrm_error_set(&e, ACTRM_ERR_IO, "%s", big);
    cr_expect_eq(strlen(e.msg), sizeof e.msg - 1);
    actrm_error_prefix(&e, "%s", "file.gguf");
    cr_expect(strncmp(e.msg, "file.gguf: xxx", 14) == 0);
    cr_expect_eq(strlen(e.msg), sizeof e.msg - 1, "an over-long message is cut, not overflowed");
}
