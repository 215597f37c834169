/* pyfloat.c - a double written as Python's repr() writes it (shortest
 * round-trip digits; positional with ".0" for whole numbers between 1e-4 and
 * 1e16, exponent form outside), as the original prints video times. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void vlm_format_pyfloat(double x, char *buf, size_t n) {
    if (!isfinite(x)) { snprintf(buf, n, isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf")); return; }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    const char *e = strchr(buf, 'e');
    if (e) {
        /* Python keeps the exponent form only below 1e-4 or from 1e16 on (1e-05, 1e+16, as C);
         * in between it writes the same digits positionally: 10.0, 100.0, 0.001 */
        const double ax = fabs(x);
        if (ax < 1e-4 || ax >= 1e16) return;
        int prec = 0, ex = atoi(e + 1);
        for (const char *c = buf; c < e; c++) prec += *c >= '0' && *c <= '9';
        int dec = prec - 1 - ex;
        snprintf(buf, n, "%.*f", dec > 0 ? dec : 0, x);
    }
    if (!strchr(buf, '.')) strncat(buf, ".0", n - strlen(buf) - 1);
}

