/* cli.h - subcommands of the videollm program. Each returns the process exit
 * status (0 ok, 1 failure, 2 usage error) and prints its own errors. */
#ifndef VLM_CLI_H
#define VLM_CLI_H
#include "videollm.h"

int cmd_tokenize(int argc, char **argv);        /* tools/cmd_tokenize.c */
int cmd_bench_tokenizer(int argc, char **argv); /* tools/cmd_tokenize.c */
int cmd_template(int argc, char **argv);        /* tools/cmd_template.c */
int cmd_labels(int argc, char **argv);          /* tools/cmd_template.c */
int cmd_frames(int argc, char **argv);          /* tools/cmd_video.c */
int cmd_stream(int argc, char **argv);          /* tools/cmd_stream.c */
int cmd_convert(int argc, char **argv);         /* tools/cmd_convert.c */
int cmd_bench_ops(int argc, char **argv);        /* tools/cmd_bench_ops.c */
int cmd_train(int, char **);                    /* tools/cmd_train.c */
int cmd_eval(int argc, char **argv);            /* tools/cmd_eval.c */
int cmd_init(int argc, char **argv);            /* tools/cmd_init.c */
int cmd_score(int argc, char **argv);           /* tools/cmd_score.c */
int cmd_tokenizer_train(int argc, char **argv); /* tools/cmd_tokenizer_train.c */
int cmd_synth(int, char **);                    /* tools/cmd_synth.c */
int cmd_encode(int, char **);                   /* tools/cmd_encode.c */
int cmd_prepare(int, char **);                  /* tools/cmd_prepare.c */
int cmd_calibrate(int, char **);                /* tools/cmd_calibrate.c */
int cmd_hidden(int, char **);                   /* tools/cmd_hidden.c */
/* The embedded default model: $VLM_MODEL if set, else models/default/videollm-demo.gguf
 * beside the program's folder (build/../models/...). */
const char *cli_default_model(void);
/* Parse an integer in [1, max] given to option opt of `videollm cmd`. Returns 1
 * on success; otherwise prints why and returns 0. */
int cli_parse_count(const char *cmd, const char *opt, const char *s, long max, long *out);
/* The same for an integer in [min, max]. */
int cli_parse_range(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
/* The same for a real number in [min, max] (NaN and trailing characters refused). */
int cli_parse_real(const char *cmd, const char *opt, const char *s, double min, double max, double *out);
/* Parse "WxH" (each side 1..16384). Returns 1 on success. */
int cli_parse_size(const char *s, int *w, int *h);

/* Read a whole file, or stdin when path is NULL or "-". Prints the error. */
char *cli_read_input(const char *path, size_t *len);
#endif
