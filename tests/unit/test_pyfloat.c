/* test_pyfloat.c - vlm_format_pyfloat against Python's repr(): the expected
 * strings are what CPython 3.11 prints for each value. */
#include "check.h"
#include "core/util.h"

int main(void) {
    static const struct {
        double x;
        const char *want;
    } cases[] = {
        {0.0, "0.0"},
        {0.5, "0.5"},
        {2.5, "2.5"},
        {10.0, "10.0"},
        {12.5, "12.5"},
        {100.0, "100.0"},
        {1234.5, "1234.5"},
        {0.0001, "0.0001"},
        {0.00015, "0.00015"},
        {1e-05, "1e-05"},
        {0.001, "0.001"},
        {0.3333333333333333, "0.3333333333333333"},
        {66.66666666666666, "66.66666666666666"},
        {1000000000000000.0, "1000000000000000.0"},
        {1e+16, "1e+16"},
        {1.5e+16, "1.5e+16"},
        {123456789.0, "123456789.0"},
        {9.5, "9.5"},
        {99.99999, "99.99999"},
        {0.30000000000000004, "0.30000000000000004"},
        {600.0, "600.0"},
        {3600.5, "3600.5"},
        {-10.0, "-10.0"},
        {-0.0, "-0.0"},
        {1e+22, "1e+22"},
        {5e-324, "5e-324"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vlm_format_pyfloat(cases[i].x, buf, sizeof buf);
        CHECK_MSG(!strcmp(buf, cases[i].want), "%.17g: got %s, want %s", cases[i].x, buf, cases[i].want);
    }
    /* every video time on the 2 fps grid up to an hour, as Python prints r / 2 */
    for (int r = 0; r < 7200; r++) {
        char want[32];
        snprintf(want, sizeof want, "%d.%d", r / 2, r % 2 ? 5 : 0);
        vlm_format_pyfloat(r / 2.0, buf, sizeof buf);
        CHECK_MSG(!strcmp(buf, want), "%d / 2: got %s, want %s", r, buf, want);
    }
    return check_done("test_pyfloat");
}
